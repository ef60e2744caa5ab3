/* PostgreSQL access: the only module that opens connections or runs statements (libpq).
 * Blocking helpers serve the CLI, migrations and tests; struct db_async drives one
 * connection on a libevent loop with libpq's asynchronous API, running statements it
 * prepares on every (re)connection, and never blocks. */
#pragma once

#include <stdbool.h>

#include <libpq-fe.h>

#include "xalloc.h"

struct event_base;

/* Scope-bound PGresult cleanup. */
static inline void pgresult_clearp(PGresult **p)
{
	PQclear(*p);
}
#define _cleanup_pgresult_ _cleanup_(pgresult_clearp)

/* Blocking: connect to url; on failure *ret_error is a new message without secrets. */
int db_connect(const char *url, PGconn **ret, char **ret_error) _warn_unused_result_;
void db_close(PGconn *conn);
/* Blocking: run one or more statements without parameters; -EIO with *ret_error on failure. */
int db_exec(PGconn *conn, const char *sql, char **ret_error) _warn_unused_result_;
/* Blocking: run a parameterised query returning rows or a command status.
 * On success *ret is the caller's; on failure *ret_error is a new message. */
int db_query(PGconn *conn, const char *sql, int nparams, const char *const *values, PGresult **ret,
             char **ret_error) _warn_unused_result_;
/* The SQLSTATE of a failed result, or NULL (a result libpq made itself, a success). */
const char *db_result_sqlstate(const PGresult *res);
/* The primary message of a failed result, or "" (never NULL). */
const char *db_result_message(const PGresult *res);
/* Classifiers of a SQLSTATE (NULL: none, every answer false):
 * retryable: a retry may succeed (serialization failure, deadlock: class 40);
 * unique violation: 23505;
 * timeout: the server cancelled the statement (statement_timeout, lock_timeout, a cancel);
 * data error: a class whose cause can lie in the values of one row: data exceptions (22),
 *   integrity constraints (23), routine exceptions (2F, 38, 39), program limits (54),
 *   PL/pgSQL raise (P0) and internal errors (XX); a multi-row statement failing so may
 *   succeed without that row. */
bool db_sqlstate_is_retryable(const char *state);
bool db_sqlstate_is_unique_violation(const char *state);
bool db_sqlstate_is_timeout(const char *state);
bool db_sqlstate_is_data_error(const char *state);
/* The same, of a failed result. */
bool db_result_is_retryable(const PGresult *res);
bool db_result_is_unique_violation(const PGresult *res);
bool db_result_is_timeout(const PGresult *res);
/* A new copy of a connection URI or key=value string for logs and --print-config: parsed by
 * libpq and rebuilt from what it read, with every secret (password, sslpassword, any option
 * libpq hides) as "********". A string libpq cannot parse, or a URI with a stray '@' (an
 * unencoded password), comes back as a placeholder in parentheses, never echoed. */
char *db_url_mask(const char *url);

/* Called with the statement's result (borrowed: freed after the callback returns) or NULL
 * and a negative errno: -ECONNRESET when the connection broke, -ETIMEDOUT never (callers
 * keep their own deadline and call db_async_reset). */
typedef void (*db_result_fn)(void *userdata, const PGresult *res, int r);
/* Called whenever the connection becomes usable (true) or is lost (false). */
typedef void (*db_state_fn)(void *userdata, bool connected);
/* A NOTIFY arrived on the channel the connection listens on; both strings are borrowed for
 * the call. Notifications sent while the connection was down are lost: a listener polls when
 * db_state_fn reports the connection usable again. */
typedef void (*db_notify_fn)(void *userdata, const char *channel, const char *payload);

/* A statement prepared on every (re)connection before the connection counts as usable. */
struct db_prepared {
	const char *name;
	const char *sql;
};

