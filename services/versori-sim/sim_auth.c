/* Credential checks: API keys and signing-key JWTs. */
#include "sim_auth.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "signing_key.h"
#include "sim_call.h"
#include "sim_store.h"

/* The credential after "<scheme> " when the header uses that scheme (case-insensitive). */
static const char *scheme_value(const char *header, const char *scheme)
{
	size_t n = strlen(scheme);

	if (strncasecmp(header, scheme, n) != 0 || header[n] != ' ')
		return NULL;
	header += n;
	while (*header == ' ')
		header++;
	return header;
}

/* Accept the organisation; -EACCES after a 401 when there is none. */
static int auth_done(struct sim_call *c, const char *org_id, const char *what)
{
	json_t *org = sim_store_org(c->store, org_id);

	if (!org) {
		sim_call_fail(c, 401, NULL, "%s", what);
		return -EACCES;
	}
	c->org = org;
	c->org_id = json_string_value(json_object_get(org, "id"));
	return 0;
}

/* A signing-key JWT: find the key through iss, then verify signature, exp and nbf. */
static int auth_jwt(struct sim_call *c, const char *token)
{
	struct signing_key_claims claims = {0};
	const char *key_id, *org_id = NULL, *reason = NULL;
	const json_t *key;
	int r;

	if (signing_key_peek(token, &claims) < 0) {
		sim_call_fail(c, 401, NULL, "malformed JWT");
		return -EACCES;
	}
	key_id = claims.iss ? signing_key_issuer_key_id(claims.iss) : NULL;
	key = key_id ? sim_store_signing_key(c->store, key_id, &org_id) : NULL;
	signing_key_claims_fini(&claims);
	if (!key) {
		sim_call_fail(c, 401, NULL, "JWT issuer names no known signing key");
		return -EACCES;
	}
	r = signing_key_verify(token, json_string_value(json_object_get(key, "publicKey")),
	                       c->now_ms / 1000, SIM_AUTH_LEEWAY_S, &claims, &reason);
	signing_key_claims_fini(&claims);
	if (r < 0) {
		sim_call_fail(c, 401, NULL, "JWT rejected: %s",
		              reason ? reason : (r == -EBADMSG ? "malformed" : "unusable key"));
		return -EACCES;
	}
	return auth_done(c, org_id, "JWT rejected");
}

/* Authenticate the request. */
int sim_auth_check_or_respond(struct sim_call *c)
{
	const char *h = http_req_header(c->req, "Authorization");
	const char *v;

	if (!h) {
		sim_call_fail(c, 401, NULL, "missing Authorization header");
		return -EACCES;
	}
	if ((v = scheme_value(h, "Bearer")))
		return auth_done(c, sim_store_api_key_org(c->store, v), "invalid API key");
	if ((v = scheme_value(h, "JWT")))
		return auth_jwt(c, v);
	sim_call_fail(c, 401, NULL, "unsupported Authorization scheme (use Bearer or JWT)");
	return -EACCES;
}
