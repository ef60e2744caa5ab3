/* hookrun jobs submit|list|items|cancel|retry over the HTTP API (cli_jobs_api.h). */
#include "cli_jobs_api.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_api.h"
#include "id.h"
#include "versori_request.h"
#include "xalloc.h"

#define EXIT_REFUSED     1
#define EXIT_USAGE       2
#define EXIT_UNREACHABLE 3
#define WATCH_POLL_MS    500
#define WATCH_LINE_MS    2000
#define BAR_WIDTH        30

/* What the options of a subcommand said. */
struct opts {
	const char *kind, *org, *parameters, *key, *state, *project, *env;
	bool json, watch, skip_invalid, help;
	int rest; /* index of the first operand */
};

void cli_jobs_api_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: hookrun jobs submit --kind KIND --org ORG [--project ID] [--env ID|NAME]\n"
	    "                           [--parameters FILE.json] [--idempotency-key KEY]\n"
	    "                           [--skip-invalid] [--watch] ITEMS.csv|ITEMS.json\n"
	    "       hookrun jobs list [--state STATE] [--json]\n"
	    "       hookrun jobs show ID [--json]\n"
	    "       hookrun jobs items ID [--state STATE] [--json]\n"
	    "       hookrun jobs cancel ID | retry ID\n"
	    "A .csv file has a header row: externalId, displayName, var.<name> (typed by the\n"
	    "project's variable schema); a .json file is an array of items. --project and --env\n"
	    "set parameters.projectId and parameters.environmentId (or, for a name, "
	    ".environment).\n"
	    "The API's URL comes from HOOKRUN_API_URL (default http://127.0.0.1:8080), the token\n"
	    "from HOOKRUN_TOKEN or the file HOOKRUN_TOKEN_FILE names.\n");
}

bool cli_jobs_api_owns(const char *subcommand)
{
	static const char *const subs[] = {"submit", "list", "items", "show", "cancel", "retry"};

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(subcommand, subs[i]) == 0)
			return true;
	return false;
}

/* Parse a subcommand's options (argv[0] is the subcommand); false on an unknown one. */
static bool opts_parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
	    {"kind", required_argument, NULL, 'k'},
	    {"org", required_argument, NULL, 'o'},
	    {"parameters", required_argument, NULL, 'p'},
	    {"idempotency-key", required_argument, NULL, 'i'},
	    {"state", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"watch", no_argument, NULL, 'w'},
	    {"project", required_argument, NULL, 'P'},
	    {"env", required_argument, NULL, 'e'},
	    {"skip-invalid", no_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	*o = (struct opts){0};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->kind = optarg;
			break;
		case 'o':
			o->org = optarg;
			break;
		case 'p':
			o->parameters = optarg;
			break;
		case 'i':
			o->key = optarg;
			break;
		case 's':
			o->state = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'w':
			o->watch = true;
			break;
		case 'P':
			o->project = optarg;
			break;
		case 'e':
			o->env = optarg;
			break;
		case 'S':
			o->skip_invalid = true;
			break;
		case 'h':
			o->help = true;
			break;
		default:
			return false;
		}
	}
	o->rest = optind;
	return true;
}

/* Report an answer that is not the success wanted; the exit status for it. */
static int answer_failed(const char *what, const struct cli_api_answer *r, FILE *err)
{
	fprintf(err, "hookrun jobs %s: %s\n", what, cli_api_answer_message(r));
	return r->status == 0 ? EXIT_UNREACHABLE : EXIT_REFUSED;
}

/* Milliseconds of a monotonic clock. */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One item count of a job's JSON. */
static long long count(const json_t *job, const char *name)
{
	return json_integer_value(json_object_get(json_object_get(job, "items"), name));
}

