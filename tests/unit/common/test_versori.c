/* Unit tests for common/versori (the client) over a canned http_client transport: headers and
 * bodies sent, outcomes delivered once, 401 -> re-mint and retry once, organisation checks,
 * freeing with calls in flight, and environment name resolution. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "http_client.h"
#include "signing_key.h"
#include "test_keys.h"
#include "versori.h"
#include "versori_auth.h"
#include "xalloc.h"

#define ORG      "01HZX4Q7M2T9V6B3N8K5R1C0DA"
#define PRJ      "01J2K7Z1Y3X5W7V9T1S3R5Q7P9"
#define ENV      "01J2K8E5WB6H0FZ3S9G7D4XQ2M"
#define BASE     "http://127.0.0.1:8080"
#define NOW      1760000000
#define MAX_SENT 8

static char *priv_pem;
static char *pub_pem;

/* What the canned transport saw of one request (copies), and the callback to answer it. */
struct sent {
	enum http_method method;
	char *url;
	char *authorization;
	char *accept;
	char *content_type;
	char *body;
	size_t n_headers;
	http_client_done_fn done;
	void *userdata;
};

/* The canned transport: records requests; tests answer them with deliver(). */
struct fake {
	struct sent sent[MAX_SENT];
	size_t n_sent;
	size_t n_answered;
	int fail_send; /* negative errno to refuse the next send with */
	int64_t now;
};

/* Results seen by the done callback. */
struct seen {
	int calls;
	int result;
	long status;
	enum versori_outcome_class class;
	char *request_id;
	json_t *body;
};

/* Value of a header among the request's, copied, or NULL. */
static char *header_copy(const struct http_client_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return xstrdup(req->headers[i].value);
	return NULL;
}

/* Transport send: copy what matters, keep done for later. */
static int fake_send(void *impl, const struct http_client_request *req, http_client_done_fn done,
                     void *userdata)
{
	struct fake *f = impl;
	struct sent *s;

	if (f->fail_send) {
		int r = f->fail_send;

		f->fail_send = 0;
		return r;
	}
	assert_true(f->n_sent < MAX_SENT);
	s = &f->sent[f->n_sent++];
	*s = (struct sent){
	    .method = req->method,
	    .url = xstrdup(req->url),
	    .authorization = header_copy(req, "Authorization"),
	    .accept = header_copy(req, "Accept"),
	    .content_type = header_copy(req, "Content-Type"),
	    .body = req->body ? xstrndup(req->body, req->body_len) : NULL,
	    .n_headers = req->n_headers,
	    .done = done,
	    .userdata = userdata,
	};
	return 0;
}

/* Answer the oldest unanswered request with a status, body and optional request id. */
static void deliver(struct fake *f, long status, const char *body, const char *request_id)
{
	const struct http_header h[] = {{"X-Request-Id", request_id ? request_id : ""}};
	struct http_client_response resp = {
	    .status = status,
	    .headers = h,
	    .n_headers = request_id ? 1 : 0,
	    .body = body ? body : "",
	    .body_len = body ? strlen(body) : 0,
	    .error_text = "",
	};
	struct sent *s;

	assert_true(f->n_answered < f->n_sent);
	s = &f->sent[f->n_answered++];
	s->done(&resp, s->userdata);
}

/* Free the recorded requests. */
static void fake_fini(struct fake *f)
{
	for (size_t i = 0; i < f->n_sent; i++) {
		free(f->sent[i].url);
		free(f->sent[i].authorization);
		free(f->sent[i].accept);
		free(f->sent[i].content_type);
		free(f->sent[i].body);
	}
}

/* The injected clock. */
static int64_t fake_clock(void *userdata)
{
	return ((struct fake *)userdata)->now;
}

/* Record an outcome, taking its body. */
static void on_done(struct versori_outcome *o, void *userdata)
{
	struct seen *s = userdata;

	s->calls++;
	s->result = o->result;
	s->status = o->status;
	s->class = o->class;
	free(s->request_id);
	s->request_id = o->request_id ? xstrdup(o->request_id) : NULL;
	json_decref(s->body);
	s->body = TAKE_PTR(o->body);
}

/* Free what on_done kept. */
static void seen_fini(struct seen *s)
{
	free(s->request_id);
	json_decref(s->body);
}

/* A test fixture: fake transport, http client, credential and versori client. */
struct fixture {
	struct fake fake;
	struct http_transport transport;
	struct http_client *http;
	struct versori_auth *auth;
	struct versori_client *client;
};

