/* versori-sim: a local stand-in for the Versori API with injectable faults. Wiring only. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "hookrun_build.h"
#include "http_glue.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "sim.h"
#include "sim_faults.h"
#include "sim_server.h"

#define MAIN_MAX_SWITCHES 32
#define MAIN_MAX_FAULTS   64

struct main_args {
	const char *listen;
	int port;
	const char *fixture;
	const char *state;
	const char *faults_file;
	const char *switches[MAIN_MAX_SWITCHES];
	size_t n_switches;
	const char *faults[MAIN_MAX_FAULTS];
	size_t n_faults;
	unsigned long long seed;
	bool seed_set;
	enum log_level log_level;
	enum log_format log_format;
};

/* Print usage. */
static void usage(FILE *f)
{
	fprintf(
	    f, "usage: versori-sim [options]\n"
	       "  --listen ADDR        address to bind (default 127.0.0.1)\n"
	       "  --port N             port (default 8090; 0 = any free port)\n"
	       "  --fixture FILE       JSON fixture: organisations, keys, projects, environments\n"
	       "  --state FILE         load FILE if it exists (else the fixture); save it on exit\n"
	       "  --switch NAME=VALUE  duplicate_user=409|400|existing, "
	       "duplicate_activation=409|allow,\n"
	       "                       patch_response=merged|changed (repeatable)\n"
	       "  --faults FILE        JSON fault rules ({\"rules\": [...]})\n"
	       "  --fault SPEC         one fault rule, e.g. kind=error,rate=0.1,statuses=500:503\n"
	       "                       (repeatable; see docs/versori-sim.md)\n"
	       "  --seed N             seed for fault randomness (default: random, logged)\n"
	       "  --log-level LEVEL    debug|info|warn|error (default info)\n"
	       "  --log-format FORMAT  logfmt|json (default logfmt)\n"
	       "  --version            print the version and exit\n");
}

/* Parse a port number; -1 when invalid. */
static int parse_port(const char *s)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);

	return (end != s && !*end && v >= 0 && v <= 65535) ? (int)v : -1;
}

/* Append v to a bounded list; false when it is full. */
static bool main_append(const char **list, size_t *n, size_t max, const char *v)
{
	if (*n >= max)
		return false;
	list[(*n)++] = v;
	return true;
}

/* Handle one option that takes a value; false when the value is invalid. */
static bool main_option(struct main_args *a, int c, const char *v)
{
	int r = 0;

	if (c == 'S') {
		char *end = NULL;

		errno = 0;
		a->seed = strtoull(v, &end, 0);
		a->seed_set = true;
		return errno == 0 && end != v && !*end && *v != '-';
	}
	if (c == 'l')
		a->listen = v;
	else if (c == 'p')
		r = a->port = parse_port(v);
	else if (c == 'f')
		a->fixture = v;
	else if (c == 's')
		a->state = v;
	else if (c == 'F')
		a->faults_file = v;
	else if (c == 'w')
		return main_append(a->switches, &a->n_switches, MAIN_MAX_SWITCHES, v);
	else if (c == 'x')
		return main_append(a->faults, &a->n_faults, MAIN_MAX_FAULTS, v);
	else if (c == 'L' && (r = log_level_from_string(v)) >= 0)
		a->log_level = (enum log_level)r;
	else if (c == 'R' && (r = log_format_from_string(v)) >= 0)
		a->log_format = (enum log_format)r;
	else if (c != 'L' && c != 'R')
		return false;
	return r >= 0;
}

/* Parse argv; returns -1 to exit with failure, 1 to exit with success, 0 to run. */
static int main_args_parse(int argc, char **argv, struct main_args *a)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"port", required_argument, NULL, 'p'},
	    {"fixture", required_argument, NULL, 'f'},
	    {"state", required_argument, NULL, 's'},
	    {"faults", required_argument, NULL, 'F'},
	    {"switch", required_argument, NULL, 'w'},
	    {"fault", required_argument, NULL, 'x'},
	    {"seed", required_argument, NULL, 'S'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"log-format", required_argument, NULL, 'R'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'V' || c == 'h') {
			if (c == 'V')
				printf("versori-sim %s\n", HOOKRUN_VERSION);
			else
				usage(stdout);
			return 1;
		}
		if (c == '?' || !main_option(a, c, optarg)) {
			if (c != '?')
				fprintf(stderr, "versori-sim: invalid value '%s'\n", optarg);
			usage(stderr);
			return -1;
		}
	}
	return optind < argc ? (usage(stderr), -1) : 0;
}

/* Load a JSON file; prints the problem and returns NULL on failure. */
static json_t *main_load_json(const char *what, const char *path)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	if (!doc)
		log_event(LOG_LEVEL_ERROR, "sim.load_failed", "what=%s path=%s line=%d detail=%s",
		          what, path, jerr.line, jerr.text);
	return doc;
}

/* The fixture (secret references checked against the environment), or an empty world without
 * --fixture; NULL (after logging) on error. */
static json_t *main_fixture(const char *path)
{
	char err[256] = "";
	json_t *doc = NULL;

	if (!path)
		return json_pack("{s:[]}", "organisations");
	if (sim_fixture_load(path, &doc, err, sizeof(err)) < 0) {
		log_event(LOG_LEVEL_ERROR, "sim.bad_fixture", "path=%s detail=%s", path, err);
		return NULL;
	}
	return doc;
}

