/* hookrun audit seal|head|verify (cli_audit.h). */
#include "cli_audit.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_chain.h"
#include "cli_api.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "webhook_auth.h"
#include "xalloc.h"

/* One seal as read from hookrun.audit_seals. */
struct seal_row {
	long long block;
	char *xact_from, *xact_to;
	size_t n;
	int64_t *ids;
	unsigned char *shorts, *prev_hash, *hash;
	size_t shorts_len, prev_len, hash_len;
};

/* What verify has checked so far. */
struct verify {
	PGconn *conn;
	unsigned char prev[AUDIT_CHAIN_HASH_SIZE];
	char *prev_to; /* the previous block's xact_to */
	long long first, last;
	size_t events;
	long long expect_block;
	unsigned char expect_hash[AUDIT_CHAIN_HASH_SIZE];
	bool expect_seen;
};

static const char seal_sql[] =
    "SELECT block, xact_from::text, xact_to::text, n_events, array_to_string(event_ids, ' '), "
    "encode(digests, 'hex'), encode(prev_hash, 'hex'), encode(hash, 'hex') "
    "FROM hookrun.audit_seals WHERE block = $1::bigint";
static const char events_sql[] =
    "SELECT e.id, " AUDIT_CHAIN_EVENT_TEXT_SQL " FROM hookrun.audit_events e "
    "WHERE e.xact >= $1::xid8 AND e.xact < $2::xid8 "
    "ORDER BY e.id";

void cli_audit_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: hookrun audit COMMAND\n"
	    "  seal                      seal every event whose transaction has ended, in blocks\n"
	    "  head [--json] [--post URL]\n"
	    "                            the latest seal: block, hash, time (keep a copy of it\n"
	    "                            outside the database to anchor the chain); --post sends\n"
	    "                            it to URL, signed the Standard Webhooks way with\n"
	    "                            audit_head_secret (HOOKRUN_AUDIT_HEAD_SECRET[_FILE])\n"
	    "  verify [--from BLOCK] [--expect BLOCK:HASH] [--json]\n"
	    "                            recompute every event's digest and every block's hash;\n"
	    "                            --from starts at an archived block, trusting its link\n"
	    "                            to the one before; --expect checks a head kept outside\n"
	    "Exit status: 0 intact, 1 the chain is broken (the first bad block and event are\n"
	    "named) or the database failed, 2 usage.\n");
}

/* Free what a seal row holds. */
static void seal_row_fini(struct seal_row *s)
{
	free(s->xact_from);
	free(s->xact_to);
	free(s->ids);
	free(s->shorts);
	free(s->prev_hash);
	free(s->hash);
	memset(s, 0, sizeof(*s));
}

/* Decode the hex of column col into *ret (its length in *ret_len); -EBADMSG when malformed. */
static int column_hex(const PGresult *res, int col, unsigned char **ret, size_t *ret_len)
{
	const char *s = PQgetvalue(res, 0, col);

	return crypto_hex_decode(s, strlen(s), ret, ret_len);
}

/* Parse "1 2 3" into n ids; -EBADMSG when it holds another count or a non-number. */
static int parse_ids(const char *s, size_t n, int64_t **ret)
{
	int64_t *ids = xcalloc(n ? n : 1, sizeof(*ids));
	char *end;

	for (size_t i = 0; i < n; i++) {
		errno = 0;
		ids[i] = strtoll(s, &end, 10);
		if (end == s || errno) {
			free(ids);
			return -EBADMSG;
		}
		s = end;
	}
	if (*s != '\0') {
		free(ids);
		return -EBADMSG;
	}
	*ret = ids;
	return 0;
}

/* Read seal block: 0, -ENOENT when there is none, -EIO (with the reason in *ret_error) or
 * -EBADMSG for a seal that cannot be read. */
