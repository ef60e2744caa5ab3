/* Fuzz jwt-bearer verification. The first byte chooses: even, the rest is a token checked by
 * an HS256 and an RS256 source (each with every option set); odd, the rest is a claims text
 * that, when it is a JSON object, is minted into a token with the HS256 key first, so the
 * claim checks see what a forger could never sign. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "jwt_bearer.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HS_SECRET "YSAzMi1ieXRlIEhTMjU2IGtleSBmb3IgaG9va3J1biE="

/* A 2048-bit RSA public key; no token from the fuzzer can carry a valid signature for it. */
static const char public_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAso1wrEa1xaE/T8AuuwWp\n"
    "/Fw/lRSF0f1b4rH4UYOQfXekiseJHAg0gyVvqDL3W9N8mY8UC5ADhWezssQxERrY\n"
    "t0+gsnk7wq8CTxWCuD2kFu6nKTjDnfdX9CHncW/4bBDLmJ8j/J4Vp8z7SrpmbQXZ\n"
    "79N+I7Qs/NxH8HYwWmKph1FD81n4QXMddkTyoZI/YjNuMibrP9IF10TnXt7Nejz+\n"
    "QpfTXLUWZeq0mkzE16at8nkqRsbqgWIV79sWsttNUoe6UBF+7NhE5URaojQgAUiY\n"
    "DMxR0DwQNNDXuh5wpgrNSqmVq4ZkGOKwxkGN6DDB8ikZxYnR9djH+ZIqNKiiUhNL\n"
    "0wIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

/* A source of alg whose one key is key, requiring every claim. */
static struct source_config source(enum jwt_algorithm alg, const char *key)
{
	struct source_config s = {
	    .auth = AUTH_SCHEME_JWT_BEARER,
	    .jwt_algorithm = alg,
	    .jwt_header_prefix = (char *)"Bearer",
	    .jwt_leeway_s = 30,
	    .jwt_require_exp = true,
	    .jwt_issuer = (char *)"versori",
	    .jwt_audience = (char *)"hookrun",
	    .jwt_subject = (char *)"flows",
	    .n_secrets = 1,
	};

	s.secrets[0] = (char *)key;
	return s;
}

/* Input: a mode byte, then a token or a claims text. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct source_config hs = source(JWT_ALGORITHM_HS256, HS_SECRET);
	struct source_config rs = source(JWT_ALGORITHM_RS256, public_pem);
	const char *rest = (const char *)data + 1, *reason = NULL;
	_cleanup_free_ char *minted = NULL;

	if (size == 0)
		return 0;
	if (data[0] % 2 == 0) {
		(void)jwt_bearer_verify(&hs, rest, size - 1, 1760000000, &reason);
		(void)jwt_bearer_verify(&rs, rest, size - 1, 1760000000, &reason);
		return 0;
	}
	{
		json_auto_t *claims = json_loadb(rest, size - 1, JSON_REJECT_DUPLICATES, NULL);

		if (!json_is_object(claims))
			return 0;
		minted = jwt_bearer_mint(&hs, HS_SECRET, claims);
	}
	if (minted)
		(void)jwt_bearer_verify(&hs, minted, strlen(minted), 1760000000, &reason);
	return 0;
}
