/* hookrun tokens create|list|revoke (cli_tokens.h). */
#include "cli_tokens.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"
#include "id.h"
#include "xalloc.h"

/* Random bytes in a token, and the characters of it shown in lists. */
#define TOKEN_BYTES      32
#define TOKEN_PREFIX_LEN 12

/* What "tokens create" was asked for. */
struct create_args {
	const char *name, *orgs, *access, *expires;
};

static const char create_sql[] = "SELECT hookrun.create_token($1, string_to_array($2, ','), $3, "
                                 "now() + nullif($4, '')::interval, 'cli', $5::bytea, $6)";

static const char list_sql[] =
    "SELECT id, name, prefix, array_to_string(organisations, ','), access, "
    "CASE WHEN revoked_at IS NOT NULL THEN 'revoked' "
    "WHEN expires_at <= now() THEN 'expired' ELSE 'live' END, "
    "coalesce(to_char(expires_at, 'YYYY-MM-DD HH24:MI TZ'), 'never'), uses, "
    "coalesce(to_char(last_used_at, 'YYYY-MM-DD HH24:MI TZ'), 'never') "
    "FROM hookrun.api_tokens ORDER BY created_at, id";

static const char list_json_sql[] =
    "SELECT coalesce(json_agg(json_build_object('id', id, 'name', name, 'prefix', prefix, "
    "'organisations', organisations, 'access', access, 'created_at', created_at, "
    "'expires_at', expires_at, 'revoked_at', revoked_at, 'uses', uses, "
    "'last_used_at', last_used_at) ORDER BY created_at, id), '[]') FROM hookrun.api_tokens";

void cli_tokens_usage(FILE *f)
{
	fprintf(
	    f, "usage: hookrun tokens create --name NAME --org ORG[,ORG...] [--access read|write]\n"
	       "                             [--expires INTERVAL]\n"
	       "       hookrun tokens list [--json]\n"
	       "       hookrun tokens revoke ID\n");
}

/* Parse the options of "tokens create"; -EINVAL when one is unknown or missing. */
static int create_parse(int argc, char **argv, struct create_args *a, FILE *err)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"org", required_argument, NULL, 'o'},
	    {"access", required_argument, NULL, 'a'},
	    {"expires", required_argument, NULL, 'e'},
	    {0},
	};
	int c;

	*a = (struct create_args){.access = "write", .expires = ""};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			a->name = optarg;
		else if (c == 'o')
			a->orgs = optarg;
		else if (c == 'a')
			a->access = optarg;
		else if (c == 'e')
			a->expires = optarg;
		else
			return -EINVAL;
	}
	if (optind != argc || !a->name || !a->orgs)
		return -EINVAL;
	for (const char *o = a->orgs;; o++) {
		size_t n = strcspn(o, ",");
		if (n == 0 || n > 100) {
			fprintf(err, "hookrun tokens create: --org takes organisation names (1 to "
			             "100 characters) separated by commas\n");
			return -EINVAL;
		}
		o += n;
		if (!*o)
			break;
	}
	if (strcmp(a->access, "read") != 0 && strcmp(a->access, "write") != 0) {
		fprintf(err, "hookrun tokens create: --access is read or write, not '%s'\n",
		        a->access);
		return -EINVAL;
	}
	return 0;
}

/* A new token, "hrt_" and 43 base64url characters; the caller's string. */
static char *token_new(void)
{
	unsigned char raw[TOKEN_BYTES];
	_cleanup_free_ char *b64 = NULL;

	if (crypto_random_bytes(raw, sizeof(raw)) < 0)
		return NULL;
	b64 = crypto_base64url_encode(raw, sizeof(raw));
	return b64 ? xasprintf("hrt_%s", b64) : NULL;
}

/* Whether PostgreSQL reads s as a positive interval. */
static bool expires_valid(PGconn *conn, const char *s)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	_cleanup_free_ char *e = NULL;
	const char *params[1] = {s};

	return db_query(conn, "SELECT $1::interval > '0'", 1, params, &res, &e) >= 0 &&
	       strcmp(PQgetvalue(res, 0, 0), "t") == 0;
}

