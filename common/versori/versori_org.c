/* One configured organisation as a Versori client (versori_org.h). */
#include "versori_org.h"

#include <errno.h>
#include <string.h>

#include "config.h"
#include "versori_auth.h"
#include "xalloc.h"

int versori_org_auth_new(const struct versori_org_config *v, struct versori_auth **ret)
{
	if (v->api_key)
		return versori_auth_new_api_key(v->api_key, ret);
	if (v->jwt)
		return versori_auth_new_static_jwt(v->jwt, ret);
	if (!v->signing_key)
		return -ENOKEY;
	return versori_auth_new_signing_key(
	    &(struct versori_auth_signing_key_options){
	        .key_id = v->signing_key_id,
	        .private_pem = v->signing_key,
	        .private_pem_len = strlen(v->signing_key),
	        .subject_mode = VERSORI_AUTH_SUBJECT_PER_END_USER,
	        .subject = v->jwt_subject,
	    },
	    ret);
}

struct versori_client *versori_org_client_new(const struct versori_org_config *v,
                                              struct http_client *http, struct versori_auth *auth,
                                              long timeout_ms, versori_attempt_fn on_attempt)
{
	return versori_client_new(http, &(struct versori_client_options){
	                                    .base_url = v->base_url,
	                                    .organisation_id = v->organisation_id,
	                                    .auth = auth,
	                                    .timeout_ms = timeout_ms,
	                                    .on_attempt = on_attempt,
	                                });
}

char *versori_org_auth_error(const struct versori_org_config *v, int r)
{
	if (r == -ENOKEY)
		return xasprintf("[versori.%s]: no credential: set api_key, jwt or signing_key",
		                 v->name);
	return xasprintf("[versori.%s]: the credential is not usable", v->name);
}
