/* The ingress's JSON answers (answer.h). */
#include "answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_glue.h"
#include "metrics.h"

void answer_count(struct metrics *m, const char *route, int status)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"", route, status);
	metric_counter_inc(metrics_counter(m, "hookrun_http_requests_total",
	                                   "HTTP requests by route and status", labels));
}

void answer_json(struct http_exchange *ex, struct metrics *m, const char *route, int status,
                 json_t *obj, const struct http_header *extra)
{
	_cleanup_free_ char *body = json_dumps(obj, JSON_COMPACT);
	size_t n = 0;

	json_decref(obj);
	if (!body)
		abort();
	while (extra && extra[n].name)
		n++;
	answer_count(m, route, status);
	http_exchange_respond(ex, status, "application/json", body, strlen(body), extra, n);
}

void answer_error(struct http_exchange *ex, struct metrics *m, const char *route,
                  const struct answer_problem *p)
{
	char retry[16];
	struct http_header extra[2] = {{0}};
	json_t *err = json_pack("{s:s,s:s}", "code", p->code, "message", p->message);

	if (p->status == 503) {
		snprintf(retry, sizeof(retry), "%d", p->retry_after_s);
		extra[0] = (struct http_header){"Retry-After", retry};
	} else if (p->status == 401) {
		extra[0] = (struct http_header){"WWW-Authenticate", "Bearer"};
	} else if (p->status == 405 && p->allow) {
		extra[0] = (struct http_header){"Allow", p->allow};
	}
	if (p->fields)
		json_object_set_new(err, "fields", p->fields);
	answer_json(ex, m, route, p->status, json_pack("{s:o}", "error", err), extra);
}