static int seal_load(PGconn *conn, long long block, struct seal_row *s, char **ret_error)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	char num[32];
	const char *values[1] = {num};

	snprintf(num, sizeof(num), "%lld", block);
	if (db_query(conn, seal_sql, 1, values, &res, ret_error) < 0)
		return -EIO;
	if (PQntuples(res) == 0)
		return -ENOENT;
	*s = (struct seal_row){.block = block,
	                       .xact_from = xstrdup(PQgetvalue(res, 0, 1)),
	                       .xact_to = xstrdup(PQgetvalue(res, 0, 2)),
	                       .n = strtoull(PQgetvalue(res, 0, 3), NULL, 10)};
	if (parse_ids(PQgetvalue(res, 0, 4), s->n, &s->ids) < 0 ||
	    column_hex(res, 5, &s->shorts, &s->shorts_len) < 0 ||
	    column_hex(res, 6, &s->prev_hash, &s->prev_len) < 0 ||
	    column_hex(res, 7, &s->hash, &s->hash_len) < 0 ||
	    s->shorts_len != s->n * AUDIT_CHAIN_SHORT_SIZE ||
	    s->prev_len != AUDIT_CHAIN_HASH_SIZE || s->hash_len != AUDIT_CHAIN_HASH_SIZE)
		return -EBADMSG;
	return 0;
}

/* The ids and digests of the events in seal s's range as they are now, in id order. */
static int events_load(PGconn *conn, const struct seal_row *s, int64_t **ret_ids,
                       unsigned char **ret_digests, size_t *ret_n, char **ret_error)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	const char *values[2] = {s->xact_from, s->xact_to};
	size_t n;
	int64_t *ids;
	unsigned char *digests;

	if (db_query(conn, events_sql, 2, values, &res, ret_error) < 0)
		return -EIO;
	n = (size_t)PQntuples(res);
	ids = xcalloc(n ? n : 1, sizeof(*ids));
	digests = xcalloc(n ? n : 1, AUDIT_CHAIN_HASH_SIZE);
	for (size_t i = 0; i < n; i++) {
		ids[i] = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
		if (audit_chain_event_digest(PQgetvalue(res, (int)i, 1),
		                             (size_t)PQgetlength(res, (int)i, 1),
		                             digests + i * AUDIT_CHAIN_HASH_SIZE) < 0) {
			free(ids);
			free(digests);
			return -ENOMEM;
		}
	}
	*ret_ids = ids;
	*ret_digests = digests;
	*ret_n = n;
	return 0;
}

/* Print a finding (text or JSON) and return the exit status 1. */
static int report(const struct verify *v, long long block, const char *what, int64_t event,
                  bool json, FILE *out)
{
	if (json)
		fprintf(out,
		        "{\"intact\":false,\"block\":%lld,\"finding\":\"%s\",\"event\":%" PRId64
		        "}\n",
		        block, what, event);
	else if (event)
		fprintf(out, "audit chain BROKEN at block %lld: event %" PRId64 " %s\n", block,
		        event, what);
	else
		fprintf(out, "audit chain BROKEN at block %lld: %s\n", block, what);
	return 1;
}

/* Check one block against its seal and the chain so far; 0 intact, 1 (reported) broken,
 * -ENOENT past the last seal, or another negative errno (reported on err). */
