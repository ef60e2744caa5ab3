/* POST /hooks/{source}: the checks a webhook passes before it may be stored, in order
 * (405, 413, 401, 415, 400), and the delivery row it becomes. Pure: no I/O, no clock,
 * no randomness (the caller passes the time and the minted id). Used by the ingress. */
#pragma once

#include "delivery_writer.h"
#include "err.h"
#include "http_req.h"
#include "json.h"
#include "source.h"

/* Longest idempotency key accepted, in bytes. */
#define WEBHOOK_RECEIPT_KEY_MAX 512

/* Everything the checks may need to report; caller storage. */
struct webhook_receipt_error {
	struct problem problem; /* code and message for the JSON error body */
	struct json_error json; /* storage for a positioned JSON parse message */
	char message[160];      /* storage for other dynamic messages */
};

/* Check req against src and, on success, fill *d (id, received_us and body pointers are
 * set from the arguments; strings are new). Returns 0, or -EOPNOTSUPP (405), -EFBIG (413),
 * -EACCES (401), -EPROTONOSUPPORT (415), -EBADMSG (400), -EIO (500: the source cannot be
 * verified as configured) with reterr filled. */
int webhook_receipt_prepare(const struct source_config *src, const struct http_req *req,
                            long long now_us, const char *id, struct delivery *d,
                            struct webhook_receipt_error *reterr) _warn_unused_result_;
/* The request's headers as a JSON object text (valid jsonb) with every secret header left out;
 * names lower-cased, a repeated name merged into one member "v1, v2" where it first appears,
 * a value that is not UTF-8 stored as "(invalid utf-8)". New string; aborts on OOM. */
char *webhook_receipt_headers_json(const struct source_config *src, const struct http_req *req);
