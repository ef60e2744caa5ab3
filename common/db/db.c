/* PostgreSQL access: blocking helpers and one asynchronous connection on a libevent loop. */
#include "db.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "backoff.h"
#include "log.h"
#include "loop.h"

/* COPY data goes to libpq in messages of at most this many bytes. */
#define DB_COPY_CHUNK (1 << 20)

enum db_state {
	DB_DISCONNECTED,
	DB_CONNECTING,
	DB_PREPARING, /* connected, preparing the statements the caller asked for */
	DB_CONNECTED,
};

struct db_async {
	struct event_base *base;
	char *url;
	PGconn *conn;
	enum db_state state;
	struct event *ev_conn;  /* connect phase: readiness the poll asked for */
	struct event *ev_read;  /* connected: persistent read readiness */
	struct event *ev_write; /* connected: one-shot, while output is pending */
	struct event *ev_timer; /* reconnect delay, or connect deadline */
	struct backoff backoff;
	unsigned connect_timeout_ms;
	char *options; /* libpq "options": server settings for the session, or NULL */
	const struct db_prepared *prepare;
	size_t n_prepare;
	size_t prepared; /* statements prepared on this connection so far */
	char *listen;    /* channel to LISTEN on, or NULL */
	db_notify_fn notify;
	db_state_fn state_cb;
	void *userdata;
	uint32_t rng;
	bool prepare_failed;
	bool listening;
	/* The statement in flight. */
	bool in_flight;
	db_result_fn cb;
	void *cb_userdata;
	PGresult *result;
	/* COPY ... FROM STDIN in flight: the stream sent once the server asks for it, or the
	 * callback that makes it then. */
	const void *copy_data;
	size_t copy_len;
	db_copy_fn copy_cb;
	/* ... or the callback that makes it a chunk at a time (copying: under way). */
	db_copy_next_fn copy_next;
	bool copying;
};

/* Strip the trailing newline libpq puts on its messages into a new string. */
static char *db_message_dup(const char *msg)
{
	char *s = xstrdup(msg && *msg ? msg : "unknown error");
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* Route server NOTICEs to the debug log instead of libpq's default stderr printer. */
static void db_notice(void *arg, const char *message)
{
	log_event(LOG_LEVEL_DEBUG, "db.notice", "detail=%s", message);
}

/* Blocking: connect to url. */
int db_connect(const char *url, PGconn **ret, char **ret_error)
{
	PGconn *conn = PQconnectdb(url);

	if (!conn)
		return -ENOMEM;
	if (PQstatus(conn) != CONNECTION_OK) {
		*ret_error = db_message_dup(PQerrorMessage(conn));
		PQfinish(conn);
		return -ECONNREFUSED;
	}
	PQsetNoticeProcessor(conn, db_notice, NULL);
	*ret = conn;
	return 0;
}

/* Close a blocking connection; NULL is fine. */
void db_close(PGconn *conn)
{
	if (conn)
		PQfinish(conn);
}

/* Whether a result is a success of either kind. */
static bool db_result_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Blocking: run statements without parameters. */
int db_exec(PGconn *conn, const char *sql, char **ret_error)
{
	_cleanup_pgresult_ PGresult *res = PQexec(conn, sql);

	if (!res)
		return -ENOMEM;
	if (!db_result_ok(res)) {
		*ret_error = db_message_dup(PQresultErrorMessage(res));
		return db_result_is_retryable(res) ? -EAGAIN : -EIO;
	}
	return 0;
}

/* Blocking: run one parameterised query. */
int db_query(PGconn *conn, const char *sql, int nparams, const char *const *values, PGresult **ret,
             char **ret_error)
{
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);

	if (!res)
		return -ENOMEM;
	if (!db_result_ok(res)) {
		int r = db_result_is_retryable(res) ? -EAGAIN : -EIO;
		*ret_error = db_message_dup(PQresultErrorMessage(res));
		PQclear(res);
		return r;
	}
	*ret = res;
	return 0;
}

/* The SQLSTATE of a failed result, or NULL. */
const char *db_result_sqlstate(const PGresult *res)
{
	return res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
}

/* The primary message of a failed result, or "". */
const char *db_result_message(const PGresult *res)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	return m ? m : "";
}

/* unique_violation (SQLSTATE 23505). */
bool db_sqlstate_is_unique_violation(const char *state)
{
	return state && strcmp(state, "23505") == 0;
}