static int verify_block(struct verify *v, long long block, bool json, FILE *out, FILE *err)
{
	struct seal_row s = {0};
	_cleanup_free_ int64_t *ids = NULL;
	_cleanup_free_ unsigned char *digests = NULL;
	_cleanup_free_ char *e = NULL;
	size_t n = 0;
	int64_t event = 0;
	int r = seal_load(v->conn, block, &s, &e);

	if (r == -ENOENT)
		return r;
	if (r == -EBADMSG)
		r = report(v, block, "seal_unreadable", 0, json, out);
	else if (r >= 0 && block == v->first && block > 1)
		memcpy(v->prev, s.prev_hash, AUDIT_CHAIN_HASH_SIZE); /* trusted: --from */
	else if (r >= 0 && block > 1 && (!v->prev_to || strcmp(v->prev_to, s.xact_from) != 0))
		r = report(v, block, "range_gap", 0, json, out);
	if (r == 0 && (r = events_load(v->conn, &s, &ids, &digests, &n, &e)) == 0) {
		struct audit_chain_seal seal = {.prev_hash = s.prev_hash,
		                                .hash = s.hash,
		                                .n = s.n,
		                                .ids = s.ids,
		                                .shorts = s.shorts};

		r = audit_chain_check(&seal, v->prev, n, ids, digests, &event);
		if (r > 0)
			r = report(v, block, audit_chain_finding_to_string(r), event, json, out);
	}
	if (r == 0) {
		memcpy(v->prev, s.hash, AUDIT_CHAIN_HASH_SIZE);
		free(v->prev_to);
		v->prev_to = TAKE_PTR(s.xact_to);
		v->last = block;
		v->events += n;
		if (block == v->expect_block)
			v->expect_seen = memcmp(s.hash, v->expect_hash, AUDIT_CHAIN_HASH_SIZE) == 0;
	} else if (r < 0) {
		fprintf(err, "hookrun audit verify: block %lld: %s\n", block, e ? e : strerror(-r));
	}
	seal_row_fini(&s);
	return r;
}

/* The events no block holds yet: how many, and since when (a new string, or NULL). */
static int unsealed(const struct verify *v, long long *ret_n, char **ret_since, char **ret_error)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	const char *values[1] = {v->prev_to ? v->prev_to : "0"};

	if (db_query(
	        v->conn,
	        "SELECT count(*), min(at)::text FROM hookrun.audit_events WHERE xact >= $1::xid8",
	        1, values, &res, ret_error) < 0)
		return -EIO;
	*ret_n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*ret_since = PQgetisnull(res, 0, 1) ? NULL : xstrdup(PQgetvalue(res, 0, 1));
	return 0;
}

/* Whether a seal after the last one verified exists (one in between was removed): 1 and
 * reported, 0, or -EIO. */
static int seal_missing(const struct verify *v, bool json, FILE *out, FILE *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	_cleanup_free_ char *e = NULL;
	char after[32];
	const char *values[1] = {after};

	snprintf(after, sizeof(after), "%lld", v->last ? v->last : v->first - 1);
	if (db_query(v->conn, "SELECT min(block) FROM hookrun.audit_seals WHERE block > $1::bigint",
	             1, values, &res, &e) < 0) {
		fprintf(err, "hookrun audit verify: %s\n", e);
		return -EIO;
	}
	if (PQgetisnull(res, 0, 0))
		return 0;
	return report(v, strtoll(after, NULL, 10) + 1, "seal_missing", 0, json, out);
}

/* Print the verdict of a chain that held. */
static int verify_summary(const struct verify *v, bool json, FILE *out, FILE *err)
{
	_cleanup_free_ char *since = NULL, *e = NULL;
	long long pending = 0;

	if (v->expect_block && !v->expect_seen)
		return report(v, v->expect_block, "differs_from_expected_head", 0, json, out);
	if (unsealed(v, &pending, &since, &e) < 0) {
		fprintf(err, "hookrun audit verify: %s\n", e);
		return 1;
	}
	if (json)
		fprintf(out,
		        "{\"intact\":true,\"first_block\":%lld,\"last_block\":%lld,\"events\":%zu,"
		        "\"unsealed\":%lld}\n",
		        v->last ? v->first : 0, v->last, v->events, pending);
	else if (v->last)
		fprintf(out, "audit chain intact: blocks %lld-%lld, %zu events", v->first, v->last,
		        v->events);
	else
		fprintf(out, "audit chain intact: nothing sealed yet");
	if (!json)
		fprintf(out, "; %lld not sealed yet%s%s%s\n", pending,
		        since ? " (the oldest at " : "", since ? since : "", since ? ")" : "");
	return 0;
}

