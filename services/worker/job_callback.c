/* job.callback: a finished job's event POSTed to its callback URL (job_callback.h). */
#include "job_callback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "http_client.h"
#include "webhook_auth.h"

/* The receiver answered. */
static void callback_on_answer(struct item_run *r, struct versori_outcome *o)
{
	if (o->status >= 200 && o->status < 300) {
		item_run_succeed(r, json_pack("{s:I}", "status", (json_int_t)o->status));
		return;
	}
	item_run_unexpected(r, o, "deliver the completion callback");
}

void job_callback_run(struct item_run *r)
{
	const char *url = item_run_param(r, "url");
	const char *secret = r->org->cfg->callback_secret;
	const json_t *event = json_object_get(r->desired, "event");
	_cleanup_free_ char *body = NULL, *sig = NULL;
	char ts[24];
	long long now = (long long)time(NULL);

	r->outside_api = true; /* a receiver's 429 is not the Versori API's */
	if (!url || !config_callback_url_allowed(r->env->config, url)) {
		item_run_fail(r, "the callback URL is not one that callback_urls allows");
		return;
	}
	if (!secret) {
		item_run_fail(r, "[versori.%s] has no callback_secret to sign the callback with",
		              r->org->cfg->name);
		return;
	}
	body = json_is_object(event) ? json_dumps(event, JSON_COMPACT) : NULL;
	sig = body ? webhook_auth_sign_standard(secret, r->external_id, now, body, strlen(body))
	           : NULL;
	if (!sig) {
		item_run_fail(r, "the item has no event to send");
		return;
	}
	snprintf(ts, sizeof(ts), "%lld", now);
	item_run_post(r,
	              &(struct http_client_request){
	                  .method = HTTP_METHOD_POST,
	                  .url = url,
	                  .headers =
	                      (const struct http_header[]){
	                          {"Content-Type", "application/json"},
	                          {"webhook-id", r->external_id},
	                          {"webhook-timestamp", ts},
	                          {"webhook-signature", sig},
	                      },
	                  .n_headers = 4,
	                  .body = body,
	                  .body_len = strlen(body),
	              },
	              "job.callback", callback_on_answer);
}
