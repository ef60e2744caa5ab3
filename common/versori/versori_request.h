/* Outbound Versori API requests as plain data: one pure _build function per API call (Platform
 * v2 and the embedded v1 activation endpoints), validated and percent-encoded, ready for
 * versori_call(). Used by the worker and the CLI; pure, never blocks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "http_req.h"
#include "xalloc.h"

#define VERSORI_V2_ROOT          "/api/v2"
#define VERSORI_EMBEDDED_V1_ROOT "/api/embedded/v1"
#define VERSORI_EXTERNAL_ID_MAX  1024

enum versori_api {
	VERSORI_API_V2,
	VERSORI_API_EMBEDDED_V1,
	_VERSORI_API_MAX,
};

/* One API call. Owned by whoever called the _build function; release with
 * versori_request_fini(). */
struct versori_request {
	enum http_method method;
	enum versori_api api;
	const char *op; /* static operation name for logs and audit: "end_user.create" */
	char *org;      /* organisation in the path (v2), NULL for embedded v1 */
	char *path;     /* from the server root, encoded: "/api/v2/o/<org>/users?search=a%20b" */
	json_t *body;   /* NULL: no body */
	char *subject;  /* end user (externalId) the call acts for, the `sub` of a minted JWT;
	                 * NULL for organisation-level calls */
};

/* A connection bound into an activation: an existing connection for a template. Borrowed. */
struct versori_connection_binding {
	const char *template_id;   /* ULID: v2 connectionTemplateId, embedded templateId */
	const char *connection_id; /* ULID: v2 existingConnectionId, embedded connectionId */
	/* v2 only: a ConnectionCreate object ({name, credentials, baseUrl?}) created with the
	 * activation (a dynamic connection of the end user); connection_id is then ignored. */
	const json_t *connection;
};

/* Tri-state filter of ListEndUsers' `activated` query parameter. */
enum versori_activated_filter {
	VERSORI_ACTIVATED_ANY, /* parameter absent */
	VERSORI_ACTIVATED_TRUE,
	VERSORI_ACTIVATED_FALSE,
	_VERSORI_ACTIVATED_MAX,
};

const char *versori_api_to_string(enum versori_api a);
/* Whether s is a ULID: 26 Crockford base32 characters (either case), first one 0-7. */
bool versori_ulid_is_valid(const char *s);
/* s with every byte outside RFC 3986 "unreserved" percent-encoded (new string). */
char *versori_percent_encode(const char *s);
/* Release what a _build function filled; safe on a zeroed or already finished request. */
void versori_request_fini(struct versori_request *r);

/* Every builder below fills *ret on success and returns 0, or returns -EINVAL and describes the
 * offending field in *reterr (may be NULL). JSON arguments are borrowed (the request takes its
 * own reference or copy). Paths of v2 calls start with VERSORI_V2_ROOT "/o/<org>". */

/* Platform v2, end users (§3.1). GET and DELETE address the user by externalId. */
_warn_unused_result_ int versori_request_end_user_create_build(const char *org,
                                                               const char *external_id,
                                                               const char *display_name,
                                                               struct versori_request *ret,
                                                               struct problem *reterr);
_warn_unused_result_ int versori_request_end_user_get_build(const char *org,
                                                            const char *external_id,
                                                            struct versori_request *ret,
                                                            struct problem *reterr);
_warn_unused_result_ int versori_request_end_user_list_build(
    const char *org, const char *search, enum versori_activated_filter activated,
    const char *environment_id, struct versori_request *ret, struct problem *reterr);
_warn_unused_result_ int versori_request_end_user_delete_build(const char *org,
                                                               const char *external_id,
                                                               struct versori_request *ret,
                                                               struct problem *reterr);

/* Platform v2, activations (§3.2). user_id is the end user's externalId (or ULID). */
_warn_unused_result_ int versori_request_activation_create_build(
    const char *org, const char *user_id, const char *environment_id,
    const struct versori_connection_binding *bindings, size_t n_bindings,
    const json_t *dynamic_variables, struct versori_request *ret, struct problem *reterr);
_warn_unused_result_ int versori_request_activation_list_build(const char *org,
                                                               const char *environment_id,
                                                               struct versori_request *ret,
                                                               struct problem *reterr);
