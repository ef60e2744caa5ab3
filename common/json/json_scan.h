/* Tree-free JSON for the ingress hot path: check that a body is one RFC 8259 object or array,
 * and read the scalar at an RFC 6901 pointer, without building a document (no jansson).
 * Used by the ingress per request; pure, never blocks, allocates only the returned key. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "json.h"
#include "xalloc.h"

/* Deepest nesting accepted, counted as jansson does: the top-level value is level 1 and every
 * value inside n containers is level n + 1, scalars included. */
#define JSON_SCAN_MAX_DEPTH 2048

/* The numbers PostgreSQL's numeric type (and so jsonb) can hold; see json_scan_check(). */
#define JSON_SCAN_NUMBER_MAX_WEIGHT   131071     /* decimal exponent of the leading digit */
#define JSON_SCAN_NUMBER_MAX_SCALE    16383      /* digits after the decimal point */
#define JSON_SCAN_NUMBER_MAX_EXPONENT 1073741822 /* INT_MAX / 2 - 1 */

/* 0 when buf is exactly one JSON object or array (RFC 8259; whitespace around it allowed):
 * valid UTF-8 everywhere (no overlongs, no surrogates, nothing above U+10FFFF), \u escapes of
 * four hex digits with surrogates correctly paired and never \u0000, no BOM, comments, NaN,
 * leading zeros or trailing commas, nesting at most JSON_SCAN_MAX_DEPTH. Numbers are checked for
 * syntax and never converted; unlike jansson, any size PostgreSQL's jsonb can hold is accepted
 * (so a stored body always reads as jsonb): at most JSON_SCAN_NUMBER_MAX_SCALE digits after the
 * decimal point once the exponent is applied (trailing zeros count), the most significant digit
 * at most 10^JSON_SCAN_NUMBER_MAX_WEIGHT, an exponent of at most JSON_SCAN_NUMBER_MAX_EXPONENT
 * in size (PostgreSQL 15's numeric limits).
 * -EBADMSG fills reterr (may be NULL) with "malformed JSON at line L column C: <reason>", the
 * column counting characters from 1. buf may be NULL when len is 0. */
_warn_unused_result_ int json_scan_check(const void *buf, size_t len, struct json_error *reterr);

/* The scalar at an RFC 6901 pointer in a body that json_scan_check() accepts, as a new string
 * in *ret (free with free()): strings unescaped to UTF-8, numbers exactly as written in the
 * body ("1.50" stays "1.50"), "true" or "false". *ret = NULL (return 0) for null, objects,
 * arrays, absent members, indexes out of range and malformed pointers (the rules of
 * json_pointer_get(): leading '/', ~0 and ~1 escapes, array indexes without leading zeros).
 * When an object repeats a key, the last occurrence wins, as in jansson. Returns -EBADMSG
 * (*ret untouched) if buf is not such a body after all, -ENOMEM if allocation fails. */
_warn_unused_result_ int json_scan_pointer(const void *buf, size_t len, const char *pointer,
                                           char **ret);

/* One member of an object (key: unescaped, NUL-terminated, borrowed for the call) or element of
 * an array (key NULL): its value's bytes, [value, value + value_len), as written in the body. */
typedef int (*json_scan_each_fn)(void *userdata, const char *key, const void *value,
                                 size_t value_len);
/* Call fn for each member (or element) of the object (or array) that a body json_scan_check()
 * accepts is, in order, without building a document: the way to read a large array one
 * element at a time. Stops at fn's first negative return and returns it; -EBADMSG if buf is
 * not such a body after all, -ENOMEM. */
_warn_unused_result_ int json_scan_each(const void *buf, size_t len, json_scan_each_fn fn,
                                        void *userdata);

/* The elements of the array that a body json_scan_check() accepts is, one per call, for a
 * reader that stops between elements (json_scan_each() reads them all in one call): *pos is 0
 * before the first call and is kept between calls. 1 with the next element's bytes in
 * [*ret_value, *ret_value + *ret_len), as written in the body; 0 after the last; -EBADMSG if
 * buf is not such an array after all. */
_warn_unused_result_ int json_scan_array_next(const void *buf, size_t len, size_t *pos,
                                              const void **ret_value, size_t *ret_len);

/* Whether len bytes at buf are valid UTF-8 by the rules json_scan_check() applies (NUL bytes
 * are valid UTF-8 here; JSON text refuses them by other rules). */
bool json_scan_utf8_valid(const void *buf, size_t len);
