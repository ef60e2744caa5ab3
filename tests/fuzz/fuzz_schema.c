/* Fuzz the JSON-Schema subset: compile any document (regular expressions included), then
 * validate instances against it, in full and as a partial update, and look up its members. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: a schema document, a newline, an instance document. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t slen = nl ? (size_t)(nl - data) : size;
	json_t *doc = json_loadb((const char *)data, slen, JSON_DECODE_ANY, NULL);
	json_t *inst =
	    nl ? json_loadb((const char *)nl + 1, size - slen - 1, JSON_DECODE_ANY, NULL) : NULL;
	struct schema *s = NULL;
	struct schema_error e;

	if (doc && schema_compile(doc, &s, &e) == 0) {
		const char *key;
		json_t *v;

		(void)!schema_validate(s, doc, &e);
		if (inst) {
			(void)!schema_validate(s, inst, &e);
			(void)!schema_validate_partial(s, inst, &e);
		}
		json_object_foreach (inst, key, v)
			(void)schema_names_property(s, key);
		schema_free(s);
	}
	json_decref(doc);
	json_decref(inst);
	return 0;
}
