/* Versori API responses turned into one outcome each: success with the decoded body, or an
 * error with status, the API's Error object, request id, a retry class and Retry-After.
 * Used by the worker (through versori_call) and the CLI; pure apart from the clock passed in. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "xalloc.h"

struct http_client_response;

#define VERSORI_RETRY_AFTER_MAX_S 86400 /* larger Retry-After values are capped to one day */

enum versori_outcome_class {
	VERSORI_OUTCOME_SUCCESS,
	VERSORI_OUTCOME_RETRYABLE, /* connection errors, timeouts, 408, 425, 429, 5xx */
	VERSORI_OUTCOME_PERMANENT, /* other 4xx, undecodable 2xx, garbled or oversized replies */
	_VERSORI_OUTCOME_CLASS_MAX,
};

/* Everything here is owned by the outcome; release with versori_outcome_fini(). */
struct versori_outcome {
	int result; /* 0, or -EAGAIN (retryable), -ENOENT (404), -EEXIST (409), -EACCES (401/403),
	             * -EINVAL (other 4xx), -EPROTO (undecodable 2xx, garbled or unexpected reply)
	             */
	enum versori_outcome_class class;
	long status;         /* HTTP status; 0 after a transport error */
	int transport_error; /* the http_client's negative errno, 0 when a response arrived */
	json_t *body;        /* success: the decoded body (any JSON value); NULL for 204/empty */
	char *error_code;    /* the API's Error object, when the body carried one */
	char *error_message;
	json_t *error_fields; /* the "fields" array as sent, or NULL */
	char *error_details;
	char *request_id;      /* X-Request-Id, X-Versori-Request-Id or Request-Id, first found */
	int64_t retry_after_s; /* -1 when absent or unparsable */
	double total_ms;
};

const char *versori_outcome_class_to_string(enum versori_outcome_class c);
/* Classify one response at time now_s (for a Retry-After date). Always fills *ret (zeroed
 * first) and returns ret->result, so callers may `return versori_outcome_classify(...)`. */
_warn_unused_result_ int versori_outcome_classify(const struct http_client_response *resp,
                                                  int64_t now_s, struct versori_outcome *ret);
/* Release the outcome's owned parts; safe on a zeroed or finished outcome. */
void versori_outcome_fini(struct versori_outcome *o);
/* Parse a Retry-After value (RFC 9110 §10.2.3): delta-seconds, or an HTTP-date in IMF-fixdate,
 * obsolete RFC 850 or asctime format, into seconds from now_s. Dates in the past give 0, values
 * beyond VERSORI_RETRY_AFTER_MAX_S are capped; -EINVAL for anything else. */
_warn_unused_result_ int versori_retry_after_parse(const char *value, int64_t now_s,
                                                   int64_t *ret_s);
