/* Request dispatch for the ingress: /hooks/{source}, /healthz, /readyz, /metrics, and the
 * JSON error answers. Runs on the event loop; never blocks (webhooks finish after commit). */
#pragma once

#include "http_req.h"

struct http_exchange;
struct ingress_deps;

/* The http_glue handler; userdata is a struct ingress_deps. */
void routes_handle(struct http_exchange *ex, const struct http_req *req, void *userdata);
/* Answer with {"error":{"code":...,"message":...}}; adds Retry-After on 503 and Allow on 405. */
void routes_respond_error(struct http_exchange *ex, struct ingress_deps *deps, const char *route,
                          int status, const char *code, const char *message);