struct db_async_options {
	const char *url;
	const struct db_prepared *prepare; /* borrowed; must outlive the connection */
	size_t n_prepare;
	unsigned reconnect_base_ms;
	unsigned reconnect_max_ms;
	unsigned connect_timeout_ms;
	unsigned statement_timeout_ms; /* 0: the server's or role's default; else the session's */
	/* Server settings for the session, "name=value" each (e.g. "plan_cache_mode=
	 * force_generic_plan"), NULL-terminated; NULL: none. Copied by db_async_new(). */
	const char *const *settings;
	/* A channel to LISTEN on from every (re)connection, before it counts as usable; NULL:
	 * none. Notifications go to notify. Copied by db_async_new(). */
	const char *listen;
	db_notify_fn notify;
};

struct db_async;

/* The libpq "options" string a connection made with opts sends: "-c name=value" for each of
 * opts->settings (blanks and backslashes escaped), then statement_timeout when
 * statement_timeout_ms is not 0; NULL when there is nothing to send, so the server's, the
 * database's and the role's defaults apply. A new string (exposed for tests). */
char *db_async_session_options(const struct db_async_options *opts);

struct db_async *db_async_new(struct event_base *base, const struct db_async_options *opts,
                              db_state_fn state_cb, void *userdata);
void db_async_free(struct db_async *db);
/* Connected and no statement in flight. */
bool db_async_idle(const struct db_async *db);
bool db_async_connected(const struct db_async *db);
/* Send a statement named in db_async_options.prepare; -ENOTCONN when not connected, -EBUSY
 * when one is in flight. values/lengths/formats must stay valid until the callback runs. */
int db_async_send_prepared(struct db_async *db, const char *name, int nparams,
                           const char *const *values, const int *lengths, const int *formats,
                           db_result_fn cb, void *userdata) _warn_unused_result_;
/* Send a COPY ... FROM STDIN statement without parameters; once the server is ready the len
 * bytes at data (the whole stream, e.g. FORMAT binary) follow, then the end of the copy. The
 * callback gets the statement's final result (PGRES_COMMAND_OK, or the error). data must stay
 * valid until the callback runs. -ENOTCONN / -EBUSY as db_async_send_prepared(). */
int db_async_send_copy(struct db_async *db, const char *sql, const void *data, size_t len,
                       db_result_fn cb, void *userdata) _warn_unused_result_;
/* Called when the server asks for the COPY data of db_async_send_copy_query(), with the
 * result of the statements before the COPY in its text (the first one, or the error that
 * stopped them; borrowed). Points *data at the whole stream, which must stay valid until the
 * result callback runs, and returns 0; or returns a negative errno, which aborts the COPY and
 * so fails the whole text. */
typedef int (*db_copy_fn)(void *userdata, const PGresult *before, const void **data, size_t *len);
/* Send SQL text without parameters whose statements end with one COPY ... FROM STDIN (e.g.
 * "EXECUTE name(...); COPY ..."): one round trip and one transaction, in which the copy's
 * stream can depend on what the statements before it returned. The result callback gets the
 * first statement's result, or the first error. -ENOTCONN / -EBUSY as
 * db_async_send_prepared(). */
int db_async_send_copy_query(struct db_async *db, const char *sql, db_copy_fn copy_cb,
                             db_result_fn cb, void *userdata) _warn_unused_result_;
/* Called each time the COPY of db_async_send_copy_stream() can take more, with the result of
 * the statements before it as for db_copy_fn: points *data at the next chunk of the stream
 * (valid until the next call or the result callback) and returns 1; returns 0 at its end, or
 * a negative errno, which aborts the COPY and so fails the whole text. */
typedef int (*db_copy_next_fn)(void *userdata, const PGresult *before, const void **data,
                               size_t *len);
/* db_async_send_copy_query() for a stream of any size: it goes out a chunk at a time, each
 * made when libpq has sent the one before (so at most about a chunk waits in memory), with
 * the loop's other events in between. */
int db_async_send_copy_stream(struct db_async *db, const char *sql, db_copy_next_fn next,
                              db_result_fn cb, void *userdata) _warn_unused_result_;
/* A string literal for SQL text sent on db's connection: s quoted and escaped as its server
 * reads it (PQescapeLiteral), a new string; NULL when db is not connected or s cannot be one
 * (not valid in the connection's encoding). */
char *db_async_literal(struct db_async *db, const char *s);
/* Drop the connection (failing any statement in flight with -ECONNRESET) and reconnect. */
void db_async_reset(struct db_async *db);