/* ListUserActivations, on the singular "/environment/" path. */
_warn_unused_result_ int versori_request_user_activation_list_build(const char *org,
                                                                    const char *environment_id,
                                                                    const char *external_id,
                                                                    struct versori_request *ret,
                                                                    struct problem *reterr);
_warn_unused_result_ int versori_request_activation_get_build(const char *org,
                                                              const char *environment_id,
                                                              const char *activation_id,
                                                              struct versori_request *ret,
                                                              struct problem *reterr);
_warn_unused_result_ int versori_request_activation_delete_build(const char *org,
                                                                 const char *environment_id,
                                                                 const char *activation_id,
                                                                 struct versori_request *ret,
                                                                 struct problem *reterr);

/* Platform v2, variables (§3.3). variables must be a non-empty object; value must not be
 * null. subject (may be NULL) is the end user owning the activation, for a minted JWT. */
_warn_unused_result_ int versori_request_dynamic_variables_patch_build(
    const char *org, const char *environment_id, const char *activation_id, const json_t *variables,
    const char *subject, struct versori_request *ret, struct problem *reterr);
_warn_unused_result_ int versori_request_dynamic_variable_put_build(
    const char *org, const char *environment_id, const char *activation_id, const char *name,
    const json_t *value, const char *subject, struct versori_request *ret, struct problem *reterr);
_warn_unused_result_ int versori_request_static_variables_patch_build(const char *org,
                                                                      const char *environment_id,
                                                                      const json_t *variables,
                                                                      struct versori_request *ret,
                                                                      struct problem *reterr);
_warn_unused_result_ int versori_request_project_variables_schema_get_build(
    const char *org, const char *project_id, struct versori_request *ret, struct problem *reterr);

/* Platform v2, projects, templates, connections, schedulers (§3.4-3.7). */
_warn_unused_result_ int versori_request_project_get_build(const char *org, const char *project_id,
                                                           struct versori_request *ret,
                                                           struct problem *reterr);
_warn_unused_result_ int versori_request_project_list_build(const char *org,
                                                            struct versori_request *ret,
                                                            struct problem *reterr);
_warn_unused_result_ int versori_request_connection_template_list_build(const char *org,
                                                                        const char *project_id,
                                                                        const char *environment_id,
                                                                        struct versori_request *ret,
                                                                        struct problem *reterr);
/* CreateConnection: with external_id a dynamic connection owned by that end user, without a
 * static one. connection is the ConnectionCreate object ({name, credentials, baseUrl?}). */
_warn_unused_result_ int
versori_request_connection_create_build(const char *org, const char *template_id,
                                        const char *external_id, const json_t *connection,
                                        struct versori_request *ret, struct problem *reterr);
_warn_unused_result_ int versori_request_scheduler_trigger_build(const char *org,
                                                                 const char *environment_id,
                                                                 const char *scheduler_id,
                                                                 struct versori_request *ret,
                                                                 struct problem *reterr);

/* Embedded v1 activations (§4). */
_warn_unused_result_ int versori_request_embedded_activation_create_build(
    const char *user_id, const char *integration_id,
    const struct versori_connection_binding *bindings, size_t n_bindings,
    const json_t *dynamic_variables, struct versori_request *ret, struct problem *reterr);
_warn_unused_result_ int versori_request_embedded_activation_get_build(const char *activation_id,
                                                                       struct versori_request *ret,
                                                                       struct problem *reterr);
_warn_unused_result_ int versori_request_embedded_activation_delete_build(
    const char *activation_id, struct versori_request *ret, struct problem *reterr);
/* GET /embed/{hub}/users/{user}/activations[?integration_id=]: the end user's activations in
 * the hub (ListEndUserActivations, one page: {totalCount, activations: [{id, hubId,
 * integration}]}); user is the external id. integration_id may be NULL (all). */
_warn_unused_result_ int versori_request_embedded_user_activation_list_build(
    const char *hub_id, const char *user_id, const char *integration_id,
    struct versori_request *ret, struct problem *reterr);
/* PUT /activations/{id}/variables with {"dynamicVariables": variables} (replaces the map). */
_warn_unused_result_ int versori_request_embedded_activation_variables_put_build(
    const char *activation_id, const json_t *variables, struct versori_request *ret,
    struct problem *reterr);
