/* Integration-test harness: throwaway databases on a real PostgreSQL, the real hookrun-ingress
 * and hookrun CLI as child processes, a libcurl client and a bounded load generator.
 * Used by the tests in tests/integration; every call blocks, and every wait is a poll on a
 * condition with a deadline (never a fixed sleep). Not thread-safe except where noted. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "xalloc.h"

struct json_t;
struct source_config;

#define HARNESS_ID_MAX 37 /* a UUID string and its NUL */

/* Process-wide setup: paths from the environment, a private temporary directory, libcurl and
 * the safety net that kills every child left running at exit. Call once at the top of main(). */
void harness_init(void);
/* Whether TEST_DATABASE_URL is set; tests that need PostgreSQL skip without it. */
bool harness_have_db(void);
/* TEST_PG_DIR, or NULL when the cluster cannot be stopped and started by tests. */
const char *harness_pg_dir(void);

/* Skip the calling cmocka test (with a message) when TEST_DATABASE_URL is unset. */
#define HARNESS_REQUIRE_DB()                                                                       \
	do {                                                                                       \
		if (!harness_have_db()) {                                                          \
			print_message("# TEST_DATABASE_URL is unset: skipping\n");                 \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* Paths, borrowed for the life of the process. */
const char *harness_ingress_bin(void);
const char *harness_cli_bin(void);
const char *harness_migrations_dir(void);
/* The source tree's root (fixtures, deploy/). */
const char *harness_source_root(void);
/* A new directory under the harness's temporary directory; removed at exit. */
char *harness_mkdtemp(const char *prefix);
/* Write content to dir/name (mode 0600); returns the new path or NULL on failure. */
char *harness_write_file(const char *dir, const char *name, const char *content);
/* The whole file as a new NUL-terminated string, or NULL. */
char *harness_read_file(const char *path, size_t *ret_len);
/* Monotonic clock in milliseconds. */
long long harness_now_ms(void);
/* Sleep between two polls of a condition (a few milliseconds). */
void harness_poll_pause(void);

/* A child process started with harness_proc_spawn(). */
struct harness_proc {
	pid_t pid;  /* 0 once reaped */
	int status; /* waitpid status once reaped */
};

/* Start argv[0] with the caller's environment minus HOOKRUN_* plus env_add ("KEY=VALUE",
 * NULL-terminated, may be NULL); stdout and stderr go to the files named (NULL: /dev/null;
 * the same path twice shares one file). Returns 0 or a negative errno. */
int harness_proc_spawn(const char *const *argv, const char *const *env_add, const char *out_path,
                       const char *err_path, struct harness_proc *ret) _warn_unused_result_;
/* Wait for the child to exit: its exit code (0-255), 128+N when killed by signal N,
 * -ETIMEDOUT when it still runs at the deadline (it is left running). */
int harness_proc_wait(struct harness_proc *p, int timeout_ms);
/* Send sig, wait up to timeout_ms, then SIGKILL; returns what harness_proc_wait() returns. */
int harness_proc_stop(struct harness_proc *p, int sig, int timeout_ms);
/* Run argv to completion (SIGKILL after timeout_ms) and capture stdout and stderr as new
 * strings (either pointer may be NULL). Returns the harness_proc_wait() value. */
int harness_run(const char *const *argv, const char *const *env_add, int timeout_ms, char **ret_out,
                char **ret_err);

/* A database of its own for one test group: hr_<pid>_<n> on the TEST_DATABASE_URL server. */
struct harness_db {
	char name[64];
	char *url;         /* owned: as the cluster's owner (migrations, tests' own SQL) */
	char *service_url; /* owned: as HARNESS_SERVICE_ROLE, a login in hookrun_service (the
	                    * services run as it); the owner's URL before migrations */
};

/* The login the services of the tests run as (a member of hookrun_service, migration 0021):
 * whatever they do must work with the grants a deployment gives them. */
#define HARNESS_SERVICE_ROLE "hookrun_app"

/* Create a fresh database and, when migrate is true, run `hookrun migrate` on it.
 * Returns NULL (after printing why) on failure. */
struct harness_db *harness_db_new(bool migrate);
/* Terminate the database's backends, drop it and free db; NULL is ignored. */
void harness_db_free(struct harness_db *db);
/* Group setup of a suite: a fresh migrated database and a blocking connection to it, both
 * NULL and 0 returned when TEST_DATABASE_URL is unset (the tests then skip); -1 (after
 * printing why) on failure. harness_group_db_close() takes either NULL. */
int harness_group_db_open(struct harness_db **ret_db, PGconn **ret_conn) _warn_unused_result_;
void harness_group_db_close(struct harness_db *db, PGconn *conn);
/* Run `hookrun migrate --dir dir` against db; the exit code as harness_run() returns it. */
int harness_db_migrate(const struct harness_db *db, const char *dir, char **ret_out,
                       char **ret_err);
/* `hookrun tokens create --name name --org orgs --access access` against db: the token it
 * printed (a new string), or NULL after printing why there is none. */
char *harness_token_create(const struct harness_db *db, const char *name, const char *orgs,
                           const char *access);
/* A blocking connection to url, or NULL (after printing why). */
PGconn *harness_pg_connect(const char *url);
/* Run one or more statements; false (after printing the error) on failure. */
bool harness_sql_exec(PGconn *conn, const char *sql);
/* The first column of the first row as an integer, with text parameters given as a
 * NULL-terminated list of const char *; -1 (after printing the error) on failure. */
long long harness_sql_int(PGconn *conn, const char *sql, ...);
/* The first column of the first row as a new string, parameters as for harness_sql_int();
 * NULL (after printing why) on failure or SQL NULL. */
char *harness_sql_text(PGconn *conn, const char *sql, ...);
char *harness_sql_vtext(PGconn *conn, const char *sql, va_list ap);
/* Run sql expecting it to fail: its SQLSTATE and primary message as a new string
 * ("23505: duplicate key ..."), or NULL when it succeeded. */
char *harness_sql_error(PGconn *conn, const char *sql, ...);
/* Rows in hookrun.deliveries, optionally for one source (NULL: all); -1 on failure. */
long long harness_deliveries_count(PGconn *conn, const char *source);

/* One row of hookrun.deliveries; every member owned. */
struct harness_delivery {
	char *id;
	char *source;
	char *idempotency_key; /* NULL when none */
	char *verified_by;
	char *headers_json;
	char *content_type;
	unsigned char *body;
	size_t body_len;
};

/* Fetch a delivery by id: 0, -ENOENT when absent, -EIO on a query error. */
int harness_delivery_fetch(PGconn *conn, const char *id,
                           struct harness_delivery *ret) _warn_unused_result_;
void harness_delivery_fini(struct harness_delivery *d);
/* How many of ids are not in hookrun.deliveries; copies the first missing one into
 * first_missing (may be NULL). Returns (size_t)-1 on a query error. */
size_t harness_ids_missing(PGconn *conn, const char (*ids)[HARNESS_ID_MAX], size_t n,
                           char first_missing[HARNESS_ID_MAX]);

/* Stop (mode "fast" or "immediate") or start the TEST_PG_DIR cluster with deploy/dev/pg;
 * start waits until TEST_DATABASE_URL accepts connections. 0 or a negative errno. */
int harness_pg_stop(const char *mode) _warn_unused_result_;
int harness_pg_start(void) _warn_unused_result_;
/* Start the cluster if it does not accept connections (teardown after a fault test). */
int harness_pg_ensure_running(void) _warn_unused_result_;

/* A running child service (hookrun-ingress or versori-sim). */
struct harness_service;

/* Start hookrun-ingress on 127.0.0.1 with an ephemeral port against db: the INI holds a
 * [hookrun] section with listen_addr/listen_port plus hookrun_ini lines (may be NULL) and
 * then sources_ini ([source.NAME] sections). env ("KEY=VALUE", NULL-terminated, may be NULL)
 * is added to the child's environment next to HOOKRUN_DB_URL: pass secrets there, never in
 * argv. Waits for the listening line and for /readyz to answer 200. NULL (after printing the
 * log tail) on failure. */
struct harness_service *harness_ingress_start(const struct harness_db *db, const char *hookrun_ini,
                                              const char *sources_ini, const char *const *env);
/* Start versori-sim on 127.0.0.1 with an ephemeral port and the fixture file, plus args
 * (NULL-terminated, may be NULL: e.g. "--switch", "duplicate_user=400") and env (secrets the
 * fixture references). Waits for the listening line and /_sim/healthz. NULL on failure. */
struct harness_service *harness_sim_start(const char *fixture_path, const char *const *args,
                                          const char *const *env);
/* Start hookrun-worker on 127.0.0.1 with an ephemeral health port, serving the dispatcher
 * at endpoint, against db: the INI's [hookrun] section gets ini lines (may be NULL; more
 * sections may follow them, e.g. [versori.NAME]); env as for harness_ingress_start() (the
 * Versori credentials go there). Waits until /readyz answers 200 (the dispatcher answered).
 * NULL on failure. */
struct harness_service *harness_worker_start(const struct harness_db *db, const char *endpoint,
                                             const char *ini, const char *const *env);
/* The value of name=... on the first log line that has it (e.g. "dispatch" on the ingress's
 * listening line), as a new string; NULL when absent. */
char *harness_service_log_value(const struct harness_service *svc, const char *name);
/* Send sig to a running service (e.g. SIGSTOP and SIGCONT); 0 or a negative errno. */
int harness_service_signal(struct harness_service *svc, int sig);
int harness_service_port(const struct harness_service *svc);
pid_t harness_service_pid(const struct harness_service *svc);
const char *harness_service_log_path(const struct harness_service *svc);
/* SIGTERM, wait up to timeout_ms, SIGKILL fallback. Returns the harness_proc_wait() value;
 * a sanitizer report in the log makes it -EPROTO. Idempotent. */
int harness_service_stop(struct harness_service *svc, int timeout_ms);
/* SIGKILL and reap. Returns the harness_proc_wait() value (137), -EPROTO on a sanitizer
 * report. */
int harness_service_kill(struct harness_service *svc);
/* Whether the log holds an AddressSanitizer/LeakSanitizer/UBSan report. */
bool harness_service_log_has_sanitizer_report(const struct harness_service *svc);
/* Print the last lines of the service log to stderr as TAP comments. */
void harness_service_log_tail(const struct harness_service *svc, unsigned lines);
/* Stop the service if it runs (printing the log tail when print_log) and free it. */
void harness_service_free(struct harness_service *svc, bool print_log);

/* One HTTP request; unset members take defaults (GET, or POST when a body is given). */
struct harness_request {
	const char *method;
	const char *path;
	const char *content_type;
	const void *body;
	size_t body_len;
	const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
	long timeout_ms;            /* default 10000 */
};

/* A response (status 0 on a transport error, with curl_code set). Every member owned. */
struct harness_response {
	long status;
	int curl_code;
	char *body;
	size_t body_len;
	char **header_lines; /* "Name: value", as received */
	size_t n_header_lines;
	struct json_t *json; /* the parsed body when it is JSON, else NULL */
	double elapsed_s;
};

/* An HTTP/1.1 client on 127.0.0.1:port with one keep-alive connection. Not thread-safe:
 * one per thread. */
struct harness_client;

struct harness_client *harness_client_new(int port);
void harness_client_free(struct harness_client *c);
/* Send req and fill ret (always: check ret->status). */
void harness_client_send(struct harness_client *c, const struct harness_request *req,
                         struct harness_response *ret);
/* One request on a fresh connection. */
void harness_http(int port, const struct harness_request *req, struct harness_response *ret);
/* GET path on a fresh connection. */
void harness_http_get(int port, const char *path, struct harness_response *ret);
void harness_response_fini(struct harness_response *r);
/* A response header's value (first match, case-insensitive), borrowed from r; NULL if absent. */
const char *harness_response_header(const struct harness_response *r, const char *name);
/* Members of the JSON body, borrowed from r; NULL (false) when absent. */
const char *harness_response_error_code(const struct harness_response *r);
const char *harness_response_delivery_id(const struct harness_response *r);
bool harness_response_duplicate(const struct harness_response *r);
/* Poll GET path until it answers status; false at the deadline. */
bool harness_wait_status(int port, const char *path, long status, int timeout_ms);
/* The value of one Prometheus series (e.g. `name{a="b"}`) from GET /metrics: 0 when the
 * series is absent, -1 when /metrics cannot be read. */
double harness_metric(int port, const char *series);
/* A receiver of signed webhooks (tests/support/callback_receiver.py, which checks Standard
 * Webhooks signatures with Python's own hmac), answering statuses in turn. */
struct harness_receiver {
	struct harness_proc proc;
	char *log;
	int port;
};

/* Start a receiver for secret (whsec_...) answering statuses ("503,204": in turn, the last
 * repeating) on 127.0.0.1; false when it did not say it listens. */
bool harness_receiver_start(const char *secret, const char *statuses, struct harness_receiver *rc);
/* The requests the receiver logged ({"verified", "body", "webhook_id", ...}), a new array. */
struct json_t *harness_receiver_requests(const struct harness_receiver *rc);
/* Stop the receiver by its PID and free what it holds. */
void harness_receiver_stop(struct harness_receiver *rc);

/* What came back on a raw connection. */
struct harness_raw_response {
	long status; /* from the first status line; 0 when there was none */
	char *text;  /* everything read, NUL-terminated (owned) */
	size_t len;
	const char *body;    /* into text: after the first blank line, or "" */
	bool closed;         /* the server closed the connection before the deadline */
	unsigned n_statuses; /* status lines seen: more than one means a second answer */
	struct json_t *json; /* the first answer's body when it is JSON, else NULL (owned) */
};

/* Send len raw bytes on a fresh TCP connection to 127.0.0.1:port, then read until the server
 * closes the connection or timeout_ms pass (the connection is then closed by us). For what
 * libcurl will not send: conflicting framing, raw bytes in the request line, NULs. */
void harness_raw(int port, const void *req, size_t len, int timeout_ms,
                 struct harness_raw_response *ret);
/* A header of the first answer (case-insensitive name), as a new string, or NULL. */
char *harness_raw_header(const struct harness_raw_response *r, const char *name);
void harness_raw_response_fini(struct harness_raw_response *r);

/* Whether s is a canonical lowercase UUID string. */
bool harness_is_uuid(const char *s);

/* The signature header line ("<header>: <value>") for body sent to uri under src's hmac
 * settings and secret; a new string, or NULL. */
/* How a sender signs for the suites' hmac sources: sha256, hex, X-Signature, "sha256=". */
extern const struct source_config harness_hmac_signer;

char *harness_hmac_header(const struct source_config *src, const char *secret, const char *uri,
                          const void *body, size_t len);

/* A bounded load: threads posting signed bodies until max_seconds, max_requests or a stop.
 * Threads never touch cmocka; the test reads counters and outcomes. */
struct harness_load_options {
	int port;
	const char *path; /* e.g. "/hooks/load" */
	unsigned threads;
	unsigned max_seconds;
	unsigned max_requests;            /* over all threads */
	const struct source_config *hmac; /* sign with this source's settings; NULL: unsigned */
	const char *secret;
	const char *const *headers;    /* extra headers for every request; may be NULL */
	unsigned pause_after_error_ms; /* wait after a non-2xx answer (pacing) */
	long timeout_ms;               /* per request; default 10000 */
};

/* One finished request. */
struct harness_outcome {
	long status;                /* 0: transport error */
	char id[HARNESS_ID_MAX];    /* delivery_id of a 200/202, else "" */
	char code[40];              /* error code of a 4xx/5xx, else "" */
	bool retry_after;           /* the answer carried Retry-After */
	long long start_ms, end_ms; /* harness_now_ms() */
};

/* Counters, readable while the load runs. */
struct harness_load_stats {
	size_t answered; /* every finished request, transport errors included */
	size_t s202, s200, s503, other, transport;
};

struct harness_load;

/* Start the threads; they wait on a barrier and send their first requests together. */
struct harness_load *harness_load_start(const struct harness_load_options *o);
struct harness_load_stats harness_load_stats(const struct harness_load *l);
/* Poll until the counter picked by status (202, 200, 503, 0 = answered, -1 = transport)
 * reaches at_least; false at the deadline. */
bool harness_load_wait(const struct harness_load *l, long status, size_t at_least, int timeout_ms);
/* Poll until every thread finished by itself (limits reached); false at the deadline. */
bool harness_load_wait_done(const struct harness_load *l, int timeout_ms);
/* Raise the stop flag and join the threads (each finishes its request in flight). */
void harness_load_stop(struct harness_load *l);
/* After harness_load_stop(): every outcome, borrowed from l. */
const struct harness_outcome *harness_load_outcomes(const struct harness_load *l, size_t *ret_n);
/* After harness_load_stop(): the delivery ids answered 202 or 200, a new array. */
size_t harness_load_ids(const struct harness_load *l, char (**ret)[HARNESS_ID_MAX]);
/* After harness_load_stop(): how many ids answered 202/200 are not in hookrun.deliveries;
 * *ret_n receives how many there were, first_missing the first absent one. (size_t)-1 on a
 * query error. */
size_t harness_load_unstored(PGconn *conn, const struct harness_load *l, size_t *ret_n,
                             char first_missing[HARNESS_ID_MAX]);
/* Stop if needed and free; NULL is ignored. */
void harness_load_free(struct harness_load *l);

/* The state every integration test group with a database keeps. A group's own state struct
 * starts with it as member g, so that harness_group_*() and harness_test_*() can serve as
 * (or be called from) the group's cmocka setup and teardown functions. */
struct harness_group {
	struct harness_db *db; /* NULL without TEST_DATABASE_URL: the tests skip */
	PGconn *conn;          /* a blocking connection to db */
	/* The group's ingress: shared by every test (started by harness_group_setup()) or a
	 * test's own (started by the test, stopped by harness_test_teardown()). */
	struct harness_service *in;
	bool in_shared;
	int port;                  /* a shared ingress's port */
	struct harness_load *load; /* a test's load, stopped by harness_test_teardown() */
	bool passed;               /* set as a test's last statement: logs print on failure */
};

/* A new zeroed state of size bytes (a struct starting with struct harness_group) in *state,
 * with a fresh migrated database; with sources, also an ingress shared by the group's tests,
 * started with harness_ingress_start(db, NULL, sources, env). -1 on failure. */
int harness_group_setup(void **state, size_t size, const char *sources, const char *const *env);
/* Stop the shared ingress, drop the database, free the state; -1 when the ingress exited
 * badly (a sanitizer report counts). */
int harness_group_teardown(void **state);
/* cmocka per-test setup: the test has not passed yet. */
int harness_test_setup(void **state);
/* cmocka per-test teardown: stop the test's load and its own ingress (whose log prints when
 * the test failed) or print the shared one's last lines on failure; -1 when an ingress of
 * the test's own exited with a sanitizer report. */
int harness_test_teardown(void **state);