/* Serialization failures and deadlocks (SQLSTATE class 40) may succeed when retried. */
bool db_sqlstate_is_retryable(const char *state)
{
	return state && strncmp(state, "40", 2) == 0;
}

/* Whether the server cancelled the statement: query_canceled or lock_not_available. */
bool db_sqlstate_is_timeout(const char *state)
{
	return state && (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0);
}

/* SQLSTATE classes whose cause can lie in one row's values. */
bool db_sqlstate_is_data_error(const char *state)
{
	static const char *const classes[] = {"22", "23", "2F", "38", "39", "54", "P0", "XX"};

	for (size_t i = 0; state && i < ELEMENTSOF(classes); i++)
		if (strncmp(state, classes[i], 2) == 0)
			return true;
	return false;
}

/* unique_violation (SQLSTATE 23505). */
bool db_result_is_unique_violation(const PGresult *res)
{
	return db_sqlstate_is_unique_violation(db_result_sqlstate(res));
}

/* Serialization failures and deadlocks may succeed when retried. */
bool db_result_is_retryable(const PGresult *res)
{
	return db_sqlstate_is_retryable(db_result_sqlstate(res));
}

/* Whether the server cancelled the statement. */
bool db_result_is_timeout(const PGresult *res)
{
	return db_sqlstate_is_timeout(db_result_sqlstate(res));
}

#define DB_SECRET_MASK     "********"
/* What db_url_mask returns instead of echoing a string it cannot take apart. */
#define DB_URL_UNPARSEABLE "(unparseable connection string, not shown)"
#define DB_URL_AMBIGUOUS   "(connection URI with an '@' outside its user info, not shown)"

/* A growing string for db_url_mask. */
struct mask_buf {
	char *p;
	size_t len, size;
};

/* Append n bytes. */
static void mask_put(struct mask_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->size) {
		b->size = 2 * (b->len + n + 1);
		b->p = xrealloc(b->p, b->size);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Append a string. */
static void mask_puts(struct mask_buf *b, const char *s)
{
	mask_put(b, s, strlen(s));
}

/* Append s[0, n) percent-encoded for a URI: only RFC 3986 unreserved characters and those
 * in keep stay as they are, which libpq decodes back to the same value everywhere. */
static void mask_put_pct(struct mask_buf *b, const char *s, size_t n, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[3] = {'%', hex[c >> 4], hex[c & 15]};

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c) || (keep && strchr(keep, c)))
			mask_put(b, s + i, 1);
		else
			mask_put(b, e, 3);
	}
}

/* Append a key=value string value, quoted and escaped when libpq needs it to be. */
static void mask_put_quoted(struct mask_buf *b, const char *v)
{
	if (*v && !strpbrk(v, " \t\n\v\f\r'\\")) {
		mask_puts(b, v);
		return;
	}
	mask_put(b, "'", 1);
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			mask_put(b, "\\", 1);
		mask_put(b, v, 1);
	}
	mask_put(b, "'", 1);
}

/* The value of a parsed option, or NULL when the string did not set it. */
static const char *conninfo_value(const PQconninfoOption *opts, const char *keyword)
{
	for (; opts->keyword; opts++)
		if (strcmp(opts->keyword, keyword) == 0)
			return opts->val;
	return NULL;
}

/* Whether libpq treats an option as a secret: the password, and every option its table
 * marks for hiding in a connect dialog (dispchar "*": sslpassword, and later ones); and a
 * dbname that is itself a connection string (it may hold a password of its own, which a
 * nested parse would not mask). */
static bool conninfo_is_secret(const PQconninfoOption *o)
{
	if (strcmp(o->keyword, "dbname") == 0 && o->val)
		return strchr(o->val, '=') || strncmp(o->val, "postgres://", 11) == 0 ||
		       strncmp(o->val, "postgresql://", 13) == 0;
	return strcmp(o->keyword, "password") == 0 || (o->dispchar && o->dispchar[0] == '*');
}

/* Length of the URI designator libpq recognises at the start of s, or 0 (key=value). */
static size_t uri_prefix_len(const char *s)
{
	if (strncmp(s, "postgresql://", strlen("postgresql://")) == 0)
		return strlen("postgresql://");
	if (strncmp(s, "postgres://", strlen("postgres://")) == 0)
		return strlen("postgres://");
	return 0;
}