/* Parse --expect BLOCK:HASH into v; false when malformed. */
static bool parse_expect(const char *s, struct verify *v)
{
	char *end;
	_cleanup_free_ unsigned char *hash = NULL;
	size_t len = 0;

	errno = 0;
	v->expect_block = strtoll(s, &end, 10);
	if (errno || end == s || *end != ':' || v->expect_block < 1 ||
	    crypto_hex_decode(end + 1, strlen(end + 1), &hash, &len) < 0 ||
	    len != AUDIT_CHAIN_HASH_SIZE)
		return false;
	memcpy(v->expect_hash, hash, AUDIT_CHAIN_HASH_SIZE);
	return true;
}

/* hookrun audit verify [--from BLOCK] [--expect BLOCK:HASH] [--json]. */
static int cmd_verify(PGconn *conn, int argc, char **argv, FILE *out, FILE *err)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'},
	    {"expect", required_argument, NULL, 'e'},
	    {"json", no_argument, NULL, 'j'},
	    {0},
	};
	struct verify v = {.conn = conn, .first = 1};
	bool json = false;
	int c, r = 0;

	_cleanup_free_ char *e = NULL;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f' && (v.first = strtoll(optarg, NULL, 10)) >= 1)
			continue;
		if (c == 'e' && parse_expect(optarg, &v))
			continue;
		if (c == 'j') {
			json = true;
			continue;
		}
		fprintf(err, "hookrun audit verify: bad option (see hookrun audit --help)\n");
		return 2;
	}
	/* The digests are of UTF-8 text, whatever the client's locale would ask for. */
	if (db_exec(conn, "SET client_encoding = 'UTF8'", &e) < 0) {
		fprintf(err, "hookrun audit verify: %s\n", e);
		return 1;
	}
	for (long long b = v.first; r == 0; b++)
		r = verify_block(&v, b, json, out, err);
	if (r == -ENOENT)
		r = seal_missing(&v, json, out, err);
	if (r == 0)
		r = verify_summary(&v, json, out, err);
	free(v.prev_to);
	return r == 0 ? EXIT_SUCCESS : 1;
}

/* hookrun audit seal: blocks until nothing is left to seal (or another session seals). */
static int cmd_seal(PGconn *conn, FILE *out, FILE *err)
{
	long long blocks = 0, events = 0;

	for (;;) {
		_cleanup_pgresult_ PGresult *res = NULL;
		_cleanup_free_ char *e = NULL;

		if (db_query(conn, "SELECT block, n_events FROM hookrun.seal_audit()", 0, NULL,
		             &res, &e) < 0) {
			fprintf(err, "hookrun audit seal: %s\n", e);
			return 1;
		}
		if (PQntuples(res) == 0)
			break;
		blocks++;
		events += strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		fprintf(out, "sealed block %s: %s events\n", PQgetvalue(res, 0, 0),
		        PQgetvalue(res, 0, 1));
	}
	if (blocks == 0)
		fprintf(out, "nothing to seal\n");
	else
		fprintf(out, "%lld blocks, %lld events sealed\n", blocks, events);
	return EXIT_SUCCESS;
}

/* POST the head (its JSON object) to url as a Standard Webhooks message {"type":
 * "audit.head", "timestamp", "data"} signed with secret: 0 when answered 2xx. */
