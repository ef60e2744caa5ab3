/* Routing of an accepted delivery: what job, if any, its source's route asks for, decided
 * from the source's configuration and the body's fields (RFC 6901 pointers). The result is
 * stored with the delivery (hookrun.deliveries.route) and PostgreSQL creates the job from it
 * in the same commit (migration 0006). Pure: no I/O. Used by the ingress. */
#pragma once

#include <stddef.h>

#include "source.h"

struct job_secrets;

/* The route of one delivery as JSON text, a new string:
 *   {"kind": "activation.provision", "organisation": "...", "parameters": {...},
 *    "item": {"externalId": "...", "displayName": "...", "variables": {...}}}
 * or, when the body does not give what the route needs (a missing or malformed field, a
 * by-field value with no route), {"error": "<why, naming the field>"}: the delivery is still
 * stored and answered, and the reason recorded instead of a job. NULL for route = store. */
char *delivery_route_build(const struct source_config *src, const void *body, size_t len);
/* Seal the secret values of a route built above (*route is replaced; NULL and an error route
 * are left as they are): the credentials of the connections its parameters create and the
 * variables s calls secret (job_secrets). A route holding such a value with no key to seal it
 * becomes an error route naming the field: the delivery is stored, no job is made, and a
 * replay once a key is configured routes it. */
void delivery_route_seal(char **route, const struct job_secrets *s);
/* A routed delivery's body as it is to be stored: the secret variables (s) at the source's
 * variables pointer sealed (or, with no key in s, withheld as {"$withheld": ...}), so that
 * neither the body nor its replays hold them in clear; the rest of the body as it came, the
 * text compact. 1 with *ret_body a new string of *ret_len bytes; 0 when nothing is secret (or
 * the body is not JSON): store it as it came; -EIO / -ENOMEM. */
int delivery_route_seal_body(const struct source_config *src, const void *body, size_t len,
                             const struct job_secrets *s, char **ret_body, size_t *ret_len);