/* Whether a URI (after its designator) has an '@' besides the one ending the user info.
 * libpq reads it as part of a host, port, database or parameter, but it was probably
 * meant for an unencoded password ("u:p@ss@h", "u:pa/ss@h"): that must not be shown. */
static bool uri_has_stray_at(const char *rest)
{
	size_t n = strcspn(rest, "@/");

	return strchr(rest[n] == '@' ? rest + n + 1 : rest, '@') != NULL;
}

/* Whether host and port can be written as URI netlocs ("h1:p1,h2:p2") and parsed back
 * to the same two values; when not, they go in the query string. */
static bool uri_netloc_fits(const char *host, const char *port)
{
	size_t hosts = 0, ports = 0;

	if (!host || !*host)
		return false;
	for (const char *p = host; (p = strchr(p, ',')); p++)
		hosts++;
	for (const char *p = port; p && (p = strchr(p, ',')); p++)
		ports++;
	/* libpq gives a URI's host list a port list of the same length (",," when empty). */
	return port ? hosts == ports : hosts == 0;
}

/* Append the netlocs of a host list and its port list (checked by uri_netloc_fits). */
static void uri_put_netlocs(struct mask_buf *b, const char *host, const char *port)
{
	while (host) {
		size_t hn = strcspn(host, ","), pn = port ? strcspn(port, ",") : 0;
		bool ipv6 = memchr(host, ':', hn) != NULL;

		if (ipv6)
			mask_puts(b, "[");
		mask_put_pct(b, host, hn, ipv6 ? ":" : NULL);
		if (ipv6)
			mask_puts(b, "]");
		if (pn) {
			mask_puts(b, ":");
			mask_put_pct(b, port, pn, NULL);
		}
		if (host[hn])
			mask_puts(b, ",");
		host = host[hn] ? host + hn + 1 : NULL;
		port = port && port[pn] ? port + pn + 1 : NULL;
	}
}

/* Rebuild a URI from parsed options: user info, netlocs and database in place, every other
 * option as a query parameter, secrets masked, everything percent-encoded. */
static void uri_mask(struct mask_buf *b, const char *s, size_t prefix_len,
                     const PQconninfoOption *opts)
{
	const char *user = conninfo_value(opts, "user"), *dbname = conninfo_value(opts, "dbname");
	const char *host = conninfo_value(opts, "host"), *port = conninfo_value(opts, "port");
	bool netloc = uri_netloc_fits(host, port);
	char sep = '?';

	mask_put(b, s, prefix_len);
	if (user) {
		mask_put_pct(b, user, strlen(user), NULL);
		mask_puts(b, conninfo_value(opts, "password") ? ":" DB_SECRET_MASK "@" : "@");
	}
	if (netloc)
		uri_put_netlocs(b, host, port);
	if (dbname) {
		mask_puts(b, "/");
		for (const PQconninfoOption *o = opts; o->keyword; o++)
			if (strcmp(o->keyword, "dbname") == 0 && conninfo_is_secret(o))
				dbname = DB_SECRET_MASK;
		mask_put_pct(b, dbname, strlen(dbname), "*");
	}
	for (const PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || strcmp(o->keyword, "user") == 0 || strcmp(o->keyword, "dbname") == 0)
			continue;
		if (netloc && (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "port") == 0))
			continue;
		if (user && strcmp(o->keyword, "password") == 0)
			continue;
		mask_put(b, &sep, 1);
		sep = '&';
		mask_put_pct(b, o->keyword, strlen(o->keyword), NULL);
		mask_puts(b, "=");
		if (conninfo_is_secret(o))
			mask_puts(b, DB_SECRET_MASK);
		else
			mask_put_pct(b, o->val, strlen(o->val), NULL);
	}
}

/* Append one keyword=value pair of a key=value string, masked when secret. */
static void keywords_put(struct mask_buf *b, const PQconninfoOption *o)
{
	if (b->len)
		mask_puts(b, " ");
	mask_puts(b, o->keyword);
	mask_puts(b, "=");
	if (conninfo_is_secret(o))
		mask_puts(b, DB_SECRET_MASK);
	else
		mask_put_quoted(b, o->val);
}

/* Rebuild a key=value string from parsed options: where to connect first, then the rest in
 * libpq's order, secrets masked. */
