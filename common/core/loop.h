/* The event loop every hookrun process runs on: one libevent base per process, configured the
 * same way for all of them (the ingress, versori-sim, and the worker, which serves no HTTP).
 * Created once in main(); never blocks by itself. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

struct event_base;

/* A new event loop: epoll changes are collected and applied once per loop iteration
 * (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST), which halves the epoll_ctl calls a request/response
 * exchange costs. Safe because no descriptor on a hookrun loop is dup()ed while it is watched.
 * NULL on failure; the caller frees it with event_base_free(). */
struct event_base *loop_new(void);
/* Whether sig was ignored when the process started. A shell starts background jobs with
 * SIGINT ignored so that Ctrl-C reaches only the script, which then stops them in its own way
 * (deploy/dev/up sends one SIGTERM); a handler of ours would turn that SIGTERM into a second
 * signal and skip the drain. Services install no SIGINT handler then. */
bool loop_signal_inherited_ignore(int sig);
/* The monotonic clock in milliseconds: what every timer and deadline on a loop is measured
 * with. */
uint64_t loop_now_ms(void);
/* ms milliseconds as the timeval libevent's timers take. */
struct timeval loop_tv(uint64_t ms);
