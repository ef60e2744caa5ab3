/* Integration-test harness: databases, child processes, HTTP client and load generator. */
#include "harness.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "webhook_auth.h"

#ifndef HARNESS_SOURCE_ROOT
#define HARNESS_SOURCE_ROOT "."
#endif
#ifndef HARNESS_BUILD_ROOT
#define HARNESS_BUILD_ROOT "."
#endif

#define HARNESS_MAX_CHILDREN     64
#define HARNESS_MAX_DBS          16
#define HARNESS_START_TIMEOUT_MS 30000
#define HARNESS_PG_TIMEOUT_MS    90000

extern char **environ;

/* Process-wide state, set once by harness_init(). */
static struct {
	const char *db_url;
	const char *pg_dir;
	char *source_root;
	char *build_root;
	char *ingress_bin;
	char *sim_bin;
	char *worker_bin;
	char *cli_bin;
	char *migrations_dir;
	char *pg_script;
	char *tmpdir;
	unsigned db_seq;
	unsigned tmp_seq;
	/* Safety net: children still running and databases not yet dropped. */
	volatile pid_t children[HARNESS_MAX_CHILDREN];
	struct harness_db *dbs[HARNESS_MAX_DBS];
	/* The TAP filter: the real stdout, the pipe cmocka writes to, the thread copying it. */
	int tap_real_fd;
	int tap_pipe_fd;
	pthread_t tap_thread;
	bool tap_on;
} H;

/* Monotonic clock in milliseconds. */
long long harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep a few milliseconds between two polls of a condition. */
void harness_poll_pause(void)
{
	struct timespec ts = {0, 5L * 1000 * 1000};

	nanosleep(&ts, NULL);
}

/* Remember a running child for the safety net. */
static void children_add(pid_t pid)
{
	for (size_t i = 0; i < HARNESS_MAX_CHILDREN; i++)
		if (H.children[i] == 0) {
			H.children[i] = pid;
			return;
		}
}

/* Forget a reaped child. */
static void children_remove(pid_t pid)
{
	for (size_t i = 0; i < HARNESS_MAX_CHILDREN; i++)
		if (H.children[i] == pid)
			H.children[i] = 0;
}

/* SIGKILL every child still registered (async-signal-safe). */
static void children_kill_all(void)
{
	for (size_t i = 0; i < HARNESS_MAX_CHILDREN; i++)
		if (H.children[i] > 0)
			kill(H.children[i], SIGKILL);
}

/* A fatal signal (e.g. the test runner's timeout): take the children down with us. */
static void harness_on_fatal_signal(int sig)
{
	children_kill_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Remove one entry of the temporary tree. */
static int harness_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path);
	return 0;
}

/* Copy cmocka's output to the real stdout. cmocka 1.1.5 prints a skipped test as
 * "not ok N # SKIP", which TAP consumers (meson) count as a failure; the TAP specification
 * and cmocka >= 1.1.6 say "ok N # SKIP". Every other line passes unchanged. */
static void *tap_filter_main(void *arg)
{
	FILE *in = fdopen(H.tap_pipe_fd, "r");
	FILE *out = fdopen(fcntl(H.tap_real_fd, F_DUPFD_CLOEXEC, 3), "w");
	char *line = NULL;
	size_t cap = 0;

	if (!in || !out)
		abort();
	while (getline(&line, &cap, in) > 0) {
		bool skip = strncmp(line, "not ok ", 7) == 0 && strstr(line, " # SKIP");
		fputs(skip ? line + 4 : line, out);
		fflush(out);
	}
	free(line);
	fclose(in);
	fclose(out);
	return NULL;
}