/* Set up a fixture over the given credential. */
static void fixture_init(struct fixture *fx, struct versori_auth *auth)
{
	struct versori_client_options o = {
	    .base_url = BASE "/",
	    .organisation_id = ORG,
	    .auth = auth,
	    .clock = fake_clock,
	    .clock_userdata = &fx->fake,
	};

	memset(fx, 0, sizeof(*fx));
	fx->fake.now = NOW;
	fx->transport = (struct http_transport){.send = fake_send, .impl = &fx->fake};
	fx->http = http_client_new_with_transport(&fx->transport, NULL);
	fx->auth = auth;
	fx->client = versori_client_new(fx->http, &o);
	assert_non_null(fx->client);
}

/* Tear a fixture down. */
static void fixture_fini(struct fixture *fx)
{
	versori_client_free(fx->client);
	http_client_free(fx->http);
	versori_auth_free(fx->auth);
	fake_fini(&fx->fake);
}

/* An API key credential. */
static struct versori_auth *api_key(void)
{
	struct versori_auth *a = NULL;

	assert_int_equal(versori_auth_new_api_key("k3y", &a), 0);
	return a;
}

/* A per-end-user signing-key credential. */
static struct versori_auth *signing(void)
{
	const struct versori_auth_signing_key_options o = {
	    .key_id = "KEY1",
	    .private_pem = priv_pem,
	    .private_pem_len = strlen(priv_pem),
	};
	struct versori_auth *a = NULL;

	assert_int_equal(versori_auth_new_signing_key(&o, &a), 0);
	return a;
}

/* A POST carries the JSON headers and body; the outcome arrives once, decoded. */
static void test_call_post(void **state)
{
	struct fixture fx;
	struct versori_request req = {};
	struct seen seen = {};
	json_t *want = json_pack("{s:s}", "externalId", "u1");
	json_t *got;

	fixture_init(&fx, api_key());
	assert_int_equal(versori_request_end_user_create_build(ORG, "u1", NULL, &req, NULL), 0);
	assert_int_equal(versori_call(fx.client, &req, on_done, &seen), 0);
	versori_request_fini(&req);
	assert_int_equal(seen.calls, 0);
	assert_int_equal(fx.fake.n_sent, 1);
	assert_int_equal(fx.fake.sent[0].method, HTTP_METHOD_POST);
	assert_string_equal(fx.fake.sent[0].url, BASE "/api/v2/o/" ORG "/users");
	assert_string_equal(fx.fake.sent[0].authorization, "Bearer k3y");
	assert_string_equal(fx.fake.sent[0].accept, "application/json");
	assert_string_equal(fx.fake.sent[0].content_type, "application/json");
	got = json_loads(fx.fake.sent[0].body, 0, NULL);
	assert_true(json_equal(got, want));
	json_decref(got);
	json_decref(want);

	deliver(&fx.fake, 201, "{\"id\":\"01JRWHP5W3RNSE5D56M52PYNP7\"}", "req-1");
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.result, 0);
	assert_int_equal(seen.status, 201);
	assert_string_equal(seen.request_id, "req-1");
	assert_string_equal(json_string_value(json_object_get(seen.body, "id")),
	                    "01JRWHP5W3RNSE5D56M52PYNP7");
	seen_fini(&seen);
	fixture_fini(&fx);
}

/* A GET has no body and no Content-Type; an API key 401 is final. */
static void test_call_get_and_api_key_401(void **state)
{
	struct fixture fx;
	struct versori_request req = {};
	struct seen seen = {};

	fixture_init(&fx, api_key());
	assert_int_equal(versori_request_end_user_get_build(ORG, "u1", &req, NULL), 0);
	assert_int_equal(versori_call(fx.client, &req, on_done, &seen), 0);
	versori_request_fini(&req);
	assert_null(fx.fake.sent[0].body);
	assert_null(fx.fake.sent[0].content_type);
	assert_int_equal(fx.fake.sent[0].n_headers, 2);
	deliver(&fx.fake, 401, "{\"code\":\"401000\",\"message\":\"no\"}", NULL);
	assert_int_equal(fx.fake.n_sent, 1);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.result, -EACCES);
	assert_int_equal(seen.class, VERSORI_OUTCOME_PERMANENT);
	seen_fini(&seen);
	fixture_fini(&fx);
}

