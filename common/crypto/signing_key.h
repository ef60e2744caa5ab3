/* Versori signing-key JWTs (RS256): minting for the API client, verifying for versori-sim.
 * The only module that includes libjwt. Pure apart from the clock passed in; never blocks. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "xalloc.h"

#define SIGNING_KEY_ISSUER_PREFIX "https://versori.com/sk/"

/* Claims of a Versori signing-key JWT. Strings are borrowed on input (mint) and owned by the
 * struct on output (verify, freed by signing_key_claims_fini()). 0 means "absent" for the
 * time fields. */
struct signing_key_claims {
	char *iss; /* "https://versori.com/sk/<keyId>" */
	char *sub; /* the end user's externalId, or a configured subject */
	int64_t iat;
	int64_t exp;
	int64_t nbf;
};

/* A private key loaded once (PKCS#8 "BEGIN PRIVATE KEY" or PKCS#1 "BEGIN RSA PRIVATE KEY"). */
struct signing_key;

/* Parse an RSA private key PEM; -EINVAL when it is not one (2048 bits or more), or when it is
 * encrypted (OpenSSL would prompt on the terminal for a passphrase). The PEM is copied and
 * wiped again by signing_key_free(). */
_warn_unused_result_ int signing_key_new(const char *pem, size_t len, struct signing_key **ret);
void signing_key_free(struct signing_key *k);
/* Mint "<header>.<payload>.<sig>" with header {"alg":"RS256","typ":"JWT"} and the non-zero
 * claims of c; *ret is a new string. */
_warn_unused_result_ int signing_key_mint(const struct signing_key *k,
                                          const struct signing_key_claims *c, char **ret);
/* The issuer claim for a key id: "https://versori.com/sk/<key_id>" (new string). */
char *signing_key_issuer(const char *key_id);
/* The key id inside an issuer claim (borrowed from iss), or NULL when iss lacks the prefix. */
const char *signing_key_issuer_key_id(const char *iss);

/* Read the claims of a token without checking its signature (to find iss, hence the key);
 * -EBADMSG when it is not a JWT. Free with signing_key_claims_fini(). */
_warn_unused_result_ int signing_key_peek(const char *token, struct signing_key_claims *ret);
/* Verify an RS256 token against a public key PEM ("BEGIN PUBLIC KEY"), then exp and nbf when
 * present (with leeway_s seconds of clock skew) against now_s. -EBADMSG: not a JWT;
 * -EACCES: anything else wrong, with *ret_reason (may be NULL) one of the static strings
 * "bad_signature", "alg_not_rs256" (none and HS* are refused), "expired", "not_yet_valid";
 * -EINVAL: public_pem is not a plain "BEGIN PUBLIC KEY" PEM. A time claim that is present but
 * not a positive integer, or iss/sub that are not strings, make the token -EBADMSG.
 * On success *ret holds the claims. */
_warn_unused_result_ int signing_key_verify(const char *token, const char *public_pem,
                                            int64_t now_s, int64_t leeway_s,
                                            struct signing_key_claims *ret,
                                            const char **ret_reason);
void signing_key_claims_fini(struct signing_key_claims *c);
