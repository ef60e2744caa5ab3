/* One configured organisation ([versori.NAME]) as a Versori client: its credential (API key,
 * static JWT or signing key) and a client over a shared http_client. Used by the worker (items)
 * and the ingress (a submission's schema and environment); never blocks. */
#pragma once

#include "versori.h"

struct http_client;
struct versori_auth;
struct versori_org_config;

/* The section's credential: a signing key mints a token per end user (and for the section's
 * jwt_subject on organisation-level calls). -ENOKEY when the section has none, -EINVAL when
 * it is not usable. */
_warn_unused_result_ int versori_org_auth_new(const struct versori_org_config *v,
                                              struct versori_auth **ret);
/* A client for the section sending through http with auth (both borrowed, must outlive it);
 * NULL when the section's base_url is not usable. */
struct versori_client *versori_org_client_new(const struct versori_org_config *v,
                                              struct http_client *http, struct versori_auth *auth,
                                              long timeout_ms, versori_attempt_fn on_attempt);
/* Why versori_org_auth_new() refused the section (r its result): a new message naming the
 * section, for the log and the operator. */
char *versori_org_auth_error(const struct versori_org_config *v, int r);