static int head_post(const char *url, const char *secret, const char *head_json, FILE *out,
                     FILE *err)
{
	json_t *head = json_loads(head_json, 0, NULL), *msg;
	long long now = (long long)time(NULL);
	char stamp[32], ts[24];
	struct tm tm;
	time_t t = (time_t)now;
	_cleanup_free_ char *id = NULL, *body = NULL, *sig = NULL;
	struct cli_api *api;
	struct cli_api_answer a = {0};
	int r;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(ts, sizeof(ts), "%lld", now);
	id = xasprintf("audit-head-%lld-%.16s", json_integer_value(json_object_get(head, "block")),
	               json_string_value(json_object_get(head, "hash")));
	msg = json_pack("{s:s, s:s, s:o}", "type", "audit.head", "timestamp", stamp, "data", head);
	body = msg ? json_dumps(msg, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(msg);
	sig = body ? webhook_auth_sign_standard(secret, id, now, body, strlen(body)) : NULL;
	if (!sig) {
		fprintf(err, "hookrun audit head: audit_head_secret must be whsec_ and base64\n");
		return 1;
	}
	api = cli_api_new(url, NULL);
	cli_api_call(api,
	             &(struct cli_api_request){
	                 .method = HTTP_METHOD_POST,
	                 .path = "",
	                 .content_type = "application/json",
	                 .body = body,
	                 .len = strlen(body),
	                 .headers = (const struct http_header[]){{"webhook-id", id},
	                                                         {"webhook-timestamp", ts},
	                                                         {"webhook-signature", sig}},
	                 .n_headers = 3,
	             },
	             &a);
	r = a.status >= 200 && a.status < 300 ? 0 : 1;
	if (r == 0)
		fprintf(out, "head sent to %s (HTTP %ld)\n", url, a.status);
	else
		fprintf(err, "hookrun audit head: %s answered %s\n", url,
		        cli_api_answer_message(&a));
	cli_api_answer_fini(&a);
	cli_api_free(api);
	return r;
}

/* hookrun audit head [--json] [--post URL]: the latest seal. */
static int cmd_head(PGconn *conn, bool json, const char *post_url, const char *secret, FILE *out,
                    FILE *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	_cleanup_free_ char *e = NULL;

	if (db_query(conn,
	             "SELECT block, encode(hash, 'hex'), sealed_at::text, n_events, "
	             "json_build_object('block', block, 'hash', encode(hash, 'hex'), 'sealed_at', "
	             "sealed_at, 'events', n_events)::text "
	             "FROM hookrun.audit_seals ORDER BY block DESC LIMIT 1",
	             0, NULL, &res, &e) < 0) {
		fprintf(err, "hookrun audit head: %s\n", e);
		return 1;
	}
	if (post_url) {
		if (!secret) {
			fprintf(err, "hookrun audit head: --post needs audit_head_secret (or "
			             "HOOKRUN_AUDIT_HEAD_SECRET_FILE) to sign the head\n");
			return 2;
		}
		if (PQntuples(res) == 0) {
			fprintf(err, "hookrun audit head: nothing sealed yet, nothing to send\n");
			return 1;
		}
		return head_post(post_url, secret, PQgetvalue(res, 0, 4), out, err);
	}
	if (PQntuples(res) == 0)
		fprintf(out, json ? "null\n" : "nothing sealed yet\n");
	else if (json)
		fprintf(out, "%s\n", PQgetvalue(res, 0, 4));
	else
		fprintf(out,
		        "block %s  hash %s  sealed %s  (%s events)\nverify against it: hookrun "
		        "audit verify --expect %s:%s\n",
		        PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
		        PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	return EXIT_SUCCESS;
}

int cli_audit_handle(PGconn *conn, const struct config *c, int argc, char **argv, FILE *out,
                     FILE *err)
{
	const char *cmd = argc >= 2 ? argv[1] : "";

	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(conn, argc - 1, argv + 1, out, err);
	if (strcmp(cmd, "seal") == 0 && argc == 2)
		return cmd_seal(conn, out, err);
	if (strcmp(cmd, "head") == 0) {
		bool json = false;
		const char *post = NULL;
		int i;

		for (i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0)
				json = true;
			else if (strcmp(argv[i], "--post") == 0 && i + 1 < argc)
				post = argv[++i];
			else
				break;
		}
		if (i == argc)
			return cmd_head(conn, json, post, c->audit_head_secret, out, err);
	}
	cli_audit_usage(err);
	return 2;
}