/* Draw a job's progress: a bar rewritten in place on a terminal, a plain line otherwise. */
static void progress(const json_t *job, bool tty, FILE *out)
{
	long long total = count(job, "total"),
	          done = count(job, "succeeded") + count(job, "failed") + count(job, "cancelled");
	int filled =
	    total > 0 && done > 0 ? (int)((done < total ? done : total) * BAR_WIDTH / total) : 0;
	char bar[BAR_WIDTH + 1];
	const json_t *eta = json_object_get(job, "eta_s");

	memset(bar, '#', (size_t)filled);
	memset(bar + filled, '.', (size_t)(BAR_WIDTH - filled));
	bar[BAR_WIDTH] = '\0';
	fprintf(out, "%s[%s] %lld/%lld done: %lld succeeded, %lld failed, %lld running, %.1f/s",
	        tty ? "\r" : "", bar, done, total, count(job, "succeeded"), count(job, "failed"),
	        count(job, "running"), json_number_value(json_object_get(job, "rate_per_s")));
	if (eta)
		fprintf(out, ", ETA %.0f s", json_number_value(eta));
	fprintf(out, tty ? "   " : "\n");
	fflush(out);
}

/* Follow a job until it ends; 0 when it succeeded, 1 when it failed or was cancelled. */
static int watch(struct cli_api *api, const char *id, FILE *out, FILE *err)
{
	_cleanup_free_ char *path = xasprintf("/v1/jobs/%s", id);
	bool tty = isatty(fileno(out));
	long long last_line = 0;
	struct cli_api_answer r;
	const char *state;
	int rc;

	for (;;) {
		cli_api_call(
		    api, &(struct cli_api_request){.method = HTTP_METHOD_GET, .path = path}, &r);
		if (r.status != 200) {
			rc = answer_failed("submit --watch", &r, err);
			cli_api_answer_fini(&r);
			return rc;
		}
		state = json_string_value(json_object_get(r.json, "state"));
		if (json_object_get(r.json, "finished_at")) {
			progress(r.json, tty, out);
			fprintf(out, "%sjob %s %s\n", tty ? "\n" : "", id, state ? state : "?");
			rc = state && strcmp(state, "succeeded") == 0 ? 0 : EXIT_REFUSED;
			cli_api_answer_fini(&r);
			return rc;
		}
		if (tty || now_ms() - last_line >= WATCH_LINE_MS) {
			progress(r.json, tty, out);
			last_line = now_ms();
		}
		cli_api_answer_fini(&r);
		usleep(WATCH_POLL_MS * 1000);
	}
}

/* A JSON file (a new reference), or NULL after printing why. */
static json_t *json_file(const char *path, FILE *err)
{
	json_error_t e;
	json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &e);

	if (!v)
		fprintf(err, "hookrun jobs submit: %s: %s (line %d)\n", path, e.text, e.line);
	return v;
}

/* Print the problems an answer lists (error.fields, or problems after skipping). */
static void problems_print(const json_t *list, FILE *f)
{
	const json_t *p;
	size_t i;

	json_array_foreach (list, i, p)
		fprintf(f, "  %s: %s\n", json_string_value(json_object_get(p, "field")),
		        json_string_value(json_object_get(p, "problem")));
}

/* Whether path names a CSV file (by its extension). */
static bool is_csv(const char *path)
{
	size_t n = strlen(path);

	return n > 4 && strcasecmp(path + n - 4, ".csv") == 0;
}

/* The job's parameters: the --parameters file, with --project and --env set in it; NULL after
 * printing why. */
static json_t *submit_parameters(const struct opts *o, FILE *err)
{
	json_t *p = o->parameters ? json_file(o->parameters, err) : json_object();

	if (p && !json_is_object(p)) {
		fprintf(err, "hookrun jobs submit: %s: not a JSON object\n", o->parameters);
		json_decref(p);
		return NULL;
	}
	if (p && o->project)
		json_object_set_new(p, "projectId", json_string(o->project));
	if (p && o->env)
		json_object_set_new(p,
		                    versori_ulid_is_valid(o->env) ? "environmentId" : "environment",
		                    json_string(o->env));
	return p;
}

/* A submission as sent: path with its query, and the body (both owned). */
struct submit_request {
	char *path, *body;
	size_t len;
};

