/* hookrun deliveries show|replay over the HTTP API (cli_deliveries_api.h). */
#include "cli_deliveries_api.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli_api.h"
#include "id.h"
#include "xalloc.h"

#define EXIT_REFUSED     1
#define EXIT_USAGE       2
#define EXIT_UNREACHABLE 3

void cli_deliveries_api_usage(FILE *f)
{
	fprintf(f, "usage: hookrun deliveries show ID [--json]\n"
	           "       hookrun deliveries replay ID [--force] [--json]\n"
	           "replay routes the stored delivery again with the ingress's configuration of\n"
	           "today; --force even when it made a job before (a second job).\n");
}

/* A string member of v, or "-". */
static const char *text(const json_t *v, const char *name)
{
	const char *t = json_string_value(json_object_get(v, name));

	return t ? t : "-";
}

/* Report an answer that is not the success wanted; the exit status for it. */
static int answer_failed(const char *what, const struct cli_api_answer *r, FILE *err)
{
	fprintf(err, "hookrun deliveries %s: %s\n", what, cli_api_answer_message(r));
	return r->status == 0 ? EXIT_UNREACHABLE : EXIT_REFUSED;
}

/* A delivery for people: what arrived, and every routing of it. */
static void delivery_print(const json_t *d, FILE *out)
{
	const json_t *r;
	size_t i;

	fprintf(out, "delivery %s\n  source        %s\n  received      %s\n  key           %s\n",
	        text(d, "id"), text(d, "source"), text(d, "received_at"),
	        text(d, "idempotency_key"));
	fprintf(out, "  body          %lld bytes, %s, verified by %s\n  route         %s\n",
	        (long long)json_integer_value(json_object_get(d, "body_bytes")),
	        text(d, "content_type"), text(d, "verified_by"), text(d, "route"));
	fprintf(out, "routings:%s\n",
	        json_array_size(json_object_get(d, "routings")) ? "" : " none");
	json_array_foreach (json_object_get(d, "routings"), i, r)
		fprintf(out, "  %s  %-10s  %s%s  (asked by %s)\n", text(r, "at"),
		        text(r, "outcome"), json_object_get(r, "job_id") ? "job " : "",
		        json_object_get(r, "job_id") ? text(r, "job_id") : text(r, "reason"),
		        text(r, "requested_by"));
}

/* GET or POST one delivery path; print the answer as JSON or for people. */
static int delivery_call(struct cli_api *api, const char *sub, const char *path, bool json,
                         FILE *out, FILE *err)
{
	bool replay = strcmp(sub, "replay") == 0;
	struct cli_api_answer r;
	int rc = 0;

	cli_api_call(api,
	             &(struct cli_api_request){
	                 .method = replay ? HTTP_METHOD_POST : HTTP_METHOD_GET, .path = path},
	             &r);
	if (r.status != 200) {
		rc = answer_failed(sub, &r, err);
	} else if (json) {
		json_dumpf(r.json, out, JSON_INDENT(2));
		fputc('\n', out);
	} else if (!replay) {
		delivery_print(r.json, out);
	} else if (strcmp(text(r.json, "outcome"), "routed") == 0) {
		fprintf(out, "delivery %s routed to job %s\n", text(r.json, "delivery_id"),
		        text(r.json, "job_id"));
	} else {
		fprintf(err, "hookrun deliveries replay: %s: %s\n", text(r.json, "delivery_id"),
		        text(r.json, "reason"));
		rc = EXIT_REFUSED;
	}
	if (r.status == 200 && replay && json && strcmp(text(r.json, "outcome"), "routed") != 0)
		rc = EXIT_REFUSED;
	cli_api_answer_fini(&r);
	return rc;
}

int cli_deliveries_api_handle(struct cli_api *api, int argc, char **argv, FILE *out, FILE *err)
{
	static const struct option longs[] = {
	    {"force", no_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *sub = argc >= 2 ? argv[1] : "";
	_cleanup_free_ char *id = NULL, *path = NULL;
	bool force = false, json = false;
	int c;

	optind = 1;
	opterr = 0;
	while (argc >= 2 && (c = getopt_long(argc - 1, argv + 1, "", longs, NULL)) != -1) {
		if (c == 'h') {
			cli_deliveries_api_usage(out);
			return EXIT_SUCCESS;
		}
		if (c == '?' || (c == 'f' && strcmp(sub, "replay") != 0)) {
			cli_deliveries_api_usage(err);
			return EXIT_USAGE;
		}
		force = force || c == 'f';
		json = json || c == 'j';
	}
	if ((strcmp(sub, "show") != 0 && strcmp(sub, "replay") != 0) || optind != argc - 2) {
		cli_deliveries_api_usage(err);
		return EXIT_USAGE;
	}
	if (!id_uuid_is_valid(argv[1 + optind])) {
		fprintf(err, "hookrun deliveries %s: '%s' is not a delivery id (a UUID)\n", sub,
		        argv[1 + optind]);
		return EXIT_REFUSED;
	}
	id = http_query_encode(argv[1 + optind]);
	path = strcmp(sub, "show") == 0
	           ? xasprintf("/v1/deliveries/%s", id)
	           : xasprintf("/v1/deliveries/%s/replay%s", id, force ? "?force=true" : "");
	return delivery_call(api, sub, path, json, out, err);
}
