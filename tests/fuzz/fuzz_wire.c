/* Fuzz the dispatcher <-> worker codec: any frame either fails to decode or decodes to a
 * message whose encoding is exactly the frame (one encoding per message). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char buf[WIRE_MSG_MAX];
	struct wire_msg m;
	int r = wire_decode(data, size, &m);
	size_t n;

	if (r == -EPROTONOSUPPORT || r == -EBADMSG)
		return 0;
	if (r != 0)
		abort();
	n = wire_encode(&m, buf);
	if (n != size || memcmp(buf, data, size) != 0)
		abort();
	return 0;
}