/* The whole of a file into a new buffer; false after printing why. */
static bool file_read(const char *path, char **ret, size_t *ret_len, FILE *err)
{
	FILE *f = fopen(path, "rb"), *mem;
	char buf[65536], *body = NULL;
	size_t n, len = 0;
	bool ok;

	if (!f) {
		fprintf(err, "hookrun jobs submit: %s: %m\n", path);
		return false;
	}
	mem = open_memstream(&body, &len);
	if (!mem)
		abort();
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, mem);
	ok = !ferror(f);
	if (fclose(mem) != 0)
		abort();
	fclose(f);
	if (!ok) {
		fprintf(err, "hookrun jobs submit: %s: cannot read it\n", path);
		free(body);
		return false;
	}
	*ret = body;
	*ret_len = len;
	return true;
}

/* The request of a CSV file: the file as the body, the job in the query; false after
 * printing why. */
static bool submit_csv_request(const struct opts *o, const char *file, const json_t *params,
                               struct submit_request *ret, FILE *err)
{
	_cleanup_free_ char *p = json_dumps(params, JSON_COMPACT), *kind = NULL, *org = NULL,
	                    *enc = NULL;

	if (!p)
		abort();
	if (!file_read(file, &ret->body, &ret->len, err))
		return false;
	kind = http_query_encode(o->kind);
	org = http_query_encode(o->org);
	enc = http_query_encode(p);
	ret->path = xasprintf("/v1/jobs?kind=%s&organisation=%s&parameters=%s%s", kind, org, enc,
	                      o->skip_invalid ? "&skip_invalid=true" : "");
	return true;
}

/* The request of a JSON file (an array of items, or an object with "items"). */
static bool submit_json_request(const struct opts *o, const char *file, json_t *params,
                                struct submit_request *ret, FILE *err)
{
	json_auto_t *items = json_file(file, err), *body = NULL;

	if (!items)
		return false;
	if (json_is_object(items) && json_object_get(items, "items")) {
		json_t *inner = json_incref(json_object_get(items, "items"));
		json_decref(items);
		items = inner;
	}
	body = json_pack("{s:s,s:s,s:O,s:O}", "kind", o->kind, "organisation", o->org, "parameters",
	                 params, "items", items);
	ret->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!ret->body)
		abort();
	ret->len = strlen(ret->body);
	ret->path = xstrdup(o->skip_invalid ? "/v1/jobs?skip_invalid=true" : "/v1/jobs");
	return true;
}

/* hookrun jobs submit: the items file (CSV, or JSON) as a job. */
static int submit(struct cli_api *api, const struct opts *o, int argc, char **argv, FILE *out,
                  FILE *err)
{
	json_auto_t *params = NULL;
	struct submit_request q = {0};
	const char *file = argv[o->rest], *id;
	bool csv, built;
	struct cli_api_answer r;
	int rc;

	if (!o->kind || !o->org || o->rest != argc - 1) {
		cli_jobs_api_usage(err);
		return EXIT_USAGE;
	}
	params = submit_parameters(o, err);
	if (!params)
		return EXIT_REFUSED;
	csv = is_csv(file);
	built = csv ? submit_csv_request(o, file, params, &q, err)
	            : submit_json_request(o, file, params, &q, err);
	if (!built)
		return EXIT_REFUSED;
	cli_api_call(api,
	             &(struct cli_api_request){.method = HTTP_METHOD_POST,
	                                       .path = q.path,
	                                       .content_type = csv ? "text/csv; charset=utf-8"
	                                                           : "application/json",
	                                       .idempotency_key = o->key,
	                                       .body = q.body,
	                                       .len = q.len},
	             &r);
	free(q.path);
	free(q.body);
	if (r.status != 202 && r.status != 200) {
		rc = answer_failed("submit", &r, err);
		problems_print(json_object_get(json_object_get(r.json, "error"), "fields"), err);
		cli_api_answer_fini(&r);
		return rc;
	}
	id = json_string_value(json_object_get(r.json, "job_id"));
	fprintf(out, "job %s %s (%lld items)\n", id ? id : "?",
	        r.status == 202 ? "submitted" : "submitted before (same Idempotency-Key)",
	        (long long)json_integer_value(json_object_get(r.json, "items")));
	if (json_integer_value(json_object_get(r.json, "skipped")) > 0) {
		fprintf(err, "hookrun jobs submit: skipped %lld invalid %s:\n",
		        (long long)json_integer_value(json_object_get(r.json, "skipped")),
		        csv ? "rows" : "items");
		problems_print(json_object_get(r.json, "problems"), err);
	}
	rc = o->watch && id ? watch(api, id, out, err) : 0;
	cli_api_answer_fini(&r);
	return rc;
}

