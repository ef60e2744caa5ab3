/* hookrun deliveries show|replay (cli_deliveries.h). */
#include "cli_deliveries.h"

#include <errno.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "delivery_route.h"
#include "id.h"
#include "job_secrets.h"
#include "secret_value.h"
#include "xalloc.h"

/* The delivery, one row. */
static const char delivery_sql[] =
    "SELECT id, source, to_char(received_at, 'YYYY-MM-DD HH24:MI:SS.MS TZ'), "
    "coalesce(idempotency_key, '-'), coalesce(content_type, '-'), octet_length(body), "
    "verified_by, coalesce(route::text, '-') FROM hookrun.deliveries WHERE id = $1::uuid";

/* Its routings, oldest first. */
static const char routes_sql[] =
    "SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS.MS TZ'), outcome, coalesce(job_id::text, ''), "
    "coalesce(reason, ''), coalesce(requested_by, 'receipt') FROM hookrun.delivery_routes "
    "WHERE delivery_id = $1::uuid ORDER BY id";

/* What a replay needs: the source and the body, and the latest routing. */
static const char replay_input_sql[] =
    "SELECT d.source, d.body, (SELECT r.outcome || ' ' || coalesce(r.job_id::text, '') "
    "FROM hookrun.delivery_routes r WHERE r.delivery_id = d.id ORDER BY r.id DESC LIMIT 1) "
    "FROM hookrun.deliveries d WHERE d.id = $1::uuid";

static const char replay_sql[] =
    "SELECT outcome, coalesce(job_id::text, ''), coalesce(reason, '') "
    "FROM hookrun.replay_delivery($1::uuid, $2::jsonb, 'cli', $3::boolean)";

int cli_deliveries_show(PGconn *conn, const char *id, FILE *out, FILE *err)
{
	_cleanup_pgresult_ PGresult *d = NULL, *routes = NULL;
	_cleanup_free_ char *e = NULL;
	const char *params[1] = {id};

	if (!id_uuid_is_valid(id))
		return -EINVAL;
	if (db_query(conn, delivery_sql, 1, params, &d, &e) < 0 ||
	    db_query(conn, routes_sql, 1, params, &routes, &e) < 0) {
		fprintf(err, "hookrun deliveries show: %s\n", e);
		return -EIO;
	}
	if (PQntuples(d) == 0)
		return -ENOENT;
	fprintf(out, "delivery %s\n  source        %s\n  received      %s\n", PQgetvalue(d, 0, 0),
	        PQgetvalue(d, 0, 1), PQgetvalue(d, 0, 2));
	fprintf(out, "  key           %s\n  body          %s bytes, %s\n  verified by   %s\n",
	        PQgetvalue(d, 0, 3), PQgetvalue(d, 0, 5), PQgetvalue(d, 0, 4), PQgetvalue(d, 0, 6));
	fprintf(out, "  route         %s\n", PQgetvalue(d, 0, 7));
	if (PQntuples(routes) == 0)
		fprintf(out, "  routings      none (stored only)\n");
	for (int i = 0; i < PQntuples(routes); i++)
		fprintf(out, "  %-13s %s %s%s%s (%s)\n", i == 0 ? "routings" : "",
		        PQgetvalue(routes, i, 0), PQgetvalue(routes, i, 1),
		        *PQgetvalue(routes, i, 2) ? " to job " : ": ",
		        *PQgetvalue(routes, i, 2) ? PQgetvalue(routes, i, 2)
		                                  : PQgetvalue(routes, i, 3),
		        PQgetvalue(routes, i, 4));
	return 0;
}

/* The route the source's configuration gives the stored body today: a new string, or NULL
 * after printing why there is none. */
/* Seal the secret values of a route as the ingress does (with this configuration's
 * secrets_key and the organisation's secret_variables). */
static void replay_seal(const struct config *c, const struct source_config *src, char **route)
{
	const struct versori_org_config *org =
	    config_versori_find(c, src->organisation ? src->organisation : "");
	struct secret_keys *k = NULL;
	_cleanup_free_ char *problem = NULL;

	if (config_secret_keys(c, &k, &problem) < 0)
		k = NULL; /* config_load() checked them: the route then says no key was there */
	delivery_route_seal(
	    route, &(struct job_secrets){.keys = k, .names = org ? org->secret_variables : NULL});
	secret_keys_free(k);
}

static char *replay_route(const struct config *c, const PGresult *in, const char *id, int *ret,
                          FILE *err)
{
	const char *source = PQgetvalue(in, 0, 0);
	const struct source_config *src = config_source_find(c, source);
	size_t len = 0;
	unsigned char *body;
	char *route;

	if (!src) {
		fprintf(err,
		        "hookrun deliveries replay: delivery %s came to source '%s', which the "
		        "configuration has no [source.%s] for\n",
		        id, source, source);
		*ret = -ESRCH;
		return NULL;
	}
	body = PQunescapeBytea((const unsigned char *)PQgetvalue(in, 0, 1), &len);
	if (!body) {
		fprintf(err, "hookrun deliveries replay: cannot read the stored body\n");
		*ret = -EIO;
		return NULL;
	}
	route = delivery_route_build(src, body, len);
	PQfreemem(body);
	replay_seal(c, src, &route);
	if (!route) {
		fprintf(
		    err,
		    "hookrun deliveries replay: source '%s' only stores its deliveries (route = "
		    "store): there is nothing to route\n",
		    source);
		*ret = -EPERM;
	}
	return route;
}

int cli_deliveries_replay(PGconn *conn, const struct config *c, const char *id, bool force,
                          FILE *out, FILE *err)
{
	_cleanup_pgresult_ PGresult *in = NULL, *res = NULL;
	_cleanup_free_ char *e = NULL, *route = NULL;
	const char *params[3] = {id, NULL, force ? "true" : "false"};
	const char *last;
	int r = 0;

	if (!id_uuid_is_valid(id))
		return -EINVAL;
	if (db_query(conn, replay_input_sql, 1, params, &in, &e) < 0) {
		fprintf(err, "hookrun deliveries replay: %s\n", e);
		return -EIO;
	}
	if (PQntuples(in) == 0)
		return -ENOENT;
	last = PQgetvalue(in, 0, 2);
	if (!force && strncmp(last, "routed ", 7) == 0) {
		fprintf(err,
		        "hookrun deliveries replay: delivery %s was routed to job %s already; "
		        "--force routes it again (a second job)\n",
		        id, last + 7);
		return -EEXIST;
	}
	route = replay_route(c, in, id, &r, err);
	if (!route)
		return r;
	params[1] = route;
	if (db_query(conn, replay_sql, 3, params, &res, &e) < 0) {
		fprintf(err, "hookrun deliveries replay: %s\n", e);
		return -EIO;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "routed") == 0) {
		fprintf(out, "delivery %s: routed to job %s\n", id, PQgetvalue(res, 0, 1));
		return 0;
	}
	fprintf(out, "delivery %s: unroutable: %s\n", id, PQgetvalue(res, 0, 2));
	return -ENOMSG;
}
