/* The event loop every hookrun process runs on. */
#include "loop.h"

#include <signal.h>
#include <stddef.h>

#include <event2/event.h>

/* Whether sig was ignored when the process started (see loop.h). */
bool loop_signal_inherited_ignore(int sig)
{
	struct sigaction sa;

	return sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
}

/* A new event loop with epoll changes applied once per iteration. */
struct event_base *loop_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (!cfg)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}
