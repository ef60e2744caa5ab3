/* The ingress process's state: configuration, HTTP server, group-commit writer, metrics,
 * and graceful shutdown. Created by main.c; everything runs on one libevent loop. */
#pragma once

#include <stdbool.h>

#include "xalloc.h"

struct config;
struct event_base;

struct ingress;

struct ingress *ingress_new(struct event_base *base, const struct config *config, char **ret_error);
void ingress_free(struct ingress *in);
int ingress_port(const struct ingress *in);
/* The dispatcher's endpoint as bound, or NULL when dispatch_listen is unset. */
const char *ingress_dispatch_endpoint(const struct ingress *in);
/* Stop accepting, answer what was already read, then call done (at most timeout_ms later). */
void ingress_shutdown(struct ingress *in, int timeout_ms, void (*done)(void *), void *userdata);