/* A 401 on a minted token re-mints once and retries; a second 401 is final. */
static void test_call_401_remint(void **state)
{
	struct fixture fx;
	struct versori_request req = {};
	struct seen seen = {};
	struct signing_key_claims c = {};

	fixture_init(&fx, signing());
	assert_int_equal(versori_request_end_user_get_build(ORG, "u1", &req, NULL), 0);
	assert_int_equal(versori_call(fx.client, &req, on_done, &seen), 0);
	assert_memory_equal(fx.fake.sent[0].authorization, "JWT ", 4);
	assert_int_equal(
	    signing_key_verify(fx.fake.sent[0].authorization + 4, pub_pem, NOW, 0, &c, NULL), 0);
	assert_string_equal(c.sub, "u1");
	signing_key_claims_fini(&c);
	fx.fake.now = NOW + 1;
	deliver(&fx.fake, 401, NULL, NULL);
	assert_int_equal(seen.calls, 0);
	assert_int_equal(fx.fake.n_sent, 2);
	assert_string_not_equal(fx.fake.sent[0].authorization, fx.fake.sent[1].authorization);
	assert_string_equal(fx.fake.sent[0].url, fx.fake.sent[1].url);
	assert_int_equal(signing_key_peek(fx.fake.sent[1].authorization + 4, &c), 0);
	assert_int_equal(c.iat, NOW + 1);
	signing_key_claims_fini(&c);
	deliver(&fx.fake, 200, "{\"externalId\":\"u1\"}", NULL);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.result, 0);

	/* Refused twice: exactly one retry, then the 401 is the outcome. */
	assert_int_equal(versori_call(fx.client, &req, on_done, &seen), 0);
	deliver(&fx.fake, 401, NULL, NULL);
	deliver(&fx.fake, 401, NULL, NULL);
	assert_int_equal(fx.fake.n_sent, 4);
	assert_int_equal(seen.calls, 2);
	assert_int_equal(seen.result, -EACCES);
	versori_request_fini(&req);
	seen_fini(&seen);
	fixture_fini(&fx);
}

/* Requests for another organisation, unsendable requests and failed sends never call done. */
static void test_call_refused(void **state)
{
	struct fixture fx;
	struct versori_request req = {};
	struct seen seen = {};

	fixture_init(&fx, signing());
	assert_int_equal(
	    versori_request_end_user_get_build("01HZX4Q7M2T9V6B3N8K5R1C0DB", "u1", &req, NULL), 0);
	assert_int_equal(versori_call(fx.client, &req, on_done, &seen), -EINVAL);
	versori_request_fini(&req);
	/* A per-end-user key cannot sign an organisation-level call without a fallback subject. */
	assert_int_equal(versori_request_project_list_build(ORG, &req, NULL), 0);
	assert_int_equal(versori_call(fx.client, &req, on_done, &seen), -EINVAL);
	versori_request_fini(&req);
	assert_int_equal(versori_request_end_user_get_build(ORG, "u1", &req, NULL), 0);
	fx.fake.fail_send = -ENOMEM;
	assert_int_equal(versori_call(fx.client, &req, on_done, &seen), -ENOMEM);
	versori_request_fini(&req);
	assert_int_equal(fx.fake.n_sent, 0);
	assert_int_equal(seen.calls, 0);
	fixture_fini(&fx);
}

/* Freeing the client with a call in flight still delivers its outcome, without a retry. */
static void test_free_in_flight(void **state)
{
	struct fixture fx;
	struct versori_request req = {};
	struct seen seen = {};

	fixture_init(&fx, signing());
	assert_int_equal(versori_request_end_user_get_build(ORG, "u1", &req, NULL), 0);
	assert_int_equal(versori_call(fx.client, &req, on_done, &seen), 0);
	assert_int_equal(versori_call(fx.client, &req, on_done, &seen), 0);
	versori_request_fini(&req);
	deliver(&fx.fake, 200, "{}", NULL);
	versori_client_free(fx.client);
	fx.client = NULL;
	deliver(&fx.fake, 401, NULL, NULL);
	assert_int_equal(fx.fake.n_sent, 2);
	assert_int_equal(seen.calls, 2);
	assert_int_equal(seen.result, -EACCES);
	seen_fini(&seen);
	fixture_fini(&fx);
}

/* Results of an environment resolution. */
struct resolved {
	int calls;
	int r;
	char *id;
};

/* Record a resolution. */
static void on_resolved(int r, const char *environment_id, struct versori_outcome *o,
                        void *userdata)
{
	struct resolved *x = userdata;

	x->calls++;
	x->r = r;
	free(x->id);
	x->id = environment_id ? xstrdup(environment_id) : NULL;
}

