/* The one mapping from negative errno codes to HTTP statuses and retry decisions,
 * and the validation-problem carrier. Pure; used by every process. */
#pragma once

#include <stdbool.h>

/* A validation problem reported to the caller: which field, and a static reason. */
struct problem {
	const char *code;    /* machine-readable, static: "bad_signature" */
	const char *field;   /* optional, static or owned by the caller's request */
	const char *message; /* human-readable, static */
};

int err_to_http_status(int r);
bool err_is_retryable(int r);
const char *err_http_reason(int status);