static void keywords_mask(struct mask_buf *b, const PQconninfoOption *opts)
{
	static const char *const first[] = {"host", "hostaddr", "port", "dbname", "user"};
	size_t i;

	for (i = 0; i < ELEMENTSOF(first); i++)
		for (const PQconninfoOption *o = opts; o->keyword; o++)
			if (o->val && strcmp(o->keyword, first[i]) == 0)
				keywords_put(b, o);
	for (const PQconninfoOption *o = opts; o->keyword; o++) {
		for (i = 0; i < ELEMENTSOF(first) && strcmp(o->keyword, first[i]) != 0; i++)
			;
		if (o->val && i == ELEMENTSOF(first))
			keywords_put(b, o);
	}
}

/* Copy a libpq connection URI or key=value string with every secret masked. libpq parses
 * it, so the copy holds exactly what libpq would use, and never a byte of a secret. */
char *db_url_mask(const char *s)
{
	struct mask_buf b = {0};
	size_t prefix_len = uri_prefix_len(s);
	PQconninfoOption *opts;
	char *err = NULL;

	if (prefix_len && uri_has_stray_at(s + prefix_len))
		return xstrdup(DB_URL_AMBIGUOUS);
	opts = PQconninfoParse(s, &err);
	if (!opts) {
		/* The message may quote the input: not shown either. */
		PQfreemem(err);
		return xstrdup(DB_URL_UNPARSEABLE);
	}
	mask_put(&b, "", 0);
	if (prefix_len)
		uri_mask(&b, s, prefix_len, opts);
	else
		keywords_mask(&b, opts);
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val)
			explicit_bzero(o->val, strlen(o->val));
	PQconninfoFree(opts);
	return b.p;
}

/* A cheap xorshift for reconnect jitter; quality does not matter here. */
static uint32_t db_random(struct db_async *db)
{
	uint32_t x = db->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return db->rng = x;
}

static void db_async_connect_start(struct db_async *db);
static void db_async_prepare_next(struct db_async *db);
static int db_async_flush(struct db_async *db);
static int db_async_dispatch(struct db_async *db, int sent, db_result_fn cb, void *userdata);
static void db_async_on_read(evutil_socket_t fd, short what, void *arg);
static void db_async_on_write(evutil_socket_t fd, short what, void *arg);

/* Release the connection and its events. */
static void db_async_teardown(struct db_async *db)
{
	if (db->ev_conn)
		event_free(db->ev_conn);
	if (db->ev_read)
		event_free(db->ev_read);
	if (db->ev_write)
		event_free(db->ev_write);
	db->ev_conn = db->ev_read = db->ev_write = NULL;
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
	PQclear(db->result);
	db->result = NULL;
	db->copy_data = NULL;
	db->copy_len = 0;
	db->copy_cb = NULL;
	db->copy_next = NULL;
	db->copying = false;
}

/* The connection broke or could not be made: fail what is in flight, retry later. */
static void db_async_lost(struct db_async *db, const char *why)
{
	bool was_connected = db->state == DB_CONNECTED;

	if (db->state == DB_PREPARING) {
		/* A PREPARE in flight is internal: nobody else waits for it. */
		db->in_flight = false;
		db->cb = NULL;
	}
	bool in_flight = db->in_flight;
	db_result_fn cb = db->cb;
	void *cb_userdata = db->cb_userdata;
	struct timeval tv;
	unsigned delay;

	if (db->conn)
		log_event(LOG_LEVEL_DEBUG, "db.lost", "why=%s detail=%s", why,
		          PQerrorMessage(db->conn));
	db_async_teardown(db);
	db->state = DB_DISCONNECTED;
	db->in_flight = false;
	db->cb = NULL;
	delay = backoff_next_ms(&db->backoff, db_random(db));
	tv = loop_tv(delay);
	evtimer_add(db->ev_timer, &tv);
	if (in_flight && cb)
		cb(cb_userdata, NULL, -ECONNRESET);
	if (was_connected && db->state_cb)
		db->state_cb(db->userdata, false);
}

/* Connection established: switch to steady-state events. */
static void db_async_on_connected(struct db_async *db)
{
	evutil_socket_t fd = PQsocket(db->conn);

	event_free(db->ev_conn);
	db->ev_conn = NULL;
	evtimer_del(db->ev_timer);
	PQsetNoticeProcessor(db->conn, db_notice, NULL);
	db->ev_read = event_new(db->base, fd, EV_READ | EV_PERSIST, db_async_on_read, db);
	db->ev_write = event_new(db->base, fd, EV_WRITE, db_async_on_write, db);
	event_add(db->ev_read, NULL);
	db->state = DB_PREPARING;
	db->prepared = 0;
	db->listening = false;
	db_async_prepare_next(db);
}