/* Route stdout through the TAP filter when cmocka writes TAP. */
static void tap_filter_start(void)
{
	const char *fmt = getenv("CMOCKA_MESSAGE_OUTPUT");
	int fds[2];

	if (!fmt || strcasecmp(fmt, "tap") != 0 || pipe2(fds, O_CLOEXEC) < 0)
		return;
	fflush(stdout);
	H.tap_real_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	if (H.tap_real_fd < 0 || dup2(fds[1], STDOUT_FILENO) < 0)
		abort();
	close(fds[1]);
	H.tap_pipe_fd = fds[0];
	if (pthread_create(&H.tap_thread, NULL, tap_filter_main, NULL) != 0)
		abort();
	/* Line by line, so a test killed by the runner's timeout still shows how far it got. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	H.tap_on = true;
}

/* Flush stdout through the filter, restore the real stdout and wait for the filter. */
static void tap_filter_stop(void)
{
	if (!H.tap_on)
		return;
	fflush(stdout);
	dup2(H.tap_real_fd, STDOUT_FILENO);
	close(H.tap_real_fd);
	pthread_join(H.tap_thread, NULL);
	H.tap_on = false;
}

/* At exit: kill and reap children, drop leftover databases, remove the temporary tree. */
static void harness_atexit(void)
{
	children_kill_all();
	for (size_t i = 0; i < HARNESS_MAX_CHILDREN; i++)
		if (H.children[i] > 0)
			(void)waitpid(H.children[i], NULL, 0);
	for (size_t i = 0; i < HARNESS_MAX_DBS; i++)
		if (H.dbs[i])
			harness_db_free(H.dbs[i]);
	if (H.tmpdir && !getenv("HARNESS_KEEP_TMP"))
		(void)nftw(H.tmpdir, harness_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	curl_global_cleanup();
	free(H.source_root);
	free(H.build_root);
	free(H.ingress_bin);
	free(H.cli_bin);
	free(H.sim_bin);
	free(H.worker_bin);
	free(H.migrations_dir);
	free(H.pg_script);
	free(H.tmpdir);
	tap_filter_stop();
}

/* An environment variable, NULL when unset or empty. */
static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* Install the signal handlers of the safety net. */
static void harness_signals(void)
{
	static const int fatal[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	struct sigaction sa = {.sa_handler = harness_on_fatal_signal};

	for (size_t i = 0; i < ELEMENTSOF(fatal); i++)
		sigaction(fatal[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Process-wide setup. */
void harness_init(void)
{
	const char *tmp = env_nonempty("TMPDIR");
	const char *src = env_nonempty("HOOKRUN_SOURCE_ROOT");
	const char *bld = env_nonempty("HOOKRUN_BUILD_ROOT");

	H.db_url = env_nonempty("TEST_DATABASE_URL");
	H.pg_dir = env_nonempty("TEST_PG_DIR");
	H.source_root = xstrdup(src ? src : HARNESS_SOURCE_ROOT);
	H.build_root = xstrdup(bld ? bld : HARNESS_BUILD_ROOT);
	H.ingress_bin = xasprintf("%s/services/ingress/hookrun-ingress", H.build_root);
	H.cli_bin = xasprintf("%s/services/cli/hookrun", H.build_root);
	H.sim_bin = xasprintf("%s/services/versori-sim/versori-sim", H.build_root);
	H.worker_bin = xasprintf("%s/services/worker/hookrun-worker", H.build_root);
	H.migrations_dir = xasprintf("%s/migrations", H.source_root);
	H.pg_script = xasprintf("%s/deploy/dev/pg", H.source_root);
	H.tmpdir = xasprintf("%s/hookrun-integ.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(H.tmpdir)) {
		fprintf(stderr, "# harness: mkdtemp %s: %s\n", H.tmpdir, strerror(errno));
		abort();
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		abort();
	json_object_seed(0);
	harness_signals();
	tap_filter_start();
	atexit(harness_atexit);
}

/* Whether TEST_DATABASE_URL is set. */
bool harness_have_db(void)
{
	return H.db_url != NULL;
}

/* TEST_PG_DIR or NULL. */
const char *harness_pg_dir(void)
{
	return H.pg_dir;
}

/* Path of the ingress binary. */
const char *harness_ingress_bin(void)
{
	return H.ingress_bin;
}

/* Path of the CLI binary. */
const char *harness_cli_bin(void)
{
	return H.cli_bin;
}

/* The source tree's root. */
const char *harness_source_root(void)
{
	return H.source_root;
}

/* Path of the migrations directory. */
const char *harness_migrations_dir(void)
{
	return H.migrations_dir;
}

/* A new directory under the harness's temporary directory. */
char *harness_mkdtemp(const char *prefix)
{
	char *path = xasprintf("%s/%s.%u", H.tmpdir, prefix, ++H.tmp_seq);

	if (mkdir(path, 0700) < 0) {
		fprintf(stderr, "# harness: mkdir %s: %s\n", path, strerror(errno));
		abort();
	}
	return path;
}

/* Write all of buf to fd; 0 or a negative errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write content to dir/name with mode 0600. */
char *harness_write_file(const char *dir, const char *name, const char *content)
{
	char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r;

	if (fd < 0) {
		fprintf(stderr, "# harness: open %s: %s\n", path, strerror(errno));
		free(path);
		return NULL;
	}
	r = write_all(fd, content, strlen(content));
	close(fd);
	if (r < 0) {
		fprintf(stderr, "# harness: write %s: %s\n", path, strerror(-r));
		free(path);
		return NULL;
	}
	return path;
}

/* The whole file as a new NUL-terminated string. */
char *harness_read_file(const char *path, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 4096;
	char *buf;
	ssize_t n;

	if (fd < 0)
		return NULL;
	buf = xmalloc(cap);
	while ((n = read(fd, buf + len, cap - len - 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
		if (cap - len < 1024)
			buf = xrealloc(buf, cap *= 2);
	}
	close(fd);
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return buf;
}

/* Whether "KEY=VALUE" entry e sets the variable named by the key of kv ("KEY=..."). */
static bool env_same_key(const char *e, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t n = eq ? (size_t)(eq - kv) : strlen(kv);

	return strncmp(e, kv, n) == 0 && e[n] == '=';
}

/* Whether the list sets the variable named by the key of e. */
static bool env_list_has(const char *const *list, const char *e)
{
	for (size_t i = 0; list && list[i]; i++)
		if (env_same_key(list[i], e))
			return true;
	return false;
}

/* The child's environment: ours minus HOOKRUN_* (unless keep_hookrun) and minus what env_add
 * overrides, plus env_add and sanitizer defaults. Pointers borrowed; the array is new. */
static char **child_env(const char *const *env_add, bool keep_hookrun)
{
	static const char *const defaults[] = {
	    "ASAN_OPTIONS=abort_on_error=1:detect_leaks=1",
	    "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1",
	};
	size_t n = 0, n_add = 0, k = 0;
	char **envp;

	while (environ[n])
		n++;
	while (env_add && env_add[n_add])
		n_add++;
	envp = xcalloc(n + n_add + ELEMENTSOF(defaults) + 1, sizeof(*envp));
	for (size_t i = 0; i < n; i++) {
		if (!keep_hookrun && strncmp(environ[i], "HOOKRUN_", 8) == 0)
			continue;
		if (!env_list_has(env_add, environ[i]))
			envp[k++] = environ[i];
	}
	for (size_t i = 0; i < n_add; i++)
		envp[k++] = (char *)env_add[i];
	for (size_t i = 0; i < ELEMENTSOF(defaults); i++)
		if (!env_list_has((const char *const *)envp, defaults[i]))
			envp[k++] = (char *)defaults[i];
	envp[k] = NULL;
	return envp;
}

/* Open a child's output file (append, so two streams may share it); /dev/null for NULL. */
static int open_output(const char *path)
{
	return open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

/* In the child after fork(): wire the descriptors and exec. Async-signal-safe only. */
static _Noreturn void child_exec(const char *const *argv, char **envp, int out_fd, int err_fd)
{
	int null_fd = open("/dev/null", O_RDONLY);

	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0)
		_exit(126);
	if (close_range(3, ~0U, 0) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	signal(SIGPIPE, SIG_DFL);
	execve(argv[0], (char *const *)argv, envp);
	(void)!write(STDERR_FILENO, "harness: cannot execute ", 24);
	(void)!write(STDERR_FILENO, argv[0], strlen(argv[0]));
	(void)!write(STDERR_FILENO, "\n", 1);
	_exit(127);
}

/* Spawn a child; keep_hookrun passes HOOKRUN_* through (the pg script reads its own). */
static int proc_spawn(const char *const *argv, const char *const *env_add, const char *out_path,
                      const char *err_path, bool keep_hookrun, struct harness_proc *ret)
{
	_cleanup_free_ char **envp = child_env(env_add, keep_hookrun);
	bool shared = out_path && err_path && strcmp(out_path, err_path) == 0;
	int out_fd = open_output(out_path);
	int err_fd = shared ? dup(out_fd) : open_output(err_path);
	pid_t pid;
	int r = 0;

	if (out_fd < 0 || err_fd < 0) {
		r = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0)
		child_exec(argv, envp, out_fd, err_fd);
	children_add(pid);
	*ret = (struct harness_proc){.pid = pid};
out:
	if (out_fd >= 0)
		close(out_fd);
	if (err_fd >= 0)
		close(err_fd);
	return r;
}

/* Spawn a child with HOOKRUN_* removed from its environment. */
int harness_proc_spawn(const char *const *argv, const char *const *env_add, const char *out_path,
                       const char *err_path, struct harness_proc *ret)
{
	return proc_spawn(argv, env_add, out_path, err_path, false, ret);
}

/* Decode a waitpid status the harness way. */
static int proc_result(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -EPROTO;
}

/* Wait for the child to exit, polling until the deadline. */
int harness_proc_wait(struct harness_proc *p, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	if (p->pid == 0)
		return proc_result(p->status);
	for (;;) {
		pid_t r = waitpid(p->pid, &p->status, WNOHANG);
		if (r == p->pid || (r < 0 && errno == ECHILD)) {
			children_remove(p->pid);
			p->pid = 0;
			return r < 0 ? -ECHILD : proc_result(p->status);
		}
		if (harness_now_ms() >= deadline)
			return -ETIMEDOUT;
		harness_poll_pause();
	}
}

/* Send sig, wait, SIGKILL after the deadline. */
int harness_proc_stop(struct harness_proc *p, int sig, int timeout_ms)
{
	int r;

	if (p->pid == 0)
		return proc_result(p->status);
	(void)kill(p->pid, sig);
	r = harness_proc_wait(p, timeout_ms);
	if (r != -ETIMEDOUT)
		return r;
	fprintf(stderr, "# harness: pid %d ignored signal %d for %d ms: SIGKILL\n", (int)p->pid,
	        sig, timeout_ms);
	(void)kill(p->pid, SIGKILL);
	(void)harness_proc_wait(p, 10000);
	return -ETIMEDOUT;
}

/* Run a child to completion, capturing its output; keep_hookrun as in proc_spawn(). */
static int proc_run(const char *const *argv, const char *const *env_add, int timeout_ms,
                    bool keep_hookrun, char **ret_out, char **ret_err)
{
	_cleanup_free_ char *dir = harness_mkdtemp("run");
	_cleanup_free_ char *out_path = xasprintf("%s/stdout", dir);
	_cleanup_free_ char *err_path = xasprintf("%s/stderr", dir);
	struct harness_proc p;
	int r;

	r = proc_spawn(argv, env_add, out_path, err_path, keep_hookrun, &p);
	if (r < 0) {
		fprintf(stderr, "# harness: cannot run %s: %s\n", argv[0], strerror(-r));
		return r;
	}
	r = harness_proc_wait(&p, timeout_ms);
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "# harness: %s still runs after %d ms: SIGKILL\n", argv[0],
		        timeout_ms);
		(void)harness_proc_stop(&p, SIGKILL, 10000);
	}
	if (ret_out)
		*ret_out = harness_read_file(out_path, NULL);
	if (ret_err)
		*ret_err = harness_read_file(err_path, NULL);
	return r;
}

/* Run a child to completion with HOOKRUN_* removed from its environment. */
int harness_run(const char *const *argv, const char *const *env_add, int timeout_ms, char **ret_out,
                char **ret_err)
{
	return proc_run(argv, env_add, timeout_ms, false, ret_out, ret_err);
}

/* ---- PostgreSQL ---- */

/* A blocking connection, or NULL after printing why. */
PGconn *harness_pg_connect(const char *url)
{
	PGconn *conn = PQconnectdb(url);

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "# harness: cannot connect to the database: %s",
		        PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* Run statements; false after printing the error. */
bool harness_sql_exec(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "# harness: SQL failed: %s# in: %s\n", PQerrorMessage(conn), sql);
	PQclear(res);
	return ok;
}

/* Run sql with the NULL-terminated text parameters of ap (at most 16). */
static PGresult *sql_vexec(PGconn *conn, const char *sql, va_list ap)
{
	const char *params[16];
	int n = 0;

	while (n < 16 && (params[n] = va_arg(ap, const char *)))
		n++;
	return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
}

/* The first value of the first row as an integer; -1 on failure. */
long long harness_sql_int(PGconn *conn, const char *sql, ...)
{
	_cleanup_free_ char *v = NULL;
	va_list ap;

	va_start(ap, sql);
	v = harness_sql_vtext(conn, sql, ap);
	va_end(ap);
	return v ? strtoll(v, NULL, 10) : -1;
}

/* The first value as a new string; NULL after printing why. */
char *harness_sql_vtext(PGconn *conn, const char *sql, va_list ap)
{
	PGresult *res = sql_vexec(conn, sql, ap);
	char *v = NULL;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
		fprintf(stderr, "# harness: query gave no value: %s# in: %s\n",
		        PQerrorMessage(conn), sql);
	else
		v = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

char *harness_sql_text(PGconn *conn, const char *sql, ...)
{
	va_list ap;
	char *v;

	va_start(ap, sql);
	v = harness_sql_vtext(conn, sql, ap);
	va_end(ap);
	return v;
}

/* The error's primary message and SQLSTATE ("23505: ..."), or NULL when sql succeeded. */
char *harness_sql_error(PGconn *conn, const char *sql, ...)
{
	ExecStatusType st;
	PGresult *res;
	va_list ap;
	char *e = NULL;

	va_start(ap, sql);
	res = sql_vexec(conn, sql, ap);
	va_end(ap);
	st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

		e = xasprintf("%s: %s", state ? state : "?????", msg ? msg : PQerrorMessage(conn));
	}
	PQclear(res);
	return e;
}

/* Rows in hookrun.deliveries, for one source or all. */
long long harness_deliveries_count(PGconn *conn, const char *source)
{
	if (!source)
		return harness_sql_int(conn, "SELECT count(*) FROM hookrun.deliveries", NULL);
	return harness_sql_int(conn, "SELECT count(*) FROM hookrun.deliveries WHERE source = $1",
	                       source, NULL);
}

/* url with its database name replaced by name: a new string. Handles postgresql:// URLs
 * (the path) and key=value strings (a later dbname wins). */
static char *url_with_dbname(const char *url, const char *name)
{
	const char *scheme = strstr(url, "://");
	const char *path, *query;

	bool is_url =
	    strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;

	if (!scheme || !is_url)
		return xasprintf("%s dbname=%s", url, name);
	path = scheme + 3 + strcspn(scheme + 3, "/?");
	query = strchr(path, '?');
	return xasprintf("%.*s/%s%s", (int)(path - url), url, name, query ? query : "");
}

/* Remember or forget a database for the safety net. */
static void dbs_track(struct harness_db *db, bool add)
{
	for (size_t i = 0; i < HARNESS_MAX_DBS; i++)
		if (add ? H.dbs[i] == NULL : H.dbs[i] == db) {
			H.dbs[i] = add ? db : NULL;
			return;
		}
}

/* The URL of url for user instead of its own (the test cluster trusts local logins). */
static char *url_with_user(const char *url, const char *user)
{
	const char *scheme = strstr(url, "://");
	const char *at = strchr(url, '@');

	if (!scheme || !at)
		return xstrdup(url);
	return xasprintf("%.*s%s%s", (int)(scheme + 3 - url), url, user, at);
}

/* Make HARNESS_SERVICE_ROLE a login in hookrun_service once per cluster (test binaries race
 * to it: whoever comes second finds it made). */
static bool service_role_ensure(const char *url)
{
	PGconn *c = harness_pg_connect(url);
	bool ok = c && harness_sql_exec(c, "DO $$ BEGIN "
	                                   "CREATE ROLE " HARNESS_SERVICE_ROLE
	                                   " LOGIN IN ROLE hookrun_service; "
	                                   "EXCEPTION WHEN duplicate_object OR unique_violation "
	                                   "THEN NULL; END $$");

	if (c)
		PQfinish(c);
	return ok;
}

/* Create a fresh database (and migrate it). */
struct harness_db *harness_db_new(bool migrate)
{
	struct harness_db *db = xcalloc(1, sizeof(*db));
	_cleanup_free_ char *sql = NULL;
	_cleanup_free_ char *err = NULL;
	PGconn *admin = harness_pg_connect(H.db_url);
	bool ok;
	int rc;

	if (!admin) {
		free(db);
		return NULL;
	}
	snprintf(db->name, sizeof(db->name), "hr_%d_%u", (int)getpid(), ++H.db_seq);
	/* The roles of migration 0021 belong to the cluster: test programs migrating their
	 * databases at once could both find one missing and both create it (a unique
	 * violation). Made here, where losing that race is harmless. */
	for (int i = 0; i < 2; i++) {
		PGresult *res = PQexec(
		    admin,
		    i == 0
		        ? "DO $$ BEGIN CREATE ROLE hookrun_service NOLOGIN; "
		          "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
		        : "DO $$ BEGIN CREATE ROLE hookrun_auditor NOLOGIN; "
		          "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$");

		PQclear(res);
	}
	sql = xasprintf("CREATE DATABASE %s", db->name);
	ok = harness_sql_exec(admin, sql);
	PQfinish(admin);
	if (!ok) {
		free(db);
		return NULL;
	}
	db->url = url_with_dbname(H.db_url, db->name);
	db->service_url = xstrdup(db->url);
	dbs_track(db, true);
	if (!migrate)
		return db;
	rc = harness_db_migrate(db, H.migrations_dir, NULL, &err);
	if (rc != 0) {
		fprintf(stderr, "# harness: hookrun migrate exited %d: %s\n", rc, err ? err : "");
		harness_db_free(db);
		return NULL;
	}
	if (!service_role_ensure(db->url)) {
		harness_db_free(db);
		return NULL;
	}
	free(db->service_url);
	db->service_url = url_with_user(db->url, HARNESS_SERVICE_ROLE);
	return db;
}

/* Terminate the database's backends and drop it; polls while a backend lingers. */
static void db_drop(const char *name)
{
	_cleanup_free_ char *drop = xasprintf("DROP DATABASE IF EXISTS %s", name);
	long long deadline = harness_now_ms() + 15000;
	PGconn *admin = harness_pg_connect(H.db_url);
	PGresult *res;

	if (!admin)
		return;
	for (;;) {
		const char *params[] = {name};
		res = PQexecParams(admin,
		                   "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		                   "WHERE datname = $1 AND pid <> pg_backend_pid()",
		                   1, NULL, params, NULL, NULL, 0);
		PQclear(res);
		res = PQexec(admin, drop);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
		if (ok || harness_now_ms() >= deadline)
			break;
		harness_poll_pause();
	}
	PQfinish(admin);
}

/* Drop the database and free db. */
void harness_db_free(struct harness_db *db)
{
	if (!db)
		return;
	dbs_track(db, false);
	if (H.db_url)
		db_drop(db->name);
	free(db->url);
	free(db->service_url);
	free(db);
}

/* A test group's migrated database and its connection; nothing without TEST_DATABASE_URL. */
int harness_group_db_open(struct harness_db **ret_db, PGconn **ret_conn)
{
	*ret_db = NULL;
	*ret_conn = NULL;
	if (!harness_have_db())
		return 0;
	*ret_db = harness_db_new(true);
	if (!*ret_db)
		return -1;
	*ret_conn = harness_pg_connect((*ret_db)->url);
	return *ret_conn ? 0 : -1;
}

/* Close what harness_group_db_open() opened. */
void harness_group_db_close(struct harness_db *db, PGconn *conn)
{
	if (conn)
		PQfinish(conn);
	harness_db_free(db);
}

char *harness_token_create(const struct harness_db *db, const char *name, const char *orgs,
                           const char *access)
{
	_cleanup_free_ char *db_env = xasprintf("HOOKRUN_DB_URL=%s", db->url);
	_cleanup_free_ char *out = NULL, *err = NULL;
	const char *argv[] = {harness_cli_bin(), "tokens", "create",   "--name", name,
	                      "--org",           orgs,     "--access", access,   NULL};
	const char *env[] = {db_env, NULL};
	const char *nl;

	if (harness_run(argv, env, 30000, &out, &err) != 0 || !out || !(nl = strchr(out, '\n'))) {
		fprintf(stderr, "# tokens create: %s %s\n", out ? out : "", err ? err : "");
		return NULL;
	}
	return xstrndup(nl + 1, strcspn(nl + 1, "\n"));
}

/* Run `hookrun migrate --dir dir` against db. */
int harness_db_migrate(const struct harness_db *db, const char *dir, char **ret_out, char **ret_err)
{
	_cleanup_free_ char *env_url = xasprintf("HOOKRUN_DB_URL=%s", db->url);
	const char *argv[] = {H.cli_bin, "migrate", "--dir", dir, NULL};
	const char *env[] = {env_url, NULL};

	return harness_run(argv, env, 60000, ret_out, ret_err);
}

/* A copy of a result value (NUL-terminated), NULL for SQL NULL. */
static char *result_dup(const PGresult *res, int col, size_t *ret_len)
{
	size_t len;
	char *s;

	if (PQgetisnull(res, 0, col))
		return NULL;
	len = (size_t)PQgetlength(res, 0, col);
	s = xmalloc(len + 1);
	memcpy(s, PQgetvalue(res, 0, col), len);
	s[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return s;
}

/* Fetch a delivery by id (binary results: bytea arrives as its raw bytes). */
int harness_delivery_fetch(PGconn *conn, const char *id, struct harness_delivery *ret)
{
	const char *params[] = {id};
	PGresult *res = PQexecParams(conn,
	                             "SELECT id::text, source, idempotency_key, verified_by, "
	                             "headers::text, content_type, body FROM hookrun.deliveries "
	                             "WHERE id = $1::uuid",
	                             1, NULL, params, NULL, NULL, 1);
	int r = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "# harness: fetching delivery %s: %s", id, PQerrorMessage(conn));
		r = -EIO;
	} else if (PQntuples(res) == 0) {
		r = -ENOENT;
	} else {
		*ret = (struct harness_delivery){
		    .id = result_dup(res, 0, NULL),
		    .source = result_dup(res, 1, NULL),
		    .idempotency_key = result_dup(res, 2, NULL),
		    .verified_by = result_dup(res, 3, NULL),
		    .headers_json = result_dup(res, 4, NULL),
		    .content_type = result_dup(res, 5, NULL),
		};
		ret->body = (unsigned char *)result_dup(res, 6, &ret->body_len);
	}
	PQclear(res);
	return r;
}

/* Free what a fetched delivery owns. */
void harness_delivery_fini(struct harness_delivery *d)
{
	free(d->id);
	free(d->source);
	free(d->idempotency_key);
	free(d->verified_by);
	free(d->headers_json);
	free(d->content_type);
	free(d->body);
	*d = (struct harness_delivery){0};
}

/* Missing ids among one chunk; (size_t)-1 on error. */
static size_t ids_missing_chunk(PGconn *conn, const char (*ids)[HARNESS_ID_MAX], size_t n,
                                char first_missing[HARNESS_ID_MAX], bool *have_first)
{
	char *arr = xmalloc(n * HARNESS_ID_MAX + 3);
	size_t len = 0, missing;
	PGresult *res;

	arr[len++] = '{';
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(arr + len, "%s%s", i ? "," : "", ids[i]);
	arr[len++] = '}';
	arr[len] = '\0';
	const char *params[] = {arr};
	res = PQexecParams(conn,
	                   "SELECT x::text FROM unnest($1::uuid[]) AS x WHERE NOT EXISTS "
	                   "(SELECT 1 FROM hookrun.deliveries d WHERE d.id = x)",
	                   1, NULL, params, NULL, NULL, 0);
	free(arr);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "# harness: id lookup failed: %s", PQerrorMessage(conn));
		PQclear(res);
		return (size_t)-1;
	}
	missing = (size_t)PQntuples(res);
	if (missing && !*have_first && first_missing) {
		snprintf(first_missing, HARNESS_ID_MAX, "%s", PQgetvalue(res, 0, 0));
		*have_first = true;
	}
	PQclear(res);
	return missing;
}

/* How many of ids are not stored, queried in chunks. */
size_t harness_ids_missing(PGconn *conn, const char (*ids)[HARNESS_ID_MAX], size_t n,
                           char first_missing[HARNESS_ID_MAX])
{
	size_t missing = 0;
	bool have_first = false;

	for (size_t i = 0; i < n; i += 500) {
		size_t m = ids_missing_chunk(conn, ids + i, n - i < 500 ? n - i : 500,
		                             first_missing, &have_first);
		if (m == (size_t)-1)
			return m;
		missing += m;
	}
	return missing;
}

/* Run the cluster script with a command; 0 when it exits 0. */
static int pg_script(const char *cmd, const char *mode)
{
	const char *argv[] = {H.pg_script, cmd, H.pg_dir, mode, NULL};
	_cleanup_free_ char *out = NULL;
	_cleanup_free_ char *err = NULL;
	int rc;

	if (!H.pg_dir)
		return -ENOENT;
	rc = proc_run(argv, NULL, HARNESS_PG_TIMEOUT_MS, true, &out, &err);
	if (rc != 0) {
		fprintf(stderr, "# harness: pg %s exited %d: %s%s\n", cmd, rc, out ? out : "",
		        err ? err : "");
		return -EIO;
	}
	return 0;
}

/* Stop the cluster. */
int harness_pg_stop(const char *mode)
{
	return pg_script("stop", mode);
}

/* Start the cluster and poll until it accepts connections. */
int harness_pg_start(void)
{
	long long deadline;
	int r = pg_script("start", NULL);

	if (r < 0)
		return r;
	deadline = harness_now_ms() + 30000;
	while (PQping(H.db_url) != PQPING_OK) {
		if (harness_now_ms() >= deadline)
			return -ETIMEDOUT;
		harness_poll_pause();
	}
	return 0;
}

/* Start the cluster unless it already accepts connections. */
int harness_pg_ensure_running(void)
{
	if (!H.db_url || PQping(H.db_url) == PQPING_OK)
		return 0;
	fprintf(stderr, "# harness: PostgreSQL is down: starting it again\n");
	return harness_pg_start();
}

/* ---- child services: hookrun-ingress, versori-sim ---- */

struct harness_service {
	struct harness_proc proc;
	const char *name;  /* static: "hookrun-ingress" */
	const char *event; /* static: the log event that carries port= */
	char *dir;
	char *log_path;
	int port;
	int result;
	bool reaped;
};

/* The listening port from the service log, 0 while it has not logged it. */
static int service_log_port(const struct harness_service *svc)
{
	_cleanup_free_ char *log = harness_read_file(svc->log_path, NULL);
	const char *p = log ? strstr(log, svc->event) : NULL;
	const char *eol;

	if (!p)
		return 0;
	eol = strchr(p, '\n');
	p = strstr(p, " port=");
	if (!p || (eol && p > eol))
		return 0;
	return atoi(p + 6);
}

/* Poll the log for the listening line; false when the child exits or the deadline passes. */
static bool service_wait_listening(struct harness_service *svc)
{
	long long deadline = harness_now_ms() + HARNESS_START_TIMEOUT_MS;

	while ((svc->port = service_log_port(svc)) <= 0) {
		if (waitpid(svc->proc.pid, &svc->proc.status, WNOHANG) == svc->proc.pid) {
			children_remove(svc->proc.pid);
			svc->proc.pid = 0;
			svc->reaped = true;
			svc->result = proc_result(svc->proc.status);
			fprintf(stderr, "# harness: %s exited %d before listening\n", svc->name,
			        svc->result);
			return false;
		}
		if (harness_now_ms() >= deadline) {
			fprintf(stderr, "# harness: %s did not log its port\n", svc->name);
			return false;
		}
		harness_poll_pause();
	}
	return true;
}

/* Spawn argv with its output in a log under a new directory, wait for the listening line and
 * then for GET ready_path to answer 200. NULL (after printing the log tail) on failure. */
static struct harness_service *service_start(const char *name, const char *event,
                                             const char *const *argv, const char *const *env,
                                             const char *ready_path)
{
	struct harness_service *svc = xcalloc(1, sizeof(*svc));
	int r;

	svc->name = name;
	svc->event = event;
	svc->dir = harness_mkdtemp(name);
	svc->log_path = xasprintf("%s/%s.log", svc->dir, name);
	r = harness_proc_spawn(argv, env, svc->log_path, svc->log_path, &svc->proc);
	if (r < 0) {
		fprintf(stderr, "# harness: cannot start %s: %s\n", argv[0], strerror(-r));
		goto fail;
	}
	if (!service_wait_listening(svc))
		goto fail;
	if (!harness_wait_status(svc->port, ready_path, 200, HARNESS_START_TIMEOUT_MS)) {
		fprintf(stderr, "# harness: %s did not answer 200 on port %d\n", ready_path,
		        svc->port);
		goto fail;
	}
	return svc;
fail:
	harness_service_free(svc, true);
	return NULL;
}

/* Write the INI file for one ingress; the path is new. */
static char *ingress_write_ini(const char *dir, const char *hookrun_ini, const char *sources_ini)
{
	_cleanup_free_ char *ini =
	    xasprintf("[hookrun]\n"
	              "listen_addr = 127.0.0.1\n"
	              "listen_port = 0\n"
	              "%s\n%s",
	              hookrun_ini ? hookrun_ini : "", sources_ini ? sources_ini : "");

	return harness_write_file(dir, "hookrun.ini", ini);
}

/* The child's extra environment: first then the caller's; a new array. */
static const char **env_prepend(const char *first, const char *const *env)
{
	size_t n = 0;
	const char **out;

	while (env && env[n])
		n++;
	out = xcalloc(n + 2, sizeof(*out));
	out[0] = first;
	for (size_t i = 0; i < n; i++)
		out[i + 1] = env[i];
	return out;
}

/* Start hookrun-ingress and wait until it is ready. */
struct harness_service *harness_ingress_start(const struct harness_db *db, const char *hookrun_ini,
                                              const char *sources_ini, const char *const *env)
{
	_cleanup_free_ char *dir = harness_mkdtemp("ingress-config");
	_cleanup_free_ char *ini = ingress_write_ini(dir, hookrun_ini, sources_ini);
	_cleanup_free_ char *db_env = xasprintf("HOOKRUN_DB_URL=%s", db->service_url);
	_cleanup_free_ const char **child_env_add = env_prepend(db_env, env);

	if (!ini)
		return NULL;
	const char *argv[] = {H.ingress_bin, "--config", ini, NULL};
	return service_start("hookrun-ingress", "event=ingress.listening", argv, child_env_add,
	                     "/readyz");
}

/* Start versori-sim on 127.0.0.1:0 with a fixture and extra arguments. */
struct harness_service *harness_sim_start(const char *fixture_path, const char *const *args,
                                          const char *const *env)
{
	const char *argv[32] = {H.sim_bin, "--listen",  "127.0.0.1", "--port",
	                        "0",       "--fixture", fixture_path};
	size_t n = 7;

	for (size_t i = 0; args && args[i]; i++) {
		if (n + 1 >= ELEMENTSOF(argv))
			return NULL;
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	return service_start("versori-sim", "event=sim.listening", argv, env, "/_sim/healthz");
}

/* Start hookrun-worker serving the dispatcher at endpoint and wait until it is ready. */
struct harness_service *harness_worker_start(const struct harness_db *db, const char *endpoint,
                                             const char *ini, const char *const *env)
{
	_cleanup_free_ char *dir = harness_mkdtemp("worker-config");
	_cleanup_free_ char *text = xasprintf("[hookrun]\n"
	                                      "worker_listen_addr = 127.0.0.1\n"
	                                      "worker_listen_port = 0\n"
	                                      "dispatchers = %s\n"
	                                      "%s",
	                                      endpoint, ini ? ini : "");
	_cleanup_free_ char *path = harness_write_file(dir, "worker.ini", text);
	_cleanup_free_ char *db_env = xasprintf("HOOKRUN_DB_URL=%s", db->service_url);
	_cleanup_free_ const char **child_env_add = env_prepend(db_env, env);

	if (!path)
		return NULL;
	const char *argv[] = {H.worker_bin, "--config", path, NULL};
	return service_start("hookrun-worker", "event=worker.listening", argv, child_env_add,
	                     "/readyz");
}

/* The value of name=... on the first log line that has it, as a new string, or NULL. */
char *harness_service_log_value(const struct harness_service *svc, const char *name)
{
	_cleanup_free_ char *log = harness_read_file(svc->log_path, NULL);
	_cleanup_free_ char *key = xasprintf(" %s=", name);
	const char *p = log ? strstr(log, key) : NULL;

	if (!p)
		return NULL;
	p += strlen(key);
	return xstrndup(p, strcspn(p, " \n"));
}

/* Send sig to the service (SIGSTOP, SIGCONT); 0 or a negative errno. */
int harness_service_signal(struct harness_service *svc, int sig)
{
	if (svc->proc.pid <= 0)
		return -ESRCH;
	return kill(svc->proc.pid, sig) == 0 ? 0 : -errno;
}

/* The bound port. */
int harness_service_port(const struct harness_service *in)
{
	return in->port;
}

/* The child's pid (0 once reaped). */
pid_t harness_service_pid(const struct harness_service *in)
{
	return in->proc.pid;
}

/* Path of the log. */
const char *harness_service_log_path(const struct harness_service *in)
{
	return in->log_path;
}

/* Whether the log holds a sanitizer report. */
bool harness_service_log_has_sanitizer_report(const struct harness_service *in)
{
	static const char *const marks[] = {
	    "ERROR: AddressSanitizer",
	    "ERROR: LeakSanitizer",
	    "runtime error:",
	    "SUMMARY: UndefinedBehaviorSanitizer",
	};
	_cleanup_free_ char *log = harness_read_file(in->log_path, NULL);

	for (size_t i = 0; log && i < ELEMENTSOF(marks); i++)
		if (strstr(log, marks[i]))
			return true;
	return false;
}

/* Reap with sig; fold a sanitizer report into the result. */
static int service_reap(struct harness_service *in, int sig, int timeout_ms)
{
	if (!in->reaped) {
		in->result = harness_proc_stop(&in->proc, sig, timeout_ms);
		in->reaped = true;
	}
	if (harness_service_log_has_sanitizer_report(in)) {
		fprintf(stderr, "# harness: sanitizer report in %s\n", in->log_path);
		harness_service_log_tail(in, 60);
		return -EPROTO;
	}
	return in->result;
}

/* SIGTERM, wait, SIGKILL fallback. */
int harness_service_stop(struct harness_service *in, int timeout_ms)
{
	return service_reap(in, SIGTERM, timeout_ms);
}

/* SIGKILL and reap. */
int harness_service_kill(struct harness_service *in)
{
	return service_reap(in, SIGKILL, 10000);
}

/* Print the last lines of the service log to stderr. */
void harness_service_log_tail(const struct harness_service *in, unsigned lines)
{
	_cleanup_free_ char *log = NULL;
	size_t len = 0;
	const char *p;
	unsigned seen = 0;

	if (!in || !(log = harness_read_file(in->log_path, &len)))
		return;
	p = log + len;
	while (p > log && seen <= lines)
		if (*--p == '\n' && p + 1 < log + len)
			seen++;
	if (*p == '\n')
		p++;
	fprintf(stderr, "# ---- last lines of %s ----\n", in->log_path);
	for (const char *eol; *p; p = eol + 1) {
		eol = strchrnul(p, '\n');
		fprintf(stderr, "# %.*s\n", (int)(eol - p), p);
		if (!*eol)
			break;
	}
}

/* Stop if running and free. */
void harness_service_free(struct harness_service *in, bool print_log)
{
	if (!in)
		return;
	if (print_log)
		harness_service_log_tail(in, 40);
	(void)harness_service_stop(in, 15000);
	free(in->dir);
	free(in->log_path);
	free(in);
}

/* ---- HTTP client ---- */

struct harness_client {
	CURL *curl;
	int port;
};

/* A keep-alive client for 127.0.0.1:port. */
struct harness_client *harness_client_new(int port)
{
	struct harness_client *c = xcalloc(1, sizeof(*c));

	c->curl = curl_easy_init();
	if (!c->curl)
		abort();
	c->port = port;
	return c;
}

/* Close the connection and free. */
void harness_client_free(struct harness_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

/* libcurl body callback: append to the response. */
static size_t client_on_body(char *data, size_t size, size_t n, void *arg)
{
	struct harness_response *r = arg;
	size_t len = size * n;

	r->body = xrealloc(r->body, r->body_len + len + 1);
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return len;
}

/* Drop the header lines collected so far (a new status line starts over). */
static void response_headers_clear(struct harness_response *r)
{
	for (size_t i = 0; i < r->n_header_lines; i++)
		free(r->header_lines[i]);
	free(r->header_lines);
	r->header_lines = NULL;
	r->n_header_lines = 0;
}

/* libcurl header callback: keep "Name: value" lines of the final response. */
static size_t client_on_header(char *data, size_t size, size_t n, void *arg)
{
	struct harness_response *r = arg;
	size_t len = size * n, l = len;

	while (l > 0 && (data[l - 1] == '\r' || data[l - 1] == '\n'))
		l--;
	if (l >= 5 && strncmp(data, "HTTP/", 5) == 0)
		response_headers_clear(r);
	else if (l > 0 && memchr(data, ':', l)) {
		r->header_lines =
		    xreallocarray(r->header_lines, r->n_header_lines + 1, sizeof(*r->header_lines));
		r->header_lines[r->n_header_lines++] = xstrndup(data, l);
	}
	return len;
}

/* The header list of a request: the caller's, Content-Type, and no Expect: 100-continue. */
static struct curl_slist *client_headers(const struct harness_request *req)
{
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");

	if (req->content_type) {
		_cleanup_free_ char *ct = xasprintf("Content-Type: %s", req->content_type);
		h = curl_slist_append(h, ct);
	}
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		h = curl_slist_append(h, req->headers[i]);
	if (!h)
		abort();
	return h;
}

/* Set the method and body options of one request. */
static void client_set_method(CURL *curl, const struct harness_request *req)
{
	const char *method = req->method ? req->method : req->body ? "POST" : "GET";

	if (strcmp(method, "GET") == 0 && !req->body) {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
		return;
	}
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	if (strcmp(method, "POST") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
}

/* Set every option of one request on the (reset) handle. */
static void client_setup(struct harness_client *c, const struct harness_request *req,
                         struct curl_slist *headers, struct harness_response *ret)
{
	char url[512];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", c->port, req->path ? req->path : "/");
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_PROXY, "");
	curl_easy_setopt(c->curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, req->timeout_ms ? req->timeout_ms : 10000L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, client_on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, ret);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, client_on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, ret);
	client_set_method(c->curl, req);
}

/* Send one request on the client's connection. */
void harness_client_send(struct harness_client *c, const struct harness_request *req,
                         struct harness_response *ret)
{
	struct curl_slist *headers = client_headers(req);
	CURLcode cc;

	*ret = (struct harness_response){0};
	client_setup(c, req, headers, ret);
	cc = curl_easy_perform(c->curl);
	ret->curl_code = (int)cc;
	if (cc == CURLE_OK)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &ret->status);
	curl_easy_getinfo(c->curl, CURLINFO_TOTAL_TIME, &ret->elapsed_s);
	curl_slist_free_all(headers);
	if (ret->body_len && (ret->body[0] == '{' || ret->body[0] == '['))
		ret->json = json_loadb(ret->body, ret->body_len, 0, NULL);
}

/* One request on a fresh connection. */
void harness_http(int port, const struct harness_request *req, struct harness_response *ret)
{
	struct harness_client *c = harness_client_new(port);

	harness_client_send(c, req, ret);
	harness_client_free(c);
}

/* GET path on a fresh connection. */
void harness_http_get(int port, const char *path, struct harness_response *ret)
{
	harness_http(port, &(struct harness_request){.path = path, .timeout_ms = 5000}, ret);
}

/* Free what a response owns. */
void harness_response_fini(struct harness_response *r)
{
	response_headers_clear(r);
	free(r->body);
	json_decref(r->json);
	*r = (struct harness_response){0};
}

/* A header's value, borrowed from r. */
const char *harness_response_header(const struct harness_response *r, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < r->n_header_lines; i++) {
		const char *line = r->header_lines[i];
		if (strncasecmp(line, name, n) == 0 && line[n] == ':')
			return line + n + 1 + strspn(line + n + 1, " \t");
	}
	return NULL;
}

/* error.code of the JSON body. */
const char *harness_response_error_code(const struct harness_response *r)
{
	return json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
}

/* delivery_id of the JSON body. */
const char *harness_response_delivery_id(const struct harness_response *r)
{
	return json_string_value(json_object_get(r->json, "delivery_id"));
}

/* duplicate of the JSON body. */
bool harness_response_duplicate(const struct harness_response *r)
{
	return json_is_true(json_object_get(r->json, "duplicate"));
}

/* Poll GET path until it answers status. */
bool harness_wait_status(int port, const char *path, long status, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	struct harness_response r;
	bool ok;

	for (;;) {
		harness_http_get(port, path, &r);
		ok = r.status == status;
		harness_response_fini(&r);
		if (ok)
			return true;
		if (harness_now_ms() >= deadline)
			return false;
		harness_poll_pause();
	}
}

/* One series' value from /metrics. */
double harness_metric(int port, const char *series)
{
	struct harness_response r;
	size_t n = strlen(series);
	double v = 0;

	harness_http_get(port, "/metrics", &r);
	if (r.status != 200) {
		harness_response_fini(&r);
		return -1;
	}
	for (const char *p = r.body; p && *p;) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	harness_response_fini(&r);
	return v;
}

/* Whether s is a canonical lowercase UUID. */
bool harness_is_uuid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (!s || strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		bool hex = s[i] && strchr("0123456789abcdef", s[i]);
		if (shape[i] == '-' ? s[i] != '-' : !hex)
			return false;
	}
	return true;
}

/* How a sender signs for the suites' hmac sources. */
const struct source_config harness_hmac_signer = {
    .name = (char *)"signer",
    .auth = AUTH_SCHEME_HMAC,
    .hmac_algorithm = HMAC_ALGORITHM_SHA256,
    .hmac_inputs = {SIG_INPUT_BODY},
    .n_hmac_inputs = 1,
    .hmac_encoding = SIG_ENCODING_HEX,
    .signature_header = (char *)"X-Signature",
    .signature_prefix = (char *)"sha256=",
};

/* The signature header line for body under src's hmac settings. */
char *harness_hmac_header(const struct source_config *src, const char *secret, const char *uri,
                          const void *body, size_t len)
{
	_cleanup_free_ char *sig = webhook_auth_sign_hmac(src, secret, uri, body, len);

	if (!sig)
		return NULL;
	return xasprintf("%s: %s", src->signature_header, sig);
}

/* ---- Load generator ---- */

struct load_thread {
	struct harness_load *load;
	unsigned index;
	pthread_t tid;
	bool started;
};

struct harness_load {
	struct harness_load_options o;
	struct load_thread *threads;
	pthread_barrier_t barrier;
	long long deadline_ms;
	atomic_bool stop;
	atomic_size_t issued;
	atomic_size_t answered, s202, s200, s503, other, transport;
	atomic_uint running;
	pthread_mutex_t lock;
	struct harness_outcome *out;
	size_t n_out, cap_out;
	bool joined;
};

/* Count and keep one outcome. */
static void load_record(struct harness_load *l, const struct harness_outcome *oc)
{
	atomic_size_t *slot = oc->status == 202   ? &l->s202
	                      : oc->status == 200 ? &l->s200
	                      : oc->status == 503 ? &l->s503
	                      : oc->status == 0   ? &l->transport
	                                          : &l->other;

	pthread_mutex_lock(&l->lock);
	if (l->n_out == l->cap_out) {
		l->cap_out = l->cap_out ? l->cap_out * 2 : 256;
		l->out = xreallocarray(l->out, l->cap_out, sizeof(*l->out));
	}
	l->out[l->n_out++] = *oc;
	pthread_mutex_unlock(&l->lock);
	atomic_fetch_add(slot, 1);
	atomic_fetch_add(&l->answered, 1);
}

/* Turn a response into an outcome. */
static void load_outcome(const struct harness_response *r, long long start_ms,
                         struct harness_outcome *oc)
{
	const char *id = harness_response_delivery_id(r);
	const char *code = harness_response_error_code(r);

	*oc = (struct harness_outcome){
	    .status = r->status,
	    .retry_after = harness_response_header(r, "Retry-After") != NULL,
	    .start_ms = start_ms,
	    .end_ms = harness_now_ms(),
	};
	if (id && (r->status == 200 || r->status == 202))
		snprintf(oc->id, sizeof(oc->id), "%s", id);
	if (code)
		snprintf(oc->code, sizeof(oc->code), "%s", code);
}

/* Build and send one request of a load thread; returns the status (0: transport error). */
static long load_send_one(struct harness_load *l, struct harness_client *c, unsigned index,
                          unsigned seq)
{
	_cleanup_free_ char *body = xasprintf("{\"load\":{\"pid\":%d,\"thread\":%u,\"seq\":%u},"
	                                      "\"note\":\"integration load\"}",
	                                      (int)getpid(), index, seq);
	_cleanup_free_ char *sig = NULL;
	const char *headers[34];
	size_t n = 0;
	struct harness_response r;
	struct harness_outcome oc;
	long long start = harness_now_ms();

	if (l->o.hmac)
		sig = harness_hmac_header(l->o.hmac, l->o.secret, l->o.path, body, strlen(body));
	if (sig)
		headers[n++] = sig;
	for (size_t i = 0; l->o.headers && l->o.headers[i] && n < 32; i++)
		headers[n++] = l->o.headers[i];
	headers[n] = NULL;
	harness_client_send(c,
	                    &(struct harness_request){.path = l->o.path,
	                                              .content_type = "application/json",
	                                              .body = body,
	                                              .body_len = strlen(body),
	                                              .headers = headers,
	                                              .timeout_ms = l->o.timeout_ms},
	                    &r);
	load_outcome(&r, start, &oc);
	harness_response_fini(&r);
	load_record(l, &oc);
	return oc.status;
}

/* Whether the load must end: stop flag, time limit or request budget. */
static bool load_over(struct harness_load *l)
{
	if (atomic_load(&l->stop) || harness_now_ms() >= l->deadline_ms)
		return true;
	return atomic_fetch_add(&l->issued, 1) >= l->o.max_requests;
}

/* Pace after an error answer: wait out the pause unless the load is stopped. */
static void load_pause(struct harness_load *l)
{
	long long until = harness_now_ms() + l->o.pause_after_error_ms;

	while (!atomic_load(&l->stop) && harness_now_ms() < until)
		harness_poll_pause();
}

/* One load thread: wait for the others, then send until the load is over. */
static void *load_thread_main(void *arg)
{
	struct load_thread *t = arg;
	struct harness_load *l = t->load;
	struct harness_client *c = harness_client_new(l->o.port);

	pthread_barrier_wait(&l->barrier);
	for (unsigned seq = 0; !load_over(l); seq++) {
		long status = load_send_one(l, c, t->index, seq);
		if ((status < 200 || status > 299) && l->o.pause_after_error_ms)
			load_pause(l);
	}
	harness_client_free(c);
	atomic_fetch_sub(&l->running, 1);
	return NULL;
}

/* Start the load threads. */
struct harness_load *harness_load_start(const struct harness_load_options *o)
{
	struct harness_load *l = xcalloc(1, sizeof(*l));

	l->o = *o;
	if (!l->o.timeout_ms)
		l->o.timeout_ms = 10000;
	l->deadline_ms = harness_now_ms() + (long long)o->max_seconds * 1000;
	l->threads = xcalloc(o->threads, sizeof(*l->threads));
	pthread_mutex_init(&l->lock, NULL);
	pthread_barrier_init(&l->barrier, NULL, o->threads);
	atomic_store(&l->running, o->threads);
	for (unsigned i = 0; i < o->threads; i++) {
		l->threads[i] = (struct load_thread){.load = l, .index = i};
		if (pthread_create(&l->threads[i].tid, NULL, load_thread_main, &l->threads[i]) != 0)
			abort();
		l->threads[i].started = true;
	}
	return l;
}

/* A snapshot of the counters. */
struct harness_load_stats harness_load_stats(const struct harness_load *l)
{
	struct harness_load *m = (struct harness_load *)l;

	return (struct harness_load_stats){
	    .answered = atomic_load(&m->answered),
	    .s202 = atomic_load(&m->s202),
	    .s200 = atomic_load(&m->s200),
	    .s503 = atomic_load(&m->s503),
	    .other = atomic_load(&m->other),
	    .transport = atomic_load(&m->transport),
	};
}

/* The counter picked by status. */
static size_t load_counter(const struct harness_load *l, long status)
{
	struct harness_load_stats s = harness_load_stats(l);

	switch (status) {
	case 202:
		return s.s202;
	case 200:
		return s.s200;
	case 503:
		return s.s503;
	case -1:
		return s.transport;
	default:
		return s.answered;
	}
}

/* Poll until a counter reaches at_least. */
bool harness_load_wait(const struct harness_load *l, long status, size_t at_least, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (load_counter(l, status) < at_least) {
		if (harness_now_ms() >= deadline)
			return false;
		harness_poll_pause();
	}
	return true;
}

/* Poll until every thread finished by itself. */
bool harness_load_wait_done(const struct harness_load *l, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	struct harness_load *m = (struct harness_load *)l;

	while (atomic_load(&m->running) > 0) {
		if (harness_now_ms() >= deadline)
			return false;
		harness_poll_pause();
	}
	return true;
}

/* Raise the stop flag and join. */
void harness_load_stop(struct harness_load *l)
{
	if (l->joined)
		return;
	atomic_store(&l->stop, true);
	for (unsigned i = 0; i < l->o.threads; i++)
		if (l->threads[i].started)
			pthread_join(l->threads[i].tid, NULL);
	l->joined = true;
}

/* Every outcome, borrowed. */
const struct harness_outcome *harness_load_outcomes(const struct harness_load *l, size_t *ret_n)
{
	*ret_n = l->n_out;
	return l->out;
}

/* The ids answered 200 or 202, a new array. */
size_t harness_load_ids(const struct harness_load *l, char (**ret)[HARNESS_ID_MAX])
{
	char(*ids)[HARNESS_ID_MAX] = xcalloc(l->n_out ? l->n_out : 1, sizeof(*ids));
	size_t n = 0;

	for (size_t i = 0; i < l->n_out; i++)
		if (l->out[i].id[0])
			memcpy(ids[n++], l->out[i].id, HARNESS_ID_MAX);
	*ret = ids;
	return n;
}

/* How many acknowledged ids are not stored. */
size_t harness_load_unstored(PGconn *conn, const struct harness_load *l, size_t *ret_n,
                             char first_missing[HARNESS_ID_MAX])
{
	char(*ids)[HARNESS_ID_MAX] = NULL;
	size_t n = harness_load_ids(l, &ids);
	size_t missing =
	    harness_ids_missing(conn, (const char(*)[HARNESS_ID_MAX])ids, n, first_missing);

	free(ids);
	*ret_n = n;
	return missing;
}

/* Stop and free. */
void harness_load_free(struct harness_load *l)
{
	if (!l)
		return;
	harness_load_stop(l);
	pthread_barrier_destroy(&l->barrier);
	pthread_mutex_destroy(&l->lock);
	free(l->threads);
	free(l->out);
	free(l);
}

/* Connect to 127.0.0.1:port; the socket or -1. */
static int raw_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read from fd into r->text until EOF or the deadline. */
static void raw_read(int fd, long long deadline_ms, struct harness_raw_response *r)
{
	size_t cap = 4096;

	r->text = xmalloc(cap);
	r->len = 0;
	for (;;) {
		long long left = deadline_ms - harness_now_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		if (cap - r->len < 4096) {
			cap *= 2;
			r->text = xrealloc(r->text, cap);
		}
		n = recv(fd, r->text + r->len, cap - r->len - 1, 0);
		if (n <= 0) {
			r->closed = true; /* EOF, or a reset: either way the server closed it */
			break;
		}
		r->len += (size_t)n;
	}
	r->text[r->len] = '\0';
}

/* Send raw bytes on a fresh connection and read what comes back. */
void harness_raw(int port, const void *req, size_t len, int timeout_ms,
                 struct harness_raw_response *ret)
{
	int fd = raw_connect(port);
	const char *sep;

	*ret = (struct harness_raw_response){0};
	if (fd < 0) {
		ret->text = xstrdup("");
		ret->body = ret->text;
		return;
	}
	(void)!send(fd, req, len, MSG_NOSIGNAL);
	raw_read(fd, harness_now_ms() + timeout_ms, ret);
	close(fd);
	if (strncmp(ret->text, "HTTP/1.", 7) == 0 && ret->len > 12)
		ret->status = strtol(ret->text + 9, NULL, 10);
	for (const char *p = ret->text; (p = strstr(p, "HTTP/1.")); p++)
		ret->n_statuses += p == ret->text || p[-1] == '\n';
	sep = strstr(ret->text, "\r\n\r\n");
	ret->body = sep ? sep + 4 : "";
	ret->json = json_loads(ret->body, JSON_DISABLE_EOF_CHECK, NULL);
}

/* A header of the first answer, as a new string. */
char *harness_raw_header(const struct harness_raw_response *r, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(r->text, "\r\n"); p && p < r->body; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2, *end = strstr(line, "\r\n");

		if (!end || line == end)
			break;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':')
			return xstrndup(line + nl + 2, (size_t)(end - line - nl - 2));
	}
	return NULL;
}

/* Free a raw response. */
void harness_raw_response_fini(struct harness_raw_response *r)
{
	json_decref(r->json);
	free(r->text);
	*r = (struct harness_raw_response){0};
}

/* A group's state with its database and, with sources, its shared ingress. */
int harness_group_setup(void **state, size_t size, const char *sources, const char *const *env)
{
	struct harness_group *g = xcalloc(1, size);

	assert(size >= sizeof(*g));
	*state = g;
	if (harness_group_db_open(&g->db, &g->conn) < 0)
		return -1;
	if (!g->db || !sources)
		return 0;
	g->in = harness_ingress_start(g->db, NULL, sources, env);
	if (!g->in)
		return -1;
	g->in_shared = true;
	g->port = harness_service_port(g->in);
	return 0;
}

/* Stop the shared ingress, drop the database, free the state. */
int harness_group_teardown(void **state)
{
	struct harness_group *g = *state;
	int r = 0;

	if (g->in) {
		r = harness_service_stop(g->in, 15000);
		if (r != 0)
			fprintf(stderr, "# the group's ingress exited %d\n", r);
		harness_service_free(g->in, r != 0);
	}
	harness_group_db_close(g->db, g->conn);
	free(g);
	return r == 0 ? 0 : -1;
}

/* The test has not passed yet. */
int harness_test_setup(void **state)
{
	((struct harness_group *)*state)->passed = false;
	return 0;
}

/* Stop the test's load and its own ingress. */
int harness_test_teardown(void **state)
{
	struct harness_group *g = *state;
	bool dirty = false;

	harness_load_free(g->load);
	g->load = NULL;
	if (g->in_shared) {
		if (!g->passed)
			harness_service_log_tail(g->in, 30);
		return 0;
	}
	/* A sanitizer report at exit fails the test even when its assertions passed. */
	dirty = g->in && harness_service_stop(g->in, 15000) == -EPROTO;
	harness_service_free(g->in, !g->passed);
	g->in = NULL;
	return dirty ? -1 : 0;
}

/* Start a receiver in a directory of its own (harness.h). */
bool harness_receiver_start(const char *secret, const char *statuses, struct harness_receiver *rc)
{
	_cleanup_free_ char *dir = harness_mkdtemp("receiver");
	_cleanup_free_ char *script =
	    xasprintf("%s/tests/support/callback_receiver.py", harness_source_root());
	_cleanup_free_ char *secret_file = harness_write_file(dir, "callback-secret", secret);
	_cleanup_free_ char *out = xasprintf("%s/receiver.out", dir);
	long long deadline = harness_now_ms() + 10000;

	rc->log = xasprintf("%s/receiver.log", dir);
	rc->port = 0;
	if (harness_proc_spawn((const char *const[]){"/usr/bin/python3", script, rc->log,
	                                             secret_file, statuses, NULL},
	                       NULL, out, out, &rc->proc) < 0)
		return false;
	while (!rc->port && harness_now_ms() < deadline) {
		_cleanup_free_ char *text = harness_read_file(out, NULL);
		const char *p = text ? strstr(text, "listening port=") : NULL;
		if (p)
			rc->port = atoi(p + strlen("listening port="));
		else
			harness_poll_pause();
	}
	return rc->port > 0;
}

/* The requests the receiver logged, as a new JSON array. */
json_t *harness_receiver_requests(const struct harness_receiver *rc)
{
	_cleanup_free_ char *text = harness_read_file(rc->log, NULL);
	json_t *all = json_array();
	char *save = NULL;

	for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		json_array_append_new(all, json_loads(line, 0, NULL));
	return all;
}

/* Stop the receiver by its PID and free what it holds. */
void harness_receiver_stop(struct harness_receiver *rc)
{
	(void)harness_proc_stop(&rc->proc, SIGTERM, 5000);
	free(rc->log);
}
