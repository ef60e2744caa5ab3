/* libFuzzer target for common/crypto/secret_value.c. Input: a JSON document (as a stored
 * job's parameters or desired state). Every "$encrypted" value in it is opened with a fixed
 * key: a value that does not open is refused with a message and leaves the document as it
 * was; one that opens is replaced. Whatever is sealed under the key opens to itself. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "secret_value.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Open the document's sealed values; seal the document and open it again. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct secret_keys *keys;
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	json_t *sealed, *copy;
	_cleanup_free_ char *err = NULL;
	int r;

	if (!keys) {
		const char *k = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

		if (secret_keys_new(&k, 1, &keys, &err) < 0)
			abort();
	}
	if (!doc)
		return 0;
	copy = json_deep_copy(doc);
	r = secret_value_open_all(keys, &copy, &err);
	assert(r == 0 || r == -EBADMSG || r == -ENOKEY);
	assert(r == 0 || (err && *err));
	json_decref(copy);
	sealed = secret_value_seal(keys, doc);
	if (sealed) {
		free(err);
		err = NULL;
		assert(secret_value_is_sealed(sealed));
		assert(secret_value_open_all(keys, &sealed, &err) == 0);
		assert(json_equal(sealed, doc));
		json_decref(sealed);
	}
	json_decref(doc);
	return 0;
}
