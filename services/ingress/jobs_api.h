/* The jobs API of the ingress: POST /v1/jobs (submit a job with its items) and
 * GET /v1/jobs/{id} (a job's state, counts, rate and ETA), for bearer tokens made by
 * `hookrun tokens create` (hookrun.use_token) and scoped to their organisations: a job of
 * another organisation is "not found". Its statements go through one connection of its own
 * (db_queue). Runs on the ingress's event loop; never blocks. */
#pragma once

#include <stdbool.h>

#include "http_req.h"

struct config;
struct audit_log;
struct dispatch;
struct event_base;
struct http_exchange;
struct jobs_api;
struct metrics;

/* A jobs API for configuration c (its organisations, limits and database), counting in m,
 * tallying token uses in audit and waking dispatch (may be NULL) when it commits a job;
 * connects in the background. */
struct jobs_api *jobs_api_new(struct event_base *base, const struct config *c, struct metrics *m,
                              struct audit_log *audit, struct dispatch *dispatch);
/* Free it; requests still waiting for the database are answered 503 first. NULL is ignored. */
void jobs_api_free(struct jobs_api *a);
/* Whether the API's database connection is up (a submission would be stored, not answered
 * 503): part of the ingress's /readyz. */
bool jobs_api_ready(const struct jobs_api *a);
/* Whether path is the API's (starts with "/v1/" or is "/v1"). */
bool jobs_api_owns(const char *path);
/* Answer one request for the API's paths, now or after its statements; draining: the ingress
 * is shutting down (503). */
void jobs_api_handle(struct jobs_api *a, struct http_exchange *ex, const struct http_req *req,
                     bool draining);
