/* JSON Web Signatures in compact form (JWTs): decoding, verification under an algorithm the
 * caller pins, and minting. The only module that includes libjwt. Pure CPU work.
 *
 * libjwt signs, and verifies HS* (comparing in constant time). RS* signatures are verified by
 * crypto_rsa_verify() instead: libjwt 1.10 takes the key as a PEM on every call, and OpenSSL 3
 * spends about 0.6 ms decoding one, a cost any sender could make the ingress pay per request
 * and per key; crypto keeps the decoded key. */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "xalloc.h"

#define JWS_TOKEN_MAX 16384 /* longer tokens are refused before any decoding */

/* Split "<header>.<payload>.<signature>" and decode the first two parts into JSON objects (new
 * references). -EBADMSG when token is longer than JWS_TOKEN_MAX, is not three parts, or a part
 * is not base64url of a JSON object (duplicate members are refused). Nothing is verified. */
_warn_unused_result_ int jws_decode(const char *token, json_t **ret_header, json_t **ret_payload);

/* Verify the signature of token, whose header was decoded by jws_decode(), under alg ("HS256"
 * ... "RS512"), which the header must name: the token never chooses. key is the shared
 * secret's bytes (HS*) or a "BEGIN PUBLIC KEY" PEM (RS*). Returns 0 when it holds; -EACCES
 * with *ret_reason set to the static "alg_not_allowed" (the header names another algorithm,
 * "none" included) or "bad_signature"; -EINVAL for an algorithm it does not know or a key
 * that is empty or too long (an RS* key that is not an RSA public key is a bad signature). */
_warn_unused_result_ int jws_verify(const char *token, const json_t *header, const char *alg,
                                    const void *key, size_t key_len, const char **ret_reason);

/* A token with the header {"alg":alg,"typ":"JWT"} and the members of claims (an object),
 * signed under key: the shared secret's bytes (HS*) or an RSA private key PEM (RS*). *ret is a
 * new string. -EINVAL when alg, key or claims are unusable, -ENOMEM. */
_warn_unused_result_ int jws_mint(const char *alg, const void *key, size_t key_len,
                                  const json_t *claims, char **ret);
