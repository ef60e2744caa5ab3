/* Fuzz the whole webhook receipt pipeline: auth, content type, JSON, idempotency key. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "delivery_writer.h"
#include "http_req.h"
#include "webhook_receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: first line is the Idempotency-Key header, the rest is the body. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *secrets[] = {(char *)"s3cret"};
	struct source_config src = {
	    .name = (char *)"fuzz",
	    .auth = AUTH_SCHEME_NONE,
	    .allow_unauthenticated = true,
	    .body_limit = 1 << 20,
	    .idempotency_from = size % 2 ? IDEMPOTENCY_FROM_JSON_POINTER : IDEMPOTENCY_FROM_HEADER,
	    .idempotency_name = size % 2 ? (char *)"/event/id" : (char *)"Idempotency-Key",
	};
	const uint8_t *nl = memchr(data, '\n', size);
	size_t klen = nl ? (size_t)(nl - data) : 0;
	char key[256];
	struct http_header headers[2];
	struct http_req req = {
	    .method = HTTP_METHOD_POST, .uri = "/hooks/fuzz", .path = "/hooks/fuzz"};
	struct webhook_receipt_error e;
	struct delivery d;

	src.secrets[0] = secrets[0];
	src.n_secrets = 1;
	snprintf(key, sizeof(key), "%.*s", (int)(klen < 255 ? klen : 255), (const char *)data);
	headers[0] = (struct http_header){"Content-Type", "application/json"};
	headers[1] = (struct http_header){"Idempotency-Key", key};
	req.headers = headers;
	req.n_headers = 2;
	req.body = nl ? nl + 1 : data;
	req.body_len = nl ? size - klen - 1 : size;
	if (webhook_receipt_prepare(&src, &req, 1700000000000000LL,
	                            "0190b5c8-0000-7000-8000-000000000000", &d, &e) == 0)
		delivery_fini(&d);
	return 0;
}