/* A page to show: the subcommand, the path, the answer's array and how to print a row. */
struct listing {
	const char *what, *path, *list;
	void (*row)(const json_t *v, FILE *out);
};

/* GET a page and print its JSON (--json) or its rows; the exit status. */
static int show(struct cli_api *api, const struct listing *l, bool json, FILE *out, FILE *err)
{
	struct cli_api_answer r;
	const json_t *v;
	size_t i;
	int rc = 0;

	cli_api_call(api, &(struct cli_api_request){.method = HTTP_METHOD_GET, .path = l->path},
	             &r);
	if (r.status != 200) {
		rc = answer_failed(l->what, &r, err);
	} else if (json) {
		json_dumpf(r.json, out, JSON_INDENT(2));
		fputc('\n', out);
	} else {
		json_array_foreach (json_object_get(r.json, l->list), i, v)
			l->row(v, out);
		v = json_object_get(r.json, "next_cursor");
		if (json_is_string(v))
			fprintf(out, "(more after %s)\n", json_string_value(v));
		else if (json_is_integer(v))
			fprintf(out, "(more after item %lld)\n", (long long)json_integer_value(v));
	}
	cli_api_answer_fini(&r);
	return rc;
}

/* One job of a list. */
static void job_row(const json_t *j, FILE *out)
{
	fprintf(out, "%-36s  %-22s  %-12s  %-9s  %lld/%lld done, %lld failed\n",
	        json_string_value(json_object_get(j, "id")),
	        json_string_value(json_object_get(j, "kind")),
	        json_string_value(json_object_get(j, "organisation")),
	        json_string_value(json_object_get(j, "state")),
	        count(j, "succeeded") + count(j, "failed") + count(j, "cancelled"),
	        count(j, "total"), count(j, "failed"));
}

/* One item of a job. */
static void item_row(const json_t *i, FILE *out)
{
	const char *e = json_string_value(json_object_get(i, "last_error"));

	fprintf(out, "%-24s  %-9s  attempt %lld%s%s\n",
	        json_string_value(json_object_get(i, "external_id")),
	        json_string_value(json_object_get(i, "state")),
	        (long long)json_integer_value(json_object_get(i, "attempt")), e ? ": " : "",
	        e ? e : "");
}

/* A timestamp member of v, or "-". */
static const char *when(const json_t *v, const char *name)
{
	const char *t = json_string_value(json_object_get(v, name));

	return t ? t : "-";
}

/* GET /v1/jobs/ID and its first failed items: print the job for people (or its JSON). */
static int job_show(struct cli_api *api, const char *id, bool json, FILE *out, FILE *err)
{
	_cleanup_free_ char *enc = http_query_encode(id), *path = xasprintf("/v1/jobs/%s", enc);
	_cleanup_free_ char *failed = xasprintf("/v1/jobs/%s/items?state=failed&limit=10", enc);
	struct cli_api_answer r, f = {0};
	const json_t *j, *v;
	size_t i;
	int rc = 0;

	cli_api_call(api, &(struct cli_api_request){.method = HTTP_METHOD_GET, .path = path}, &r);
	if (r.status != 200) {
		rc = answer_failed("show", &r, err);
		cli_api_answer_fini(&r);
		return rc;
	}
	if (json) {
		json_dumpf(r.json, out, JSON_INDENT(2));
		fputc('\n', out);
		cli_api_answer_fini(&r);
		return 0;
	}
	j = r.json;
	fprintf(out, "job %s\n  kind          %s\n  organisation  %s\n  state         %s\n", id,
	        json_string_value(json_object_get(j, "kind")),
	        json_string_value(json_object_get(j, "organisation")),
	        json_string_value(json_object_get(j, "state")));
	fprintf(out, "  submitted     %s by %s\n  started       %s\n  finished      %s\n",
	        when(j, "created_at"), when(j, "submitted_by"), when(j, "started_at"),
	        when(j, "finished_at"));
	fprintf(out,
	        "  items         %lld: %lld queued, %lld running, %lld succeeded, %lld failed, "
	        "%lld cancelled\n",
	        count(j, "total"), count(j, "queued"), count(j, "running"), count(j, "succeeded"),
	        count(j, "failed"), count(j, "cancelled"));
	if (json_object_get(j, "rate_per_s"))
		fprintf(out, "  rate          %.1f items/s%s",
		        json_number_value(json_object_get(j, "rate_per_s")),
		        json_object_get(j, "eta_s") ? "" : "\n");
	if (json_object_get(j, "eta_s"))
		fprintf(out, ", ETA %.0f s\n", json_number_value(json_object_get(j, "eta_s")));
	if (count(j, "failed") > 0) {
		cli_api_call(
		    api, &(struct cli_api_request){.method = HTTP_METHOD_GET, .path = failed}, &f);
		fprintf(out, "failed items%s:\n", count(j, "failed") > 10 ? " (the first 10)" : "");
		json_array_foreach (json_object_get(f.json, "items"), i, v)
			item_row(v, out);
	}
	cli_api_answer_fini(&f);
	cli_api_answer_fini(&r);
	return 0;
}

