/* hookrun-worker: runs job items against the Versori API for the dispatchers it serves.
 * Wiring only. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "db.h"
#include "hookrun_build.h"
#include "log.h"
#include "loop.h"
#include "service.h"
#include "worker.h"

extern char **environ;

struct main_state {
	struct event_base *base;
	struct worker *worker;
};

/* Drained after SIGTERM: leave the loop. */
static void main_on_drained(void *arg)
{
	struct main_state *st = arg;

	event_base_loopbreak(st->base);
}

/* SIGTERM/SIGINT drain; a second one exits at once. */
static void main_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *st = arg;
	static int count;

	log_event(LOG_LEVEL_INFO, "worker.signal", "signal=%s", strsignal((int)sig));
	if (count++ > 0)
		event_base_loopbreak(st->base);
	else
		worker_shutdown(st->worker, main_on_drained, st);
}

/* Load the configuration; prints the problem and returns NULL on failure. */
static struct config *main_config(const char *path)
{
	struct config *c = service_config_load("hookrun-worker", path, environ);

	if (!c)
		return NULL;
	if (!c->db_url || !*c->db_url || !c->dispatchers || !*c->dispatchers) {
		fprintf(stderr,
		        "hookrun-worker: db_url and dispatchers are required (HOOKRUN_DB_URL, "
		        "HOOKRUN_DISPATCHERS or the [hookrun] section)\n");
		config_free(c);
		return NULL;
	}
	return c;
}

/* Run the loop until a signal drains it. */
static int main_run(const struct config *c)
{
	struct main_state st = {0};
	_cleanup_free_ char *err = NULL;
	struct event *sigterm, *sigint;

	signal(SIGPIPE, SIG_IGN);
	st.base = loop_new();
	if (!st.base)
		return EXIT_FAILURE;
	st.worker = worker_new(st.base, c, &err);
	if (!st.worker) {
		log_event(LOG_LEVEL_ERROR, "worker.start_failed", "detail=%s", err);
		event_base_free(st.base);
		return EXIT_FAILURE;
	}
	sigterm = evsignal_new(st.base, SIGTERM, main_on_signal, &st);
	sigint = loop_signal_inherited_ignore(SIGINT)
	             ? NULL
	             : evsignal_new(st.base, SIGINT, main_on_signal, &st);
	event_add(sigterm, NULL);
	if (sigint)
		event_add(sigint, NULL);
	log_event(LOG_LEVEL_INFO, "worker.listening",
	          "addr=%s port=%d name=%s slots=%d dispatchers=%s organisations=%zu version=%s",
	          c->worker_listen_addr, worker_port(st.worker), worker_name(st.worker),
	          c->worker_slots, c->dispatchers, c->n_versori, HOOKRUN_VERSION);
	event_base_dispatch(st.base);
	worker_free(st.worker);
	event_free(sigterm);
	if (sigint)
		event_free(sigint);
	event_base_free(st.base);
	log_event(LOG_LEVEL_INFO, "worker.stopped", "version=%s", HOOKRUN_VERSION);
	return EXIT_SUCCESS;
}

/* Entry point. */
int main(int argc, char **argv)
{
	struct service_args args;
	struct config *c;
	int r;

	r = service_args_parse(argc, argv, "hookrun-worker", getenv("HOOKRUN_CONFIG"), &args);
	if (r != 0)
		return r > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	c = main_config(args.config_path);
	if (!c)
		return EXIT_FAILURE;
	log_setup("worker", c->log_level, c->log_format);
	if (args.print_config || args.check_config) {
		if (args.print_config)
			config_print(c, stdout);
		config_free(c);
		return EXIT_SUCCESS;
	}
	r = main_run(c);
	config_free(c);
	return r;
}
