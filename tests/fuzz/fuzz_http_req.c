/* Fuzz the query-string and Content-Type parsers of http_req. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_req.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: query string, NUL-free; also used as a Content-Type and a parameter name. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *s = xstrndup((const char *)data, size);
	struct http_req req = {.query = s};
	const char *eq = strchr(s, '=');
	_cleanup_free_ char *name = xstrndup(s, eq ? (size_t)(eq - s) : strlen(s));

	size_t len;
	char *v = http_req_query_param(&req, name, &len);

	/* The length covers decoded NULs; the string never runs past it. */
	if (v && strlen(v) > len)
		__builtin_trap();
	free(v);
	free(http_req_query_param(&req, "sig", &len));
	(void)http_content_type_is_json(s);
	return 0;
}