/* An environment name resolves by project id (GetProject) or project name (ListProjects). */
static void test_environment_resolve(void **state)
{
	const char *project = "{\"id\":\"" PRJ "\",\"name\":\"sync\",\"environments\":["
	                      "{\"id\":\"01J2K8E5WB6H0FZ3S9G7D4XQ2N\",\"name\":\"staging\"},"
	                      "{\"id\":\"" ENV "\",\"name\":\"production\"}]}";
	_cleanup_free_ char *list = xasprintf("{\"projects\":[%s]}", project);
	struct fixture fx;
	struct resolved res = {};

	fixture_init(&fx, api_key());
	assert_int_equal(
	    versori_environment_resolve(fx.client, PRJ, "production", on_resolved, &res), 0);
	assert_string_equal(fx.fake.sent[0].url, BASE "/api/v2/o/" ORG "/projects/" PRJ);
	deliver(&fx.fake, 200, project, NULL);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.r, 0);
	assert_string_equal(res.id, ENV);

	assert_int_equal(
	    versori_environment_resolve(fx.client, "sync", "staging", on_resolved, &res), 0);
	assert_string_equal(fx.fake.sent[1].url, BASE "/api/v2/o/" ORG "/projects");
	deliver(&fx.fake, 200, list, NULL);
	assert_int_equal(res.r, 0);
	assert_string_equal(res.id, "01J2K8E5WB6H0FZ3S9G7D4XQ2N");

	assert_int_equal(versori_environment_resolve(fx.client, "sync", "dev", on_resolved, &res),
	                 0);
	deliver(&fx.fake, 200, list, NULL);
	assert_int_equal(res.r, -ENOENT);
	assert_null(res.id);
	assert_int_equal(versori_environment_resolve(fx.client, PRJ, "dev", on_resolved, &res), 0);
	deliver(&fx.fake, 404, "{\"code\":\"404000\",\"message\":\"no project\"}", NULL);
	assert_int_equal(res.r, -ENOENT);
	assert_int_equal(res.calls, 4);
	free(res.id);
	fixture_fini(&fx);
}

/* The pure finder on both body shapes and on wrong shapes. */
static void test_environment_find(void **state)
{
	json_t *p = json_loads("{\"environments\":[{\"id\":\"E1\",\"name\":\"prod\"}]}", 0, NULL);
	json_t *l = json_loads("{\"projects\":[{\"id\":\"P1\",\"name\":\"n\",\"environments\":"
	                       "[{\"id\":\"E2\",\"name\":\"prod\"}]}]}",
	                       0, NULL);
	json_t *bad = json_loads("{\"environments\":{}}", 0, NULL);
	json_t *arr = json_loads("[]", 0, NULL);
	const char *id = NULL;

	assert_int_equal(versori_environment_find(p, NULL, "prod", &id), 0);
	assert_string_equal(id, "E1");
	assert_int_equal(versori_environment_find(l, "P1", "prod", &id), 0);
	assert_string_equal(id, "E2");
	assert_int_equal(versori_environment_find(l, "n", "prod", &id), 0);
	assert_int_equal(versori_environment_find(l, "x", "prod", &id), -ENOENT);
	assert_int_equal(versori_environment_find(p, NULL, "dev", &id), -ENOENT);
	assert_int_equal(versori_environment_find(bad, NULL, "prod", &id), -EPROTO);
	assert_int_equal(versori_environment_find(arr, NULL, "prod", &id), -EPROTO);
	assert_int_equal(versori_environment_find(NULL, NULL, "prod", &id), -EPROTO);
	json_decref(p);
	json_decref(l);
	json_decref(bad);
	json_decref(arr);
}

/* Options are checked. */
static void test_client_new(void **state)
{
	struct fake f = {};
	struct http_transport t = {.send = fake_send, .impl = &f};
	struct http_client *http = http_client_new_with_transport(&t, NULL);
	struct versori_auth *a = api_key();
	struct versori_client_options o = {.auth = a};
	struct versori_client *c = versori_client_new(http, &o);

	assert_non_null(c);
	versori_client_free(c);
	o.base_url = "ftp://x";
	assert_null(versori_client_new(http, &o));
	o.base_url = NULL;
	o.auth = NULL;
	assert_null(versori_client_new(http, &o));
	versori_client_free(NULL);
	versori_auth_free(a);
	http_client_free(http);
}

/* One RSA key pair for the binary. */
static int keys_setup(void **state)
{
	return test_keys_rsa_pair(2048, &priv_pem, &pub_pem) == 0 ? 0 : -1;
}

/* Free the key pair. */
static int keys_teardown(void **state)
{
	free(priv_pem);
	free(pub_pem);
	return 0;
}

/* Run the versori client tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_call_post),
	    cmocka_unit_test(test_call_get_and_api_key_401),
	    cmocka_unit_test(test_call_401_remint),
	    cmocka_unit_test(test_call_refused),
	    cmocka_unit_test(test_free_in_flight),
	    cmocka_unit_test(test_environment_resolve),
	    cmocka_unit_test(test_environment_find),
	    cmocka_unit_test(test_client_new),
	};

	return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
