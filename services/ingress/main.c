/* hookrun-ingress: receives webhooks and makes them durable before answering. Wiring only. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "db.h"
#include "hookrun_build.h"
#include "ingress.h"
#include "log.h"
#include "loop.h"
#include "service.h"

extern char **environ;

struct main_state {
	struct event_base *base;
	struct ingress *ingress;
};

/* Drained after SIGTERM: leave the loop. */
static void main_on_drained(void *arg)
{
	struct main_state *st = arg;

	event_base_loopbreak(st->base);
}

/* SIGTERM/SIGINT start a graceful shutdown; a second one exits at once. */
static void main_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *st = arg;
	static int count;

	log_event(LOG_LEVEL_INFO, "ingress.signal", "signal=%s", strsignal((int)sig));
	if (count++ > 0)
		event_base_loopbreak(st->base);
	else
		ingress_shutdown(st->ingress, 10000, main_on_drained, st);
}

/* Load and validate the configuration; prints the problem and returns NULL on failure. */
static struct config *main_config(const char *path)
{
	struct config *c = service_config_load("hookrun-ingress", path, environ);

	if (!c)
		return NULL;
	if (!c->db_url || !*c->db_url) {
		fprintf(stderr, "hookrun-ingress: db_url is required (set it in [hookrun] or "
		                "HOOKRUN_DB_URL / HOOKRUN_DB_URL_FILE)\n");
		config_free(c);
		return NULL;
	}
	return c;
}

/* Run the event loop until a signal drains it. */
static int main_run(struct config *c)
{
	struct main_state st = {0};
	_cleanup_free_ char *err = NULL;
	_cleanup_free_ char *masked = db_url_mask(c->db_url);
	struct event *sigterm, *sigint;

	signal(SIGPIPE, SIG_IGN);
	st.base = loop_new();
	if (!st.base) {
		log_event(LOG_LEVEL_ERROR, "ingress.start_failed", "detail=%s",
		          "cannot create the event loop");
		return EXIT_FAILURE;
	}
	st.ingress = ingress_new(st.base, c, &err);
	if (!st.ingress) {
		log_event(LOG_LEVEL_ERROR, "ingress.start_failed", "detail=%s", err);
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
	log_event(LOG_LEVEL_INFO, "ingress.listening",
	          "addr=%s port=%d tls=%s sources=%zu dispatch=%s db=%s version=%s", c->listen_addr,
	          ingress_port(st.ingress), c->tls_cert_file ? "on" : "off", c->n_sources,
	          ingress_dispatch_endpoint(st.ingress) ? ingress_dispatch_endpoint(st.ingress)
	                                                : "off",
	          masked, HOOKRUN_VERSION);
	event_base_dispatch(st.base);
	ingress_free(st.ingress);
	event_free(sigterm);
	if (sigint)
		event_free(sigint);
	event_base_free(st.base);
	log_event(LOG_LEVEL_INFO, "ingress.stopped", "version=%s", HOOKRUN_VERSION);
	return EXIT_SUCCESS;
}

/* Entry point. */
int main(int argc, char **argv)
{
	struct service_args args;
	struct config *c;
	int r;

	r = service_args_parse(argc, argv, "hookrun-ingress", getenv("HOOKRUN_CONFIG"), &args);
	if (r != 0)
		return r > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	c = main_config(args.config_path);
	if (!c)
		return EXIT_FAILURE;
	log_setup("ingress", c->log_level, c->log_format);
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
