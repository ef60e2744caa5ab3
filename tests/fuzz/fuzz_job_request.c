/* Fuzz the jobs API's request readers (job_request): a submission's headers and body, a
 * list's query, a replay's query. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_req.h"
#include "job_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: the Idempotency-Key, a newline, the query string, a newline, then the body. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl1 = memchr(data, '\n', size);
	const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - data)) : NULL;
	char key[256], query[1024];
	struct http_header headers[2] = {{"Content-Type", "application/json"},
	                                 {"Idempotency-Key", key}};
	struct http_req req = {.method = HTTP_METHOD_POST,
	                       .uri = "/v1/jobs",
	                       .path = "/v1/jobs",
	                       .path_len = 8,
	                       .headers = headers,
	                       .n_headers = 2,
	                       .query = query};
	struct job_request r = {0};

	if (!nl1 || !nl2)
		return 0;
	snprintf(key, sizeof(key), "%.*s", (int)(nl1 - data < 255 ? nl1 - data : 255),
	         (const char *)data);
	snprintf(query, sizeof(query), "%.*s", (int)(nl2 - nl1 - 1 < 1023 ? nl2 - nl1 - 1 : 1023),
	         (const char *)nl1 + 1);
	req.body = nl2 + 1;
	req.body_len = size - (size_t)(nl2 + 1 - data);
	job_request_submission(&r, &req, 1 << 20);
	job_request_fini(&r);
	job_request_list(&r, &req, size % 2);
	job_request_fini(&r);
	job_request_replay(&r, &req);
	job_request_fini(&r);
	return 0;
}