/* POST /v1/jobs/ID/cancel or /retry and say what changed. */
static int act(struct cli_api *api, const char *what, const char *id, FILE *out, FILE *err)
{
	_cleanup_free_ char *enc = http_query_encode(id);
	_cleanup_free_ char *path = xasprintf("/v1/jobs/%s/%s", enc, what);
	struct cli_api_answer r;
	int rc = 0;

	cli_api_call(api, &(struct cli_api_request){.method = HTTP_METHOD_POST, .path = path}, &r);
	if (r.status != 200)
		rc = answer_failed(what, &r, err);
	else
		fprintf(out, "job %s: %lld items %s; the job is %s\n", id,
		        (long long)json_integer_value(json_object_get(r.json, "changed")),
		        strcmp(what, "cancel") == 0 ? "cancelled" : "queued again",
		        json_string_value(json_object_get(r.json, "state")));
	cli_api_answer_fini(&r);
	return rc;
}

int cli_jobs_api_handle(struct cli_api *api, int argc, char **argv, FILE *out, FILE *err)
{
	const char *sub = argc >= 2 ? argv[1] : "";
	_cleanup_free_ char *path = NULL, *state = NULL, *id = NULL;
	struct opts o;

	if (!opts_parse(argc - 1, argv + 1, &o)) {
		cli_jobs_api_usage(err);
		return EXIT_USAGE;
	}
	if (o.help) {
		cli_jobs_api_usage(out);
		return EXIT_SUCCESS;
	}
	if (strcmp(sub, "submit") == 0)
		return submit(api, &o, argc - 1, argv + 1, out, err);
	if (strcmp(sub, "list") != 0 && o.rest == argc - 2 && !id_uuid_is_valid(argv[1 + o.rest])) {
		fprintf(err, "hookrun jobs %s: '%s' is not a job id (a UUID)\n", sub,
		        argv[1 + o.rest]);
		return EXIT_REFUSED;
	}
	if (strcmp(sub, "show") == 0 && o.rest == argc - 2)
		return job_show(api, argv[1 + o.rest], o.json, out, err);
	state = o.state ? http_query_encode(o.state) : NULL;
	if (strcmp(sub, "list") == 0 && o.rest == argc - 1) {
		path = xasprintf("/v1/jobs%s%s", state ? "?state=" : "", state ? state : "");
		return show(api, &(struct listing){"list", path, "jobs", job_row}, o.json, out,
		            err);
	}
	if (strcmp(sub, "items") == 0 && o.rest == argc - 2) {
		id = http_query_encode(argv[1 + o.rest]);
		path = xasprintf("/v1/jobs/%s/items%s%s", id, state ? "?state=" : "",
		                 state ? state : "");
		return show(api, &(struct listing){"items", path, "items", item_row}, o.json, out,
		            err);
	}
	if ((strcmp(sub, "cancel") == 0 || strcmp(sub, "retry") == 0) && o.rest == argc - 2)
		return act(api, sub, argv[1 + o.rest], out, err);
	cli_jobs_api_usage(err);
	return EXIT_USAGE;
}
