/* Helpers shared by the versori-sim unit tests: load a fixture, send one request straight to
 * sim_handle() and check status and Error bodies. Test-only; header-only (static functions). */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_req.h"
#include "json.h"
#include "sim.h"

#define ORG       "01HZX4Q7M2T9V6B3N8K5R1C0DA"
#define ORG2      "01HZX4Q7M2T9V6B3N8K5R1C0DB"
#define ENV       "01J2K8E5WB6H0FZ3S9G7D4XQ2M"
#define PROJECT   "01J2K8C3V9T7R5P3N1M9K7H5G3"
#define PROJECT2  "01J2K8C3V9T7R5P3N1M9K7H5G4" /* starred, no variables schema */
#define TPL_A     "01J2K9A7C3F5H8K2M4P6R8T0VW"
#define TPL_B     "01J2K9C5E7G9J1K3M5P7R9T1VX"
#define SYS_A     "01J2K99Q4B6D8F0G2H4J6K8M0N"
#define CONN_A    "01JS2M3Z1X9W7V5T3R1P0N8M6K"
#define CONN_B    "01JS2M3Z1X9W7V5T3R1P0N8M7Q"
#define SCHED     "01J2KA0B2C4D6E8F0G2H4J6K8M"
#define INTEG     "01HQ7C2N5R8T1W4Y6A9D3F5G7J"
#define HUB       "01HQ7BZ8X6V4T2R0P8N6M4K2H0"
#define ETPL      "01HQ7C4K6M8P0R2T4V6X8Z0B2D"
#define ECONN     "01HQ7D1E3G5J7K9M1P3R5T7W9Y"
#define API_KEY   "Bearer test-api-key-conformance"
#define API_KEY_2 "Bearer test-api-key-other-org"
#define V2        "/api/v2/o/" ORG
#define NOW_MS    INT64_C(1760000000000)

/* The Authorization header the next requests send (NULL: none). */
static const char *test_auth = API_KEY;

/* One answer, body parsed (NULL for none). */
struct test_resp {
	int status;
	json_t *body;
	const char *route;
	char org[64];
};

/* A fixture file of tests/fixtures/versori-sim as a JSON document. */
_unused_ static json_t *test_fixture(const char *name)
{
	char path[512];
	json_error_t e;
	json_t *doc;

	snprintf(path, sizeof(path), "%s/tests/fixtures/versori-sim/%s", SOURCE_ROOT, name);
	doc = json_load_file(path, 0, &e);
	if (!doc)
		fail_msg("%s: %s", path, e.text);
	return doc;
}

/* A simulator loaded from a fixture file. */
_unused_ static struct sim *test_sim(const char *name)
{
	json_auto_t *doc = test_fixture(name);
	struct sim *s = NULL;
	char err[256] = "";

	if (sim_new(doc, &s, err, sizeof(err)) < 0)
		fail_msg("fixture %s rejected: %s", name, err);
	return s;
}

/* Send method uri (with optional ?query) and body through sim_handle(). */
_unused_ static struct test_resp test_call(struct sim *s, enum http_method m, const char *uri,
                                           const char *body)
{
	char path[1024];
	const char *q = strchr(uri, '?');
	struct http_header h[2] = {{"Content-Type", "application/json"},
	                           {"Authorization", test_auth}};
	struct http_req req = {.method = m,
	                       .uri = uri,
	                       .path = path,
	                       .query = q ? q + 1 : NULL,
	                       .headers = h,
	                       .n_headers = test_auth ? 2 : 1,
	                       .body = (const unsigned char *)body,
	                       .body_len = body ? strlen(body) : 0};
	struct sim_response r;
	struct test_resp out = {0};

	snprintf(path, sizeof(path), "%.*s", (int)(q ? (size_t)(q - uri) : strlen(uri)), uri);
	sim_handle(s, &req, NOW_MS, &r);
	out.status = r.status;
	out.route = r.route;
	memcpy(out.org, r.org, sizeof(out.org));
	if (r.body) {
		json_error_t e;

		assert_int_equal(strlen(r.body), r.body_len);
		out.body = json_loads(r.body, JSON_DECODE_ANY, &e);
		if (!out.body)
			fail_msg("response is not JSON: %s", r.body);
	}
	sim_response_fini(&r);
	return out;
}

/* Assert the status and return the body (caller's reference). */
_unused_ static json_t *test_expect(struct sim *s, enum http_method m, const char *uri,
                                    const char *body, int status)
{
	struct test_resp r = test_call(s, m, uri, body);

	if (r.status != status) {
		char *text = r.body ? json_dumps(r.body, JSON_ENCODE_ANY) : NULL;

		fail_msg("%s %s: status %d, want %d; body %s", http_method_to_string(m), uri,
		         r.status, status, text ? text : "(none)");
	}
	return r.body;
}

/* Assert an Error answer: status, code "<status>000", a message and the first field. */
_unused_ static void test_expect_error(struct sim *s, enum http_method m, const char *uri,
                                       const char *body, int status, const char *field)
{
	json_auto_t *e = test_expect(s, m, uri, body, status);
	char code[16];

	snprintf(code, sizeof(code), "%d000", status);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	assert_true(json_string_length(json_object_get(e, "message")) > 0);
	if (field) {
		const json_t *f0 = json_array_get(json_object_get(e, "fields"), 0);

		if (!json_is_string(json_object_get(f0, "field")))
			fail_msg("no fields[0].field in error for %s", uri);
		assert_string_equal(json_string_value(json_object_get(f0, "field")), field);
		assert_true(json_is_string(json_object_get(f0, "message")));
	}
}

/* A string member. */
_unused_ static const char *test_str(const json_t *o, const char *name)
{
	const char *v = json_string_value(json_object_get(o, name));

	if (!v)
		fail_msg("no string member %s", name);
	return v;
}

/* Whether s looks like a ULID: 26 Crockford base32 characters, first at most '7'. */
_unused_ static bool test_is_ulid(const char *s)
{
	if (!s || strlen(s) != 26 || s[0] > '7')
		return false;
	for (size_t i = 0; i < 26; i++)
		if (!strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", s[i]))
			return false;
	return true;
}

/* Create the §10.2 end user; returns its ULID (static storage). */
_unused_ static const char *test_create_user(struct sim *s, const char *external_id)
{
	static char id[32];
	char body[256];
	json_auto_t *u = NULL;

	snprintf(body, sizeof(body), "{\"externalId\":\"%s\",\"displayName\":\"User %s\"}",
	         external_id, external_id);
	u = test_expect(s, HTTP_METHOD_POST, V2 "/users", body, 201);
	snprintf(id, sizeof(id), "%s", test_str(u, "id"));
	return id;
}

/* Activate a user in ENV with the fixture's two connections; returns the activation id. */
_unused_ static const char *test_activate(struct sim *s, const char *user)
{
	static char id[32];
	char body[1024];
	json_auto_t *a = NULL;

	snprintf(body, sizeof(body),
	         "{\"userId\":\"%s\",\"environmentId\":\"" ENV "\",\"connections\":["
	         "{\"connectionTemplateId\":\"" TPL_A "\",\"existingConnectionId\":\"" CONN_A "\"},"
	         "{\"connectionTemplateId\":\"" TPL_B "\",\"existingConnectionId\":\"" CONN_B
	         "\"}],"
	         "\"dynamicVariables\":{\"retailerId\":\"42\",\"syncEnabled\":true}}",
	         user);
	a = test_expect(s, HTTP_METHOD_POST, V2 "/activations", body, 200);
	snprintf(id, sizeof(id), "%s", test_str(a, "id"));
	return id;
}