/* The fault rules from --faults, --fault and --seed (a->seed becomes the seed in effect, for
 * the listening line); NULL (after logging) on error. */
static struct sim_faults *main_faults(struct main_args *a)
{
	struct sim_faults *f = sim_faults_new(a->seed);
	char err[256];

	if (a->faults_file) {
		json_auto_t *doc = main_load_json("faults", a->faults_file);

		if (!doc || sim_faults_set(f, doc, err, sizeof(err)) < 0) {
			if (doc)
				log_event(LOG_LEVEL_ERROR, "sim.bad_faults", "path=%s detail=%s",
				          a->faults_file, err);
			sim_faults_free(f);
			return NULL;
		}
		if (a->seed_set || !json_object_get(doc, "seed"))
			sim_faults_reseed(f, a->seed);
		else
			a->seed =
			    (unsigned long long)json_integer_value(json_object_get(doc, "seed"));
	}
	for (size_t i = 0; i < a->n_faults; i++) {
		if (sim_faults_add_spec(f, a->faults[i], err, sizeof(err)) < 0) {
			log_event(LOG_LEVEL_ERROR, "sim.bad_fault", "spec=%s detail=%s",
			          a->faults[i], err);
			sim_faults_free(f);
			return NULL;
		}
	}
	return f;
}

/* SIGTERM/SIGINT: leave the loop; the state is saved after it. */
static void main_on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_event(LOG_LEVEL_INFO, "sim.signal", "signal=%s", strsignal((int)sig));
	event_base_loopbreak(arg);
}

/* Log the fixture-independent settings once listening. */
static void main_log_listening(const struct main_args *a, struct sim_server *srv)
{
	log_event(LOG_LEVEL_INFO, "sim.listening",
	          "addr=%s port=%d seed=%llu faults=%zu version=%s", a->listen,
	          sim_server_port(srv), a->seed, a->n_faults + (a->faults_file ? 1 : 0),
	          HOOKRUN_VERSION);
}

/* Save the state if --state was given. */
static int main_save(const struct main_args *a, struct sim_server *srv)
{
	int r;

	if (!a->state)
		return 0;
	r = sim_server_state_save(srv, a->state);
	if (r < 0)
		return log_error_errno(r, "sim.state_save_failed", "path=%s", a->state);
	log_event(LOG_LEVEL_INFO, "sim.state_saved", "path=%s", a->state);
	return 0;
}

/* Build the server from the fixture / state and run the loop until a signal. */
static int main_run(const struct main_args *a, const json_t *fixture, const json_t *initial,
                    struct sim_faults *faults)
{
	struct sim_server_options o = {.addr = a->listen,
	                               .port = a->port,
	                               .fixture = fixture,
	                               .initial = initial,
	                               .switches = a->switches,
	                               .n_switches = a->n_switches};
	struct event_base *base = loop_new();
	struct sim_server *srv = NULL;
	_cleanup_free_ char *err = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	int r;

	if (!base) {
		sim_faults_free(faults);
		log_event(LOG_LEVEL_ERROR, "sim.start_failed", "detail=%s",
		          "event_base_new failed");
		return EXIT_FAILURE;
	}
	r = sim_server_new(base, &o, faults, &srv, &err);
	if (r < 0) {
		log_event(LOG_LEVEL_ERROR, "sim.start_failed", "detail=%s", err);
		event_base_free(base);
		return EXIT_FAILURE;
	}
	sigterm = evsignal_new(base, SIGTERM, main_on_signal, base);
	sigint = evsignal_new(base, SIGINT, main_on_signal, base);
	if (!sigterm || !sigint || event_add(sigterm, NULL) < 0 || event_add(sigint, NULL) < 0) {
		log_event(LOG_LEVEL_ERROR, "sim.start_failed", "detail=%s",
		          "cannot watch SIGTERM/SIGINT");
		r = -ENOMEM;
		goto out;
	}
	main_log_listening(a, srv);
	event_base_dispatch(base);
	sim_server_stop_accepting(srv);
	r = main_save(a, srv);
out:
	sim_server_free(srv);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	event_base_free(base);
	log_event(LOG_LEVEL_INFO, "sim.stopped", "version=%s", HOOKRUN_VERSION);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Entry point. */
int main(int argc, char **argv)
{
	struct main_args a = {.listen = "127.0.0.1", .port = 8090, .log_level = LOG_LEVEL_INFO};
	json_auto_t *fixture = NULL;
	json_auto_t *initial = NULL;
	struct sim_faults *faults;
	int r;

	r = main_args_parse(argc, argv, &a);
	if (r != 0)
		return r > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	log_setup("versori-sim", a.log_level, a.log_format);
	if (!a.seed_set && getrandom(&a.seed, sizeof(a.seed), 0) != sizeof(a.seed))
		a.seed = (unsigned long long)getpid();
	fixture = main_fixture(a.fixture);
	if (!fixture)
		return EXIT_FAILURE;
	if (a.state && access(a.state, F_OK) == 0) {
		initial = main_load_json("state", a.state);
		if (!initial)
			return EXIT_FAILURE;
	}
	faults = main_faults(&a);
	if (!faults)
		return EXIT_FAILURE;
	signal(SIGPIPE, SIG_IGN);
	return main_run(&a, fixture, initial, faults);
}
