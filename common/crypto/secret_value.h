/* Values kept encrypted at rest: a JSON value that must not reach a table in clear (a
 * connection's credentials, a variable marked secret) is stored as
 * {"$encrypted": "v1.KEYID.DATA"}, DATA the base64url of AES-256-GCM over the value's compact
 * JSON text (crypto_aead_seal(), associated data "hookrun secret v1"), KEYID the first 8 hex
 * digits of the key's SHA-256, so that keys can rotate: the current key seals, older ones
 * still open. The ingress seals what it stores, the worker opens what it sends. Pure CPU
 * work; never blocks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "xalloc.h"

#define SECRET_VALUE_MEMBER "$encrypted"

struct secret_keys;

/* Keys from the base64 of 32 bytes each (a line of `head -c 32 /dev/urandom | base64`):
 * keys[0] seals and opens, the others only open. -EINVAL with *ret_error naming the key's
 * place (never its value) when one is not 32 bytes of base64. */
int secret_keys_new(const char *const *keys, size_t n, struct secret_keys **ret,
                    char **ret_error) _warn_unused_result_;
void secret_keys_free(struct secret_keys *k);
/* The id of the key that seals (8 hex digits), borrowed. */
const char *secret_keys_current_id(const struct secret_keys *k);

/* A new {"$encrypted": ...} holding v; NULL when the system has no randomness. */
json_t *secret_value_seal(const struct secret_keys *k, const json_t *v);
/* Whether v is a value secret_value_seal() made (an object whose only member is
 * "$encrypted", a string). */
bool secret_value_is_sealed(const json_t *v);
/* Replace every sealed value in *root (root itself, members, elements, at any depth) with
 * the value it holds; *root may be replaced. 0 (also when there is none), -ENOKEY when one
 * names a key that k (may be NULL) does not hold, -EBADMSG when one does not open (altered,
 * malformed); *ret_error then says which (the key id, never a value). */
int secret_value_open_all(const struct secret_keys *k, json_t **root,
                          char **ret_error) _warn_unused_result_;
