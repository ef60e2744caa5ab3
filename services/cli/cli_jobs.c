/* hookrun jobs show (cli_jobs.h). */
#include "cli_jobs.h"

#include <errno.h>
#include <string.h>

#include "db.h"
#include "id.h"
#include "xalloc.h"

/* The job, its counts and timings, one row. */
static const char job_sql[] =
    "SELECT id, kind, organisation, state, submitted_by, coalesce(delivery_id::text, '-'), "
    "to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.MS TZ'), items_total, items_queued, "
    "items_leased, items_succeeded, items_failed, items_cancelled, "
    "coalesce(to_char(extract(epoch FROM coalesce(finished_at, now()) - created_at), "
    "'FM999999990.000'), '-'), finished_at IS NOT NULL "
    "FROM hookrun.jobs WHERE id = $1::uuid";

/* Its failed items, the first ten by id. */
static const char failed_sql[] =
    "SELECT external_id, attempt, coalesce(last_error, '') FROM hookrun.job_items "
    "WHERE job_id = $1::uuid AND state = 'failed' ORDER BY id LIMIT 10";

int cli_jobs_show(PGconn *conn, const char *id, FILE *out, FILE *err)
{
	_cleanup_pgresult_ PGresult *job = NULL, *failed = NULL;
	_cleanup_free_ char *e = NULL;
	const char *params[1] = {id};

	if (!id_uuid_is_valid(id))
		return -EINVAL;
	if (db_query(conn, job_sql, 1, params, &job, &e) < 0 ||
	    db_query(conn, failed_sql, 1, params, &failed, &e) < 0) {
		fprintf(err, "hookrun jobs show: %s\n", e);
		return -EIO;
	}
	if (PQntuples(job) == 0)
		return -ENOENT;
	fprintf(out, "job %s\n  kind          %s\n  organisation  %s\n  state         %s\n",
	        PQgetvalue(job, 0, 0), PQgetvalue(job, 0, 1), PQgetvalue(job, 0, 2),
	        PQgetvalue(job, 0, 3));
	fprintf(out, "  submitted     %s by %s (delivery %s)\n", PQgetvalue(job, 0, 6),
	        PQgetvalue(job, 0, 4), PQgetvalue(job, 0, 5));
	fprintf(out,
	        "  items         %s total: %s queued, %s running, %s succeeded, %s failed, "
	        "%s cancelled\n",
	        PQgetvalue(job, 0, 7), PQgetvalue(job, 0, 8), PQgetvalue(job, 0, 9),
	        PQgetvalue(job, 0, 10), PQgetvalue(job, 0, 11), PQgetvalue(job, 0, 12));
	fprintf(out, "  %s %s s\n",
	        strcmp(PQgetvalue(job, 0, 14), "t") == 0 ? "took        " : "running for ",
	        PQgetvalue(job, 0, 13));
	if (PQntuples(failed) > 0)
		fprintf(out, "  failed items (first %d):\n", PQntuples(failed));
	for (int i = 0; i < PQntuples(failed); i++)
		fprintf(out, "    %s (attempt %s): %s\n", PQgetvalue(failed, i, 0),
		        PQgetvalue(failed, i, 1), PQgetvalue(failed, i, 2));
	return 0;
}
