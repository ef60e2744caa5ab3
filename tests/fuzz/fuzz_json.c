/* libFuzzer target for common/json/json.c. Input: an RFC 6901 pointer on the first line, then the
 * request body; without a newline the whole input is the body and the pointer is "".
 * (A pointer must start with '/', a body with '[' or '{', so they cannot share one line.) */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse the body, resolve the pointer in it and render what it finds as a key. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t plen = nl ? (size_t)(nl - data) : 0;
	const uint8_t *body = nl ? nl + 1 : data;
	_cleanup_free_ char *pointer = xstrndup((const char *)data, plen);
	json_auto_t *root = NULL;
	struct json_error e;
	int r;

	r = json_body_parse(body, size - (size_t)(body - data), &root, &e);
	if (r < 0) {
		assert(r == -EBADMSG || r == -ENOMEM);
		assert(r == -ENOMEM || memchr(e.text, '\0', sizeof(e.text)));
		assert(!root);
		return 0;
	}
	assert(json_is_object(root) || json_is_array(root));
	assert(json_pointer_get(root, "") == root);

	const json_t *v = json_pointer_get(root, pointer);
	_cleanup_free_ char *key = json_scalar_to_string(v);

	assert(!key || (v && !json_is_object(v) && !json_is_array(v) && !json_is_null(v)));
	return 0;
}