/* hookrun tokens create: the token is printed once, on its own line, and never stored. */
static int tokens_create(PGconn *conn, int argc, char **argv, FILE *out, FILE *err)
{
	struct create_args a;
	_cleanup_free_ char *token = NULL, *e = NULL;
	_cleanup_pgresult_ PGresult *res = NULL;
	char bytea[2 + CRYPTO_SHA256_HEX_SIZE] = "\\x";
	char prefix[TOKEN_PREFIX_LEN + 1];
	const char *params[6];

	if (create_parse(argc, argv, &a, err) < 0) {
		cli_tokens_usage(err);
		return 2;
	}
	token = token_new();
	if (!token || crypto_sha256_hex(token, strlen(token), bytea + 2) < 0) {
		fprintf(err, "hookrun tokens create: no random bytes for a token\n");
		return 1;
	}
	snprintf(prefix, sizeof(prefix), "%s", token);
	params[0] = a.name;
	params[1] = a.orgs;
	params[2] = a.access;
	params[3] = a.expires;
	params[4] = bytea;
	params[5] = prefix;
	if (*a.expires && !expires_valid(conn, a.expires)) {
		fprintf(
		    err,
		    "hookrun tokens create: --expires '%s' is not an interval (e.g. '90 days')\n",
		    a.expires);
		return 1;
	}
	if (db_query(conn, create_sql, 6, params, &res, &e) < 0) {
		fprintf(err, "hookrun tokens create: %s\n", e);
		return 1;
	}
	fprintf(out, "token %s created (%s access to %s)\n%s\n", PQgetvalue(res, 0, 0), a.access,
	        a.orgs, token);
	fprintf(err, "hookrun tokens create: the token is shown this once; hookrun keeps only "
	             "its SHA-256\n");
	return 0;
}

/* hookrun tokens list [--json]: every token, never a secret. */
static int tokens_list(PGconn *conn, bool json, FILE *out, FILE *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	_cleanup_free_ char *e = NULL;

	if (db_query(conn, json ? list_json_sql : list_sql, 0, NULL, &res, &e) < 0) {
		fprintf(err, "hookrun tokens list: %s\n", e);
		return 1;
	}
	if (json) {
		fprintf(out, "%s\n", PQgetvalue(res, 0, 0));
		return 0;
	}
	fprintf(out, "%-36s  %-16s  %-12s  %-6s  %-7s  %-20s  %6s  %s\n", "ID", "NAME", "PREFIX",
	        "ACCESS", "STATE", "EXPIRES", "USES", "ORGANISATIONS");
	for (int i = 0; i < PQntuples(res); i++)
		fprintf(out, "%-36s  %-16s  %-12s  %-6s  %-7s  %-20s  %6s  %s\n",
		        PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		        PQgetvalue(res, i, 4), PQgetvalue(res, i, 5), PQgetvalue(res, i, 6),
		        PQgetvalue(res, i, 7), PQgetvalue(res, i, 3));
	return 0;
}

/* hookrun tokens revoke ID: 0 when it was live, 1 otherwise. */
static int tokens_revoke(PGconn *conn, const char *id, FILE *out, FILE *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	_cleanup_free_ char *e = NULL;
	const char *params[1] = {id};

	if (!id_uuid_is_valid(id)) {
		fprintf(err, "hookrun tokens revoke: '%s' is not a token id (a UUID)\n", id);
		return 1;
	}
	if (db_query(conn, "SELECT hookrun.revoke_token($1::uuid, 'cli')", 1, params, &res, &e) <
	    0) {
		fprintf(err, "hookrun tokens revoke: %s\n", e);
		return 1;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		fprintf(err, "hookrun tokens revoke: no live token %s\n", id);
		return 1;
	}
	fprintf(out, "token %s revoked\n", id);
	return 0;
}

int cli_tokens_handle(PGconn *conn, int argc, char **argv, FILE *out, FILE *err)
{
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return tokens_create(conn, argc - 1, argv + 1, out, err);
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return tokens_list(conn, false, out, err);
	if (argc == 3 && strcmp(argv[1], "list") == 0 && strcmp(argv[2], "--json") == 0)
		return tokens_list(conn, true, out, err);
	if (argc == 3 && strcmp(argv[1], "revoke") == 0)
		return tokens_revoke(conn, argv[2], out, err);
	cli_tokens_usage(err);
	return 2;
}