/* Every statement is prepared: the connection is usable. */
static void db_async_ready(struct db_async *db)
{
	db->state = DB_CONNECTED;
	backoff_reset(&db->backoff);
	log_event(LOG_LEVEL_DEBUG, "db.connected", "server_version=%d", PQserverVersion(db->conn));
	if (db->state_cb)
		db->state_cb(db->userdata, true);
}

/* One PREPARE finished: go on with the next, or give up on this connection. */
static void db_async_on_prepared(void *userdata, const PGresult *res, int r)
{
	struct db_async *db = userdata;

	if (r < 0)
		return; /* the connection was lost; db_async_lost already rescheduled */
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		log_event(LOG_LEVEL_DEBUG, "db.prepare_failed", "name=%s detail=%s",
		          db->prepare[db->prepared].name, PQresultErrorMessage(res));
		/* Probably not migrated yet: try again later, from a new connection. */
		event_active(db->ev_write, EV_WRITE, 0);
		db->prepare_failed = true;
		return;
	}
	db->prepared++;
	db_async_prepare_next(db);
}

/* LISTEN finished: the connection is usable, or this one is given up like a failed PREPARE. */
static void db_async_on_listening(void *userdata, const PGresult *res, int r)
{
	struct db_async *db = userdata;

	if (r < 0)
		return;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		log_event(LOG_LEVEL_DEBUG, "db.listen_failed", "detail=%s",
		          PQresultErrorMessage(res));
		event_active(db->ev_write, EV_WRITE, 0);
		db->prepare_failed = true;
		return;
	}
	db->listening = true;
	db_async_prepare_next(db);
}

/* Send LISTEN for the configured channel, quoted as an identifier. */
static void db_async_listen_start(struct db_async *db)
{
	char *ident = PQescapeIdentifier(db->conn, db->listen, strlen(db->listen));
	_cleanup_free_ char *sql = ident ? xasprintf("LISTEN %s", ident) : NULL;

	PQfreemem(ident);
	if (!sql) {
		db_async_lost(db, "listen_escape_failed");
		return;
	}
	(void)db_async_dispatch(db, PQsendQuery(db->conn, sql), db_async_on_listening, db);
}

/* Prepare the next statement, then LISTEN, then report the connection ready. */
static void db_async_prepare_next(struct db_async *db)
{
	const struct db_prepared *p;

	if (db->prepared == db->n_prepare && db->listen && !db->listening) {
		db_async_listen_start(db);
		return;
	}
	if (db->prepared == db->n_prepare) {
		db_async_ready(db);
		return;
	}
	p = &db->prepare[db->prepared];
	(void)db_async_dispatch(db, PQsendPrepare(db->conn, p->name, p->sql, 0, NULL),
	                        db_async_on_prepared, db);
}

/* Wait for the readiness PQconnectPoll asked for. */
static void db_async_connect_wait(struct db_async *db, short what);

