/* Fuzz JWT decoding: peek at any token, and verify it against a fixed public key. */
#include <stddef.h>
#include <stdint.h>

#include "signing_key.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

/* Input: a token. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *token = xstrndup((const char *)data, size);
	struct signing_key_claims c = {};
	const char *reason = NULL;

	if (signing_key_peek(token, &c) >= 0) {
		(void)signing_key_issuer_key_id(c.iss);
		signing_key_claims_fini(&c);
	}
	if (signing_key_verify(token, public_pem, 1760000000, 60, &c, &reason) >= 0)
		signing_key_claims_fini(&c);
	return 0;
}
