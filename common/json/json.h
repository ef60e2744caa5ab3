/* JSON helpers over jansson: parsing inbound bodies with a positioned error, RFC 6901 pointers,
 * scalar-to-text for idempotency keys, and arrays written out one value at a time. Used by the
 * ingress and worker; pure, never blocks. Returned json_t references follow jansson's rules
 * (json_decref, or json_auto_t locals). */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "xalloc.h"

/* jansson 2.14 defines json_auto_t only when built with GCC/clang cleanup support. */
#ifndef json_auto_t
/* Drop a scope-owned reference. */
static inline void json_decrefp_(json_t **p)
{
	json_decref(*p);
}
#define json_auto_t json_t _cleanup_(json_decrefp_)
#endif

/* Why json_body_parse() rejected a body. struct problem only carries static strings, so the
 * positioned message lives here, in caller storage (e.g. the request context), and may be
 * borrowed as problem.message for as long as that storage lives. */
struct json_error {
	/* "malformed JSON at line L column C: <jansson text>", NUL-terminated */
	char text[JSON_ERROR_TEXT_LENGTH + 64];
};

/* Parse a request body that must be one JSON object or array (no trailing data, valid UTF-8,
 * no \u0000, duplicate keys allowed: last wins). On success *ret owns one new reference.
 * -EBADMSG fills *reterr (may be NULL); -ENOMEM when jansson runs out of memory. */
_warn_unused_result_ int json_body_parse(const void *buf, size_t len, json_t **ret,
                                         struct json_error *reterr);
/* RFC 6901: the value at pointer ("" is root, "/a~1b/0" ...), borrowed from root; NULL when
 * absent or when the pointer is malformed (no leading '/', bad ~ escape, bad array index). */
const json_t *json_pointer_get(const json_t *root, const char *pointer);
/* A new string for an idempotency key: strings as-is, integers and reals as JSON text, true or
 * false; NULL for NULL, null, objects and arrays. Free with free(). */
char *json_scalar_to_string(const json_t *v);

/* The text of a JSON array written out one value at a time (a large job's items, never a
 * tree of them all). Caller storage, zeroed to start; the text is NUL-terminated. */
struct json_array_text {
	char *text;
	size_t len, cap;
	size_t n; /* values written */
};

/* Append v (compact) to the array. */
void json_array_text_add(struct json_array_text *a, const json_t *v);
/* Append a value already written as JSON text: len bytes, one valid value (the caller's
 * word: it is copied as it is). */
void json_array_text_add_raw(struct json_array_text *a, const char *json, size_t len);
/* Close the array ("[]" when empty) and hand its text over: a new string of *ret_len bytes
 * plus a NUL; a is zeroed again. */
char *json_array_text_take(struct json_array_text *a, size_t *ret_len);
/* Free what a holds; a is zeroed again. */
void json_array_text_fini(struct json_array_text *a);

/* obj written compactly with one more member, key, whose value is the JSON text raw (raw_len
 * bytes, one valid value, copied as it is): a new string of *ret_len bytes plus a NUL. For a
 * value kept as text (records gathered one by one) that would cost many times its size as a
 * tree. */
char *json_dumps_with_raw(const json_t *obj, const char *key, const char *raw, size_t raw_len,
                          size_t *ret_len);