/* Advance the non-blocking connection handshake. */
static void db_async_on_connect_io(evutil_socket_t fd, short what, void *arg)
{
	struct db_async *db = arg;

	switch (PQconnectPoll(db->conn)) {
	case PGRES_POLLING_READING:
		db_async_connect_wait(db, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		db_async_connect_wait(db, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		db_async_on_connected(db);
		break;
	default:
		db_async_lost(db, "connect_failed");
		break;
	}
}

/* Wait for the readiness PQconnectPoll asked for; the socket may change between steps. */
static void db_async_connect_wait(struct db_async *db, short what)
{
	if (db->ev_conn)
		event_free(db->ev_conn);
	db->ev_conn = event_new(db->base, PQsocket(db->conn), what, db_async_on_connect_io, db);
	event_add(db->ev_conn, NULL);
}

/* Start a non-blocking connection attempt with a deadline. */
static void db_async_connect_start(struct db_async *db)
{
	struct timeval tv = loop_tv(db->connect_timeout_ms);

	const char *const keys[] = {"dbname", db->options ? "options" : NULL, NULL};
	const char *const values[] = {db->url, db->options, NULL};

	/* expand_dbname: the URL supplies everything, later keywords override it. */
	db->conn = PQconnectStartParams(keys, values, 1);
	db->state = DB_CONNECTING;
	if (!db->conn || PQstatus(db->conn) == CONNECTION_BAD ||
	    PQsetnonblocking(db->conn, 1) != 0) {
		db_async_lost(db, "connect_start_failed");
		return;
	}
	evtimer_add(db->ev_timer, &tv);
	db_async_connect_wait(db, EV_WRITE);
}

/* Reconnect delay elapsed, or the connect deadline passed. */
static void db_async_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct db_async *db = arg;

	if (db->state == DB_DISCONNECTED)
		db_async_connect_start(db);
	else if (db->state == DB_CONNECTING)
		db_async_lost(db, "connect_timeout");
}

/* Append " -c name=value" to a libpq options string, escaping blanks and backslashes. */
static char *options_append(char *options, const char *setting)
{
	size_t n = options ? strlen(options) : 0, len = strlen(setting);
	char *s = xmalloc(n + 4 + 2 * len + 1), *p = s;

	if (n) {
		memcpy(p, options, n);
		p += n;
		*p++ = ' ';
	}
	memcpy(p, "-c ", 3);
	p += 3;
	for (size_t i = 0; i < len; i++) {
		if (setting[i] == ' ' || setting[i] == '\\' || setting[i] == '\t')
			*p++ = '\\';
		*p++ = setting[i];
	}
	*p = '\0';
	free(options);
	return s;
}

/* The libpq "options" of a session: the caller's settings and, when one is given, its
 * statement_timeout; NULL when there are none (the server's and role's defaults apply). */
char *db_async_session_options(const struct db_async_options *opts)
{
	char *options = NULL;

	for (const char *const *s = opts->settings; s && *s; s++)
		options = options_append(options, *s);
	if (opts->statement_timeout_ms > 0) {
		_cleanup_free_ char *t =
		    xasprintf("statement_timeout=%u", opts->statement_timeout_ms);
		options = options_append(options, t);
	}
	return options;
}

/* Create an asynchronous connection; it starts connecting at once. */
struct db_async *db_async_new(struct event_base *base, const struct db_async_options *opts,
                              db_state_fn state_cb, void *userdata)
{
	struct db_async *db = xcalloc(1, sizeof(*db));
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	db->base = base;
	db->url = xstrdup(opts->url);
	db->backoff.base_ms = opts->reconnect_base_ms ? opts->reconnect_base_ms : 50;
	db->backoff.cap_ms = opts->reconnect_max_ms ? opts->reconnect_max_ms : 5000;
	db->connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : 2000;
	db->prepare = opts->prepare;
	db->n_prepare = opts->n_prepare;
	db->options = db_async_session_options(opts);
	db->listen = opts->listen ? xstrdup(opts->listen) : NULL;
	db->notify = opts->notify;
	db->rng = (uint32_t)ts.tv_nsec | 1u;
	db->state_cb = state_cb;
	db->userdata = userdata;
	db->ev_timer = evtimer_new(base, db_async_on_timer, db);
	db_async_connect_start(db);
	return db;
}

/* Close the connection without calling any callback. */
void db_async_free(struct db_async *db)
{
	if (!db)
		return;
	db_async_teardown(db);
	event_free(db->ev_timer);
	free(db->options);
	free(db->listen);
	free(db->url);
	free(db);
}

/* Connected and no statement in flight. */
bool db_async_idle(const struct db_async *db)
{
	return db->state == DB_CONNECTED && !db->in_flight;
}

/* A literal for SQL text on this connection. */
char *db_async_literal(struct db_async *db, const char *s)
{
	char *lit, *copy;

	if (db->state != DB_CONNECTED)
		return NULL;
	lit = PQescapeLiteral(db->conn, s, strlen(s));
	if (!lit)
		return NULL;
	copy = xstrdup(lit);
	PQfreemem(lit);
	return copy;
}

/* Whether the connection is usable. */
bool db_async_connected(const struct db_async *db)
{
	return db->state == DB_CONNECTED;
}

/* Push pending output; arm the write event while libpq still has bytes to send. */
static int db_async_flush(struct db_async *db)
{
	int r = PQflush(db->conn);

	if (r < 0)
		return -ECONNRESET;
	if (r > 0)
		event_add(db->ev_write, NULL);
	return 0;
}

/* A statement was handed to libpq (sent != 0): remember its callback and start writing. */
static int db_async_dispatch(struct db_async *db, int sent, db_result_fn cb, void *userdata)
{
	if (!sent) {
		db_async_lost(db, "send_failed");
		return -ENOTCONN;
	}
	db->in_flight = true;
	db->cb = cb;
	db->cb_userdata = userdata;
	/* A failed flush is noticed on the next loop iteration, never inside this call, so
	 * the callback does not run before the caller has returned. */
	if (db_async_flush(db) < 0)
		event_active(db->ev_write, EV_WRITE, 0);
	return 0;
}

/* Whether a statement may be sent now: -ENOTCONN, -EBUSY or 0. */
static int db_async_sendable(const struct db_async *db)
{
	if (db->state != DB_CONNECTED)
		return -ENOTCONN;
	return db->in_flight ? -EBUSY : 0;
}

/* Send a prepared statement with parameters. */
int db_async_send_prepared(struct db_async *db, const char *name, int nparams,
                           const char *const *values, const int *lengths, const int *formats,
                           db_result_fn cb, void *userdata)
{
	int r = db_async_sendable(db);

	if (r < 0)
		return r;
	return db_async_dispatch(
	    db, PQsendQueryPrepared(db->conn, name, nparams, values, lengths, formats, 0), cb,
	    userdata);
}

/* Send a COPY ... FROM STDIN statement; its data goes out when the server asks for it. */
int db_async_send_copy(struct db_async *db, const char *sql, const void *data, size_t len,
                       db_result_fn cb, void *userdata)
{
	int r = db_async_sendable(db);

	if (r < 0)
		return r;
	db->copy_data = data;
	db->copy_len = len;
	return db_async_dispatch(db, PQsendQuery(db->conn, sql), cb, userdata);
}

/* Send SQL text ending in a COPY whose stream copy_cb makes whole, or next a chunk at a time,
 * once the statements before it have answered. */
static int db_async_send_text(struct db_async *db, const char *sql, db_copy_fn copy_cb,
                              db_copy_next_fn next, db_result_fn cb, void *userdata)
{
	int r = db_async_sendable(db);

	if (r < 0)
		return r;
	db->copy_cb = copy_cb;
	db->copy_next = next;
	return db_async_dispatch(db, PQsendQuery(db->conn, sql), cb, userdata);
}

/* Send SQL text ending in a COPY whose stream copy_cb makes once the statements before it
 * have answered. */
int db_async_send_copy_query(struct db_async *db, const char *sql, db_copy_fn copy_cb,
                             db_result_fn cb, void *userdata)
{
	return db_async_send_text(db, sql, copy_cb, NULL, cb, userdata);
}

/* Send SQL text ending in a COPY whose stream next makes a chunk at a time. */
int db_async_send_copy_stream(struct db_async *db, const char *sql, db_copy_next_fn next,
                              db_result_fn cb, void *userdata)
{
	return db_async_send_text(db, sql, NULL, next, cb, userdata);
}

/* A streamed COPY: once libpq has sent everything it holds, the next chunk (or the end), then
 * back to the loop, which calls again when the socket can take more. So libpq never holds
 * more than about a chunk, and other events run between chunks. An error of the server comes
 * with the statement's result, after the end of the copy. */
static int db_async_copy_pump(struct db_async *db)
{
	const void *data = NULL;
	const char *p;
	size_t len = 0;
	int r = PQflush(db->conn);

	if (r < 0)
		return -ECONNRESET;
	if (r > 0) {
		event_add(db->ev_write, NULL);
		return 0;
	}
	r = db->copy_next(db->cb_userdata, db->result, &data, &len);
	if (r <= 0) {
		db->copying = false;
		db->copy_next = NULL;
		if (PQputCopyEnd(db->conn, r < 0 ? "the COPY stream was abandoned" : NULL) != 1)
			return -ECONNRESET;
		return db_async_flush(db);
	}
	for (p = data; len > 0;) {
		int n = len > DB_COPY_CHUNK ? DB_COPY_CHUNK : (int)len;
		if (PQputCopyData(db->conn, p, n) != 1)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	if (PQflush(db->conn) < 0)
		return -ECONNRESET;
	event_add(db->ev_write, NULL); /* the next chunk from the loop, when the socket takes it */
	return 0;
}

/* The server is ready for COPY data: queue the whole stream and its end in libpq's output
 * buffer (it grows; nothing blocks), then flush what the socket takes. A COPY nobody asked
 * for, or whose stream its callback refused to make, is aborted, which fails the statement. */
static int db_async_copy_out(struct db_async *db)
{
	const char *p = db->copy_data;
	size_t left = db->copy_len;
	db_copy_fn copy_cb = db->copy_cb;

	if (db->copy_next) {
		db->copying = true;
		return db_async_copy_pump(db);
	}
	db->copy_data = NULL;
	db->copy_len = 0;
	db->copy_cb = NULL;
	if (copy_cb) {
		const void *data = NULL;

		if (copy_cb(db->cb_userdata, db->result, &data, &left) < 0)
			data = NULL, left = 0;
		p = data;
	}
	if (!p)
		return PQputCopyEnd(db->conn, copy_cb ? "no COPY data" : "unexpected COPY") == 1
		           ? db_async_flush(db)
		           : -ECONNRESET;
	while (left > 0) {
		int n = left > DB_COPY_CHUNK ? DB_COPY_CHUNK : (int)left;
		if (PQputCopyData(db->conn, p, n) != 1)
			return -ECONNRESET;
		p += n;
		left -= (size_t)n;
	}
	if (PQputCopyEnd(db->conn, NULL) != 1)
		return -ECONNRESET;
	return db_async_flush(db);
}

/* Output can progress. */
static void db_async_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct db_async *db = arg;

	if (db->prepare_failed) {
		db->prepare_failed = false;
		db_async_lost(db, "prepare_failed");
		return;
	}
	if (db->copying) {
		if (db_async_copy_pump(db) < 0)
			db_async_lost(db, "copy_failed");
		return;
	}
	if (db_async_flush(db) < 0)
		db_async_lost(db, "flush_failed");
}

/* Hand the finished statement's result to its callback. */
static void db_async_complete(struct db_async *db)
{
	PGresult *res = db->result;
	db_result_fn cb = db->cb;
	void *cb_userdata = db->cb_userdata;

	db->result = NULL;
	db->in_flight = false;
	db->cb = NULL;
	db->copy_data = NULL;
	db->copy_len = 0;
	db->copy_cb = NULL;
	db->copy_next = NULL;
	db->copying = false;
	cb(cb_userdata, res, 0);
	PQclear(res);
}

/* Keep the result the callback gets: the first one, unless a later one is an error. A
 * statement's rows can come before an error raised at commit (a deferred constraint, a
 * serialization failure): the statement then failed, and must not be reported as done. */
static bool result_is_error(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE;
}

static void db_async_keep_result(struct db_async *db, PGresult *res)
{
	/* Kept: the first result, unless it succeeded and this one is an error; of two errors,
	 * the first is the one that says why. */
	if (db->result && (result_is_error(db->result) || !result_is_error(res))) {
		PQclear(res);
		return;
	}
	PQclear(db->result);
	db->result = res;
}

/* Input arrived: collect results, or notice that an idle connection died. */
static void db_async_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct db_async *db = arg;
	PGnotify *n;

	if (!PQconsumeInput(db->conn) || PQstatus(db->conn) == CONNECTION_BAD) {
		db_async_lost(db, "read_failed");
		return;
	}
	while ((n = PQnotifies(db->conn))) {
		if (db->notify && db->state == DB_CONNECTED)
			db->notify(db->userdata, n->relname, n->extra);
		PQfreemem(n);
		if (!db->conn)
			return; /* the callback reset the connection */
	}
	if (db->copying)
		return; /* results come after the copy's end; the write event drives the copy */
	if (db->in_flight && PQflush(db->conn) < 0) {
		db_async_lost(db, "flush_failed");
		return;
	}
	while (db->in_flight && !PQisBusy(db->conn)) {
		PGresult *res = PQgetResult(db->conn);
		if (!res) {
			db_async_complete(db);
			return;
		}
		if (PQresultStatus(res) == PGRES_COPY_IN) {
			PQclear(res);
			if (db_async_copy_out(db) < 0) {
				db_async_lost(db, "copy_failed");
				return;
			}
			if (db->copying)
				return; /* the rest of the stream goes out from the write event */
			continue;
		}
		db_async_keep_result(db, res);
	}
}

/* Drop the connection and reconnect after the backoff delay. */
void db_async_reset(struct db_async *db)
{
	if (db->state == DB_DISCONNECTED)
		return;
	db_async_lost(db, "reset");
}
