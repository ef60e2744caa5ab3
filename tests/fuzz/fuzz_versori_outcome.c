/* Fuzz Versori response classification and Retry-After parsing on arbitrary replies. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http_client.h"
#include "versori_outcome.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: two status bytes, a Retry-After value, a newline, a request id, a newline, a body. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = NULL;
	char *retry_after, *request_id, *body, *nl;
	struct http_header headers[2];
	struct http_client_response resp = {.error_text = ""};
	struct versori_outcome o;
	int64_t secs;

	if (size < 2)
		return 0;
	resp.status = 100 + (long)((data[0] << 8 | data[1]) % 500);
	text = xstrndup((const char *)data + 2, size - 2);
	retry_after = text;
	nl = strchr(retry_after, '\n');
	request_id = nl ? (*nl = '\0', nl + 1) : retry_after + strlen(retry_after);
	nl = strchr(request_id, '\n');
	body = nl ? (*nl = '\0', nl + 1) : request_id + strlen(request_id);
	headers[0] = (struct http_header){"Retry-After", retry_after};
	headers[1] = (struct http_header){"X-Request-Id", request_id};
	resp.headers = headers;
	resp.n_headers = 2;
	resp.body = body;
	resp.body_len = strlen(body);
	(void)!versori_outcome_classify(&resp, 1744714798, &o);
	versori_outcome_fini(&o);
	(void)!versori_retry_after_parse(retry_after, (int64_t)data[0] << 24, &secs);
	return 0;
}
