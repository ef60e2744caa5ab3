/* Unit tests for common/config/config.c: INI parsing, defaults, validation, environment overrides,
 * *_FILE secrets and masked printing. Files are written with mkstemp; the process
 * environment is never touched (every test passes its own envp). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "crypto.h"
#include "jwt_vectors.h"
#include "secret_value.h"
#include "xalloc.h"

#define WHSEC_EXAMPLE "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

/* Write text to a new temporary file and return its path. */
static char *tmp_file(const char *text)
{
	char path[] = "/tmp/hookrun-test-config-XXXXXX";
	size_t n = strlen(text);
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
	return xstrdup(path);
}

/* Remove and free a temporary file path held by a _cleanup_ variable. */
static void tmp_unlinkp(char **path)
{
	if (*path) {
		(void)unlink(*path);
		free(*path);
	}
}

#define CLEANUP_TMP _cleanup_(tmp_unlinkp)

/* A heap copy of a NULL-terminated string list, as an envp. */
static char **env_new(const char *const *list)
{
	size_t n = 0;
	char **env;

	while (list[n])
		n++;
	env = xcalloc(n + 1, sizeof(*env));
	for (size_t i = 0; i < n; i++)
		env[i] = xstrdup(list[i]);
	return env;
}

/* An envp of the given "NAME=value" strings. */
#define ENV(...) env_new((const char *const[]){__VA_ARGS__, NULL})

/* Free an envp made by env_new() held by a _cleanup_ variable. */
static void env_freep(char ***env)
{
	for (size_t i = 0; *env && (*env)[i]; i++)
		free((*env)[i]);
	free(*env);
}

#define CLEANUP_ENV _cleanup_(env_freep)

/* Load ini (NULL: no file) and envp; *ret_path, when given, gets the file's path. */
static int load_full(const char *ini, char *const *envp, struct config **c, char **err,
                     char **ret_path)
{
	CLEANUP_TMP char *path = ini ? tmp_file(ini) : NULL;
	int r;

	*c = NULL;
	*err = NULL;
	r = config_load(path, envp, c, err);
	if (ret_path)
		*ret_path = path ? xstrdup(path) : NULL;
	return r;
}

/* Load and require success. */
static struct config *load_ok(const char *ini, char *const *envp)
{
	struct config *c;
	char *err;
	int r;

	r = load_full(ini, envp, &c, &err, NULL);
	if (r < 0)
		fail_msg("config_load failed: %d %s", r, err ? err : "(no message)");
	assert_null(err);
	assert_non_null(c);
	return c;
}

/* Load, require failure with code r, and return the message for more checks. */
static char *load_fail(const char *ini, char *const *envp, int r)
{
	struct config *c;
	char *err;
	int got;

	got = load_full(ini, envp, &c, &err, NULL);
	if (got >= 0)
		config_free(c);
	assert_int_equal(got, r);
	assert_null(c);
	assert_non_null(err);
	return err;
}

/* Load, require -EINVAL, and require the message to contain what. */
static void expect_error(const char *ini, char *const *envp, const char *what)
{
	_cleanup_free_ char *err = load_fail(ini, envp, -EINVAL);

	if (!strstr(err, what))
		fail_msg("error '%s' does not contain '%s'", err, what);
}

/* config_print() into a new string. */
static char *print_to_string(const struct config *c)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	assert_non_null(f);
	config_print(c, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Minimal valid hmac source, used as a base by several tests. */
#define HMAC_SOURCE "[source.gh]\nauth = hmac\nsecret = s1\n"

static const char full_ini[] =
    "; every scheme, as deployed\n"
    "[hookrun]\n"
    "listen_addr = 0.0.0.0\n"
    "listen_port = 9090\n"
    "db_url = postgresql://hookrun:s3cret-db-pw@db.internal:5432/hookrun\n"
    "max_backlog = 2000\n"
    "batch_max_rows = 100\n"
    "batch_max_bytes = 4M\n"
    "commit_timeout_ms = 250\n"
    "retry_after_s = 5\n"
    "dedup_window = 36h\n"
    "db_reconnect_max_ms = 10000\n"
    "log_level = debug\n"
    "log_format = json\n"
    "\n"
    "[source.github]\n"
    "auth = hmac\n"
    "secret = gh-secret-new\n"
    "secret = gh-secret-old\n"
    "hmac_algorithm = sha256\n"
    "signature_header = X-Hub-Signature-256\n"
    "signature_prefix = sha256=\n"
    "idempotency_key = header:X-GitHub-Delivery\n"
    "body_limit = 25MiB\n"
    "\n"
    "[source.twilio]\n"
    "auth = hmac\n"
    "secret = twilio-token-value\n"
    "hmac_algorithm = sha1\n"
    "hmac_inputs = url, body\n"
    "hmac_encoding = base64\n"
    "signature_query = signature\n"
    "\n"
    "[source.svix]\n"
    "auth = standard-webhooks\n"
    "secret = " WHSEC_EXAMPLE "\n"
    "tolerance = 10m\n"
    "\n"
    "[source.partner-api]\n"
    "auth = api-key\n"
    "secret = partner-key-value\n"
    "api_key_query = api_key\n"
    "idempotency_key = json:/event/id\n"
    "\n"
    "[source.ci_bot]\n"
    "auth = bearer\n"
    "secret = bearer-token-value\n"
    "\n"
    "[source.legacy]\n"
    "auth = basic\n"
    "secret = legacy-user:legacy-pass\n"
    "idempotency_key = none\n"
    "\n"
    "[source.local]\n"
    "auth = none\n"
    "allow_unauthenticated = yes\n"
    "route = store\n";

/* The secrets of full_ini, which must never be printed. */
static const char *const full_ini_secrets[] = {
    "s3cret-db-pw", "gh-secret-new",     "gh-secret-old",      "twilio-token-value",
    WHSEC_EXAMPLE,  "partner-key-value", "bearer-token-value", "legacy-user:legacy-pass",
};

/* secrets_key must be the base64 of 32 bytes (the error names the key, never its value),
 * secrets_key_previous needs it; both are masked in the print and open what they sealed. */
static void test_secrets_key(void **state _unused_)
{
	static const char good[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
	CLEANUP_ENV char **short_key = ENV("HOOKRUN_SECRETS_KEY=c2hvcnQta2V5LXZhbHVl");
	CLEANUP_ENV char **only_previous = ENV("HOOKRUN_SECRETS_KEY_PREVIOUS="
	                                       "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	CLEANUP_ENV char **both =
	    ENV("HOOKRUN_SECRETS_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	        "HOOKRUN_SECRETS_KEY_PREVIOUS=Hx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=");
	_cleanup_free_ char *err = load_fail(HMAC_SOURCE, short_key, -EINVAL), *out = NULL;
	struct secret_keys *k = NULL;
	struct config *c;

	assert_non_null(strstr(err, "secrets_key: not the base64 of 32 bytes"));
	assert_null(strstr(err, "c2hvcnQta2V5LXZhbHVl"));
	expect_error(HMAC_SOURCE, only_previous, "secrets_key_previous is set without secrets_key");
	c = load_ok(HMAC_SOURCE, both);
	out = print_to_string(c);
	assert_null(strstr(out, good));
	assert_null(strstr(out, "Hx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA="));
	free(err);
	err = NULL;
	assert_int_equal(config_secret_keys(c, &k, &err), 0);
	assert_non_null(k);
	assert_string_equal(secret_keys_current_id(k), "630dcd29");
	secret_keys_free(k);
	config_free(c);
}

/* api_key_cookie replaces the default header and cannot be combined with another place. */
static void test_api_key_cookie(void **state _unused_)
{
	struct config *c =
	    load_ok("[source.k]\nauth = api-key\nsecret = k1\napi_key_cookie = hk\n", NULL);

	assert_string_equal(c->sources[0].api_key_cookie, "hk");
	assert_null(c->sources[0].api_key_header);
	assert_null(c->sources[0].api_key_query);
	config_free(c);
	expect_error("[source.k]\nauth = api-key\nsecret = k1\napi_key_cookie = hk\n"
	             "api_key_header = X-K\n",
	             NULL, "api_key_cookie: cannot be combined");
	expect_error("[source.k]\nauth = hmac\nsecret = k1\napi_key_cookie = hk\n", NULL,
	             "api_key_cookie");
}

/* jwt-bearer: the defaults, keys from a PEM file (several, in order), the checks that refuse
 * a key unfit for the algorithm, and a print that shows no key. */
static void test_jwt_bearer(void **state _unused_)
{
	CLEANUP_TMP char *pems = tmp_file("# two keys\n" JB_PUB_K1 "\n" JB_PUB_K2);
	CLEANUP_TMP char *none = tmp_file("no key here\n");
	_cleanup_free_ char *ini = NULL, *text = NULL;
	struct config *c;

	c = load_ok("[source.j]\nauth = jwt-bearer\nsecret = " JB_S32 "\n", NULL);
	assert_int_equal(c->sources[0].jwt_algorithm, JWT_ALGORITHM_HS256);
	assert_int_equal(c->sources[0].jwt_secret_encoding, JWT_SECRET_ENCODING_BASE64);
	assert_string_equal(c->sources[0].jwt_header_prefix, "Bearer");
	assert_int_equal(c->sources[0].jwt_leeway_s, 30);
	assert_true(c->sources[0].jwt_require_exp);
	assert_null(c->sources[0].jwt_issuer);
	text = print_to_string(c);
	assert_null(strstr(text, JB_S32));
	config_free(c);

	ini = xasprintf("[source.j]\nauth = jwt-bearer\njwt_algorithm = RS512\n"
	                "jwt_public_key_file = %s\njwt_header_prefix = JWT\njwt_leeway = 0\n"
	                "jwt_issuer = versori\njwt_audience = hookrun\njwt_require_exp = false\n",
	                pems);
	c = load_ok(ini, NULL);
	assert_int_equal(c->sources[0].jwt_algorithm, JWT_ALGORITHM_RS512);
	assert_int_equal(c->sources[0].n_secrets, 2);
	assert_string_equal(c->sources[0].secrets[0], JB_PUB_K1);
	assert_string_equal(c->sources[0].secrets[1], JB_PUB_K2);
	assert_string_equal(c->sources[0].jwt_header_prefix, "JWT");
	assert_int_equal(c->sources[0].jwt_leeway_s, 0);
	assert_false(c->sources[0].jwt_require_exp);
	assert_string_equal(c->sources[0].jwt_audience, "hookrun");
	config_free(c);

	free(ini);
	ini = xasprintf("[source.j]\nauth = jwt-bearer\njwt_algorithm = RS256\n"
	                "jwt_public_key_file = %s\n",
	                none);
	expect_error(ini, NULL, "holds no public key");
	expect_error("[source.j]\nauth = jwt-bearer\njwt_algorithm = RS256\nsecret = " JB_S32 "\n",
	             NULL, "RSA public keys");
	expect_error("[source.j]\nauth = jwt-bearer\nsecret = c2hvcnQ=\n", NULL, "RFC 7518");
	expect_error("[source.j]\nauth = jwt-bearer\njwt_algorithm = ES256\nsecret = x\n", NULL,
	             "jwt_algorithm");
	expect_error("[source.j]\nauth = bearer\nsecret = x\njwt_leeway = 1m\n", NULL,
	             "jwt_leeway");
}

/* oauth2: clients are client_id:client_secret, an id names one source, the lifetime. */
static void test_oauth2(void **state _unused_)
{
	struct config *c = load_ok("[source.o]\nauth = oauth2\nsecret = flows:0123456789abcdef\n"
	                           "secret = flows:the-previous-secret\n"
	                           "oauth2_token_lifetime = 5m\n",
	                           NULL);
	_cleanup_free_ char *text = print_to_string(c);

	assert_int_equal(c->sources[0].n_secrets, 2);
	assert_int_equal(c->sources[0].oauth2_token_lifetime_s, 300);
	assert_null(strstr(text, "0123456789abcdef"));
	config_free(c);
	c = load_ok("[source.o]\nauth = oauth2\nsecret = flows:0123456789abcdef\n", NULL);
	assert_int_equal(c->sources[0].oauth2_token_lifetime_s, 900);
	config_free(c);
	expect_error("[source.o]\nauth = oauth2\nsecret = no-colon\n", NULL,
	             "client_id:client_secret");
	expect_error("[source.o]\nauth = oauth2\nsecret = flows:short\n", NULL, "16 characters");
	expect_error("[source.o]\nauth = oauth2\nsecret = flows:0123456789abcdef\n"
	             "[source.p]\nauth = oauth2\nsecret = flows:fedcba9876543210\n",
	             NULL, "client id 'flows' is also a client of [source.o]");
	expect_error("[source.o]\nauth = bearer\nsecret = x\noauth2_token_lifetime = 1m\n", NULL,
	             "oauth2_token_lifetime");
}

/* certificate sources: a CA file, the TLS listener, no secret; TLS takes both files. */
static void test_certificate(void **state _unused_)
{
	CLEANUP_TMP char *ca = tmp_file("not a certificate\n");
	_cleanup_free_ char *ini = xasprintf("[hookrun]\ntls_cert_file = /nonexistent/cert.pem\n"
	                                     "tls_key_file = /nonexistent/key.pem\n"
	                                     "[source.m]\nauth = certificate\n"
	                                     "certificate_ca_file = %s\n",
	                                     ca);

	expect_error("[source.m]\nauth = certificate\n", NULL, "certificate_ca_file");
	expect_error("[hookrun]\ntls_cert_file = /x.pem\n[source.m]\nauth = none\n"
	             "allow_unauthenticated = true\n",
	             NULL, "set both");
	expect_error("[source.m]\nauth = certificate\ncertificate_ca_file = /x.pem\n", NULL,
	             "needs the TLS listener");
	expect_error("[source.m]\nauth = certificate\nsecret = x\n", NULL, "secret");
	/* The CA file is read when the source is checked. */
	expect_error(ini, NULL, "certificate_ca_file cannot be read");
}

/* Retention limits are 0 (keep) or at least an hour. */
static void test_retention_limits(void **state _unused_)
{
	CLEANUP_ENV char **short_limit = ENV("HOOKRUN_RETENTION_DELIVERY_BODIES=30m");
	CLEANUP_ENV char **ok =
	    ENV("HOOKRUN_RETENTION_DELIVERY_BODIES=30d", "HOOKRUN_RETENTION_FINISHED_ITEMS=1h");
	struct config *c;

	expect_error(HMAC_SOURCE, short_limit, "are 0 (keep) or at least 1h");
	c = load_ok(HMAC_SOURCE, ok);
	assert_int_equal(c->retention_delivery_bodies_s, 30 * 24 * 3600);
	assert_int_equal(c->retention_finished_items_s, 3600);
	assert_int_equal(c->retention_interval_s, 60);
	config_free(c);
}

/* config_digest() is the SHA-256 of what config_print() writes: the same for the same
 * settings, another when a setting changes; a secret's value, masked in the print, does not
 * move it. */
static void test_digest(void **state _unused_)
{
	struct config *a = load_ok(full_ini, NULL);
	_cleanup_free_ char *text = print_to_string(a);
	char want[65], got[65], other[65];
	struct config *b, *c;

	assert_int_equal(crypto_sha256_hex(text, strlen(text), want), 0);
	assert_int_equal(config_digest(a, got), 0);
	assert_string_equal(got, want);
	{
		_cleanup_free_ char *changed = xstrdup(full_ini);
		char *at = strstr(changed, "retry_after_s = 5");

		at[strlen("retry_after_s = ")] = '6';
		b = load_ok(changed, NULL);
		assert_int_equal(config_digest(b, other), 0);
		assert_string_not_equal(other, want);
		config_free(b);
	}
	{
		_cleanup_free_ char *changed = xstrdup(full_ini);
		char *at = strstr(changed, "gh-secret-new");

		at[0] = 'G';
		c = load_ok(changed, NULL);
		assert_int_equal(config_digest(c, other), 0);
		assert_string_equal(other, want);
		config_free(c);
	}
	config_free(a);
}

/* A full file with one source per scheme loads into the expected fields. */
static void test_full_ini(void **state _unused_)
{
	struct config *c = load_ok(full_ini, NULL);
	const struct source_config *s;

	assert_string_equal(c->listen_addr, "0.0.0.0");
	assert_int_equal(c->listen_port, 9090);
	assert_string_equal(c->db_url,
	                    "postgresql://hookrun:s3cret-db-pw@db.internal:5432/hookrun");
	assert_int_equal(c->max_backlog, 2000);
	assert_int_equal(c->batch_max_rows, 100);
	assert_int_equal(c->batch_max_bytes, 4 * 1024 * 1024);
	assert_int_equal(c->commit_timeout_ms, 250);
	assert_int_equal(c->retry_after_s, 5);
	assert_int_equal(c->dedup_window_s, 36 * 3600);
	assert_int_equal(c->db_reconnect_max_ms, 10000);
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c->log_format, LOG_FORMAT_JSON);
	assert_int_equal(c->n_sources, 7);
	assert_int_equal(c->max_body_limit, 25 * 1024 * 1024);

	s = config_source_find(c, "github");
	assert_non_null(s);
	assert_int_equal(s->auth, AUTH_SCHEME_HMAC);
	assert_int_equal(s->n_secrets, 2);
	assert_string_equal(s->secrets[0], "gh-secret-new");
	assert_string_equal(s->secrets[1], "gh-secret-old");
	assert_int_equal(s->hmac_algorithm, HMAC_ALGORITHM_SHA256);
	assert_int_equal(s->n_hmac_inputs, 1);
	assert_int_equal(s->hmac_inputs[0], SIG_INPUT_BODY);
	assert_int_equal(s->hmac_encoding, SIG_ENCODING_HEX);
	assert_string_equal(s->signature_header, "X-Hub-Signature-256");
	assert_null(s->signature_query);
	assert_string_equal(s->signature_prefix, "sha256=");
	assert_int_equal(s->idempotency_from, IDEMPOTENCY_FROM_HEADER);
	assert_string_equal(s->idempotency_name, "X-GitHub-Delivery");
	assert_int_equal(s->body_limit, 25 * 1024 * 1024);
	assert_null(config_source_find(c, "nope"));
	config_free(c);
}

/* The other schemes of full_ini. */
static void test_full_ini_schemes(void **state _unused_)
{
	struct config *c = load_ok(full_ini, NULL);
	const struct source_config *s;

	s = config_source_find(c, "twilio");
	assert_int_equal(s->hmac_algorithm, HMAC_ALGORITHM_SHA1);
	assert_int_equal(s->n_hmac_inputs, 2);
	assert_int_equal(s->hmac_inputs[0], SIG_INPUT_URL);
	assert_int_equal(s->hmac_inputs[1], SIG_INPUT_BODY);
	assert_int_equal(s->hmac_encoding, SIG_ENCODING_BASE64);
	assert_null(s->signature_header);
	assert_string_equal(s->signature_query, "signature");
	s = config_source_find(c, "svix");
	assert_int_equal(s->auth, AUTH_SCHEME_STANDARD_WEBHOOKS);
	assert_int_equal(s->tolerance_s, 600);
	assert_string_equal(s->idempotency_name, "webhook-id");
	assert_null(s->signature_header);
	s = config_source_find(c, "partner-api");
	assert_int_equal(s->auth, AUTH_SCHEME_API_KEY);
	assert_null(s->api_key_header);
	assert_string_equal(s->api_key_query, "api_key");
	assert_int_equal(s->idempotency_from, IDEMPOTENCY_FROM_JSON_POINTER);
	assert_string_equal(s->idempotency_name, "/event/id");
	s = config_source_find(c, "ci_bot");
	assert_int_equal(s->auth, AUTH_SCHEME_BEARER);
	assert_string_equal(s->secrets[0], "bearer-token-value");
	s = config_source_find(c, "legacy");
	assert_int_equal(s->auth, AUTH_SCHEME_BASIC);
	assert_int_equal(s->idempotency_from, IDEMPOTENCY_FROM_NONE);
	assert_null(s->idempotency_name);
	s = config_source_find(c, "local");
	assert_int_equal(s->auth, AUTH_SCHEME_NONE);
	assert_true(s->allow_unauthenticated);
	assert_int_equal(s->n_secrets, 0);
	assert_int_equal(s->route, ROUTE_STORE);
	config_free(c);
}

/* Every global default, with no file and an empty environment. */
static void test_global_defaults(void **state _unused_)
{
	CLEANUP_ENV char **env = ENV(NULL);
	struct config *c = load_ok(NULL, env);

	assert_string_equal(c->listen_addr, "127.0.0.1");
	assert_int_equal(c->listen_port, 8080);
	assert_null(c->db_url);
	assert_int_equal(c->max_backlog, 10000);
	assert_int_equal(c->batch_max_rows, 512);
	assert_int_equal(c->batch_max_bytes, 8 * 1024 * 1024);
	assert_int_equal(c->commit_timeout_ms, 1000);
	assert_int_equal(c->retry_after_s, 1);
	assert_int_equal(c->dedup_window_s, 7 * 86400);
	assert_int_equal(c->db_reconnect_max_ms, 5000);
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	assert_int_equal(c->log_format, LOG_FORMAT_LOGFMT);
	assert_int_equal(c->n_sources, 0);
	assert_null(c->sources);
	assert_int_equal(c->max_body_limit, 0);
	config_free(c);
}

/* Every source default, for an hmac source and the derived ones of the other schemes. */
static void test_source_defaults(void **state _unused_)
{
	struct config *c =
	    load_ok(HMAC_SOURCE "[source.sw]\nauth = standard-webhooks\nsecret = " WHSEC_EXAMPLE
	                        "\n[source.k]\nauth = api-key\nsecret = k\n",
	            NULL);
	const struct source_config *s = config_source_find(c, "gh");

	assert_string_equal(s->name, "gh");
	assert_int_equal(s->hmac_algorithm, HMAC_ALGORITHM_SHA256);
	assert_int_equal(s->n_hmac_inputs, 1);
	assert_int_equal(s->hmac_inputs[0], SIG_INPUT_BODY);
	assert_int_equal(s->hmac_encoding, SIG_ENCODING_HEX);
	assert_string_equal(s->signature_header, "X-Signature");
	assert_null(s->signature_query);
	assert_null(s->signature_prefix);
	assert_null(s->api_key_header);
	assert_int_equal(s->tolerance_s, 300);
	assert_int_equal(s->body_limit, 1024 * 1024);
	assert_int_equal(s->idempotency_from, IDEMPOTENCY_FROM_HEADER);
	assert_string_equal(s->idempotency_name, "Idempotency-Key");
	assert_int_equal(s->route, ROUTE_STORE);
	assert_false(s->allow_unauthenticated);
	s = config_source_find(c, "sw");
	assert_string_equal(s->idempotency_name, "webhook-id");
	s = config_source_find(c, "k");
	assert_string_equal(s->api_key_header, "X-API-Key");
	assert_null(s->api_key_query);
	assert_int_equal(c->max_body_limit, 1024 * 1024);
	config_free(c);
}

/* An unknown key names the file, the line, the section and the key. */
static void test_unknown_key(void **state _unused_)
{
	struct config *c;
	char *err, *path;
	_cleanup_free_ char *want = NULL;

	assert_int_equal(load_full("[hookrun]\nlisten_port = 1\n\n[source.versori]\nauth = hmac\n"
	                           "hmac_algo = sha1\n",
	                           NULL, &c, &err, &path),
	                 -EINVAL);
	want = xasprintf("%s:6: [source.versori] unknown key 'hmac_algo'", path);
	assert_string_equal(err, want);
	free(err);
	free(path);
	expect_error("[hookrun]\nlisten_prot = 1\n", NULL,
	             ":2: [hookrun] unknown key 'listen_prot'");
}

/* Sections other than [hookrun] and [source.NAME] are refused, even when empty. */
static void test_unknown_section(void **state _unused_)
{
	expect_error("[hookrun]\n[sources.gh]\nauth = hmac\n", NULL,
	             ":2: unknown section [sources.gh]");
	expect_error("[global]\n", NULL, ":1: unknown section [global]");
	expect_error("listen_port = 1\n", NULL, ":1: key 'listen_port' is outside any section");
}

/* Source names follow the URL segment rule. */
static void test_source_name(void **state _unused_)
{
	expect_error("[source.GitHub]\nauth = hmac\n", NULL, "[source.GitHub] invalid source name");
	expect_error("[source._x]\n", NULL, "invalid source name");
	expect_error("[source.]\n", NULL, "invalid source name");
	expect_error("[source.a/b]\n", NULL, "invalid source name");
	expect_error("[source.0123456789012345678901234567890123456789012345678901234567890123]\n",
	             NULL, "invalid source name");
	config_free(
	    load_ok("[source.012345678901234567890123456789012345678901234567890123456789012]"
	            "\nauth = bearer\nsecret = x\n",
	            NULL));
}

/* Repeated sections and keys are refused; secret is the one repeatable key. */
static void test_duplicates(void **state _unused_)
{
	expect_error(HMAC_SOURCE "[source.gh]\n", NULL,
	             ":4: duplicate section [source.gh] (first at line 1)");
	expect_error("[hookrun]\n[hookrun]\n", NULL, ":2: duplicate section [hookrun]");
	expect_error("[hookrun]\nlisten_port = 1\nlisten_port = 2\n", NULL,
	             ":3: [hookrun] listen_port: set more than once");
	/* inih continues values on indented lines; here that would be a second value. */
	expect_error("[hookrun]\nlisten_addr = a\n  b\n", NULL, "listen_addr: set more than once");
	expect_error(HMAC_SOURCE "  [source.b]\n", NULL, ":4: indented section header");
}

/* Enum values must be one of the names; the message lists them. */
static void test_bad_enum(void **state _unused_)
{
	expect_error("[hookrun]\nlog_level = verbose\n", NULL,
	             ":2: [hookrun] log_level: 'verbose' is not one of debug|info|warn|error");
	expect_error("[source.a]\nauth = oauth\n", NULL,
	             "[source.a] auth: 'oauth' is not one of none|hmac|standard-webhooks|api-key|"
	             "bearer|basic");
	expect_error(HMAC_SOURCE "hmac_algorithm = md5\n", NULL,
	             "is not one of sha1|sha256|sha512");
	expect_error(HMAC_SOURCE "hmac_encoding = HEX\n", NULL,
	             "is not one of hex|base64|base64url");
	expect_error(HMAC_SOURCE "route = forward\n", NULL, "route: 'forward' is not one of store");
	expect_error("[hookrun]\nlog_format = text\n", NULL, "is not one of logfmt|json");
	expect_error(HMAC_SOURCE "allow_unauthenticated = maybe\n", NULL, "is not a boolean");
}

/* Numbers outside their range are refused with the range in the message. */
static void test_out_of_range(void **state _unused_)
{
	expect_error("[hookrun]\nlisten_port = 65536\n", NULL,
	             "[hookrun] listen_port: '65536' is out of range 0..65535");
	expect_error("[hookrun]\nbatch_max_rows = 0\n", NULL, "'0' is out of range 1..5000");
	expect_error("[hookrun]\nmax_backlog = 1000001\n", NULL, "out of range 1..1000000");
	expect_error("[hookrun]\ncommit_timeout_ms = 49\n", NULL, "out of range 50..60000");
	expect_error("[hookrun]\nretry_after_s = 3601\n", NULL, "out of range 1..3600");
	expect_error("[hookrun]\ndb_reconnect_max_ms = 99\n", NULL, "out of range 100..600000");
	expect_error("[hookrun]\ndedup_window = 366d\n", NULL, "'366d' is out of range 1s..365d");
	expect_error("[hookrun]\ndedup_window = 0\n", NULL, "out of range 1s..365d");
	expect_error(HMAC_SOURCE "body_limit = 65M\n", NULL, "'65M' is out of range 1..64MiB");
	expect_error("[hookrun]\nlisten_port = 99999999999999999999999\n", NULL, "out of range");
	expect_error("[hookrun]\nbatch_max_bytes = 9999999999999999G\n", NULL, "out of range");
	config_free(load_ok("[hookrun]\nlisten_port = 0\ndedup_window = 365d\n", NULL));
}

/* Malformed numbers are refused with what was expected. */
static void test_bad_numbers(void **state _unused_)
{
	expect_error("[hookrun]\nlisten_port = -1\n", NULL, "'-1' is not a non-negative integer");
	expect_error("[hookrun]\nlisten_port = 80x\n", NULL, "is not a non-negative integer");
	expect_error("[hookrun]\nlisten_port = 0x50\n", NULL, "is not a non-negative integer");
	expect_error("[hookrun]\nlisten_port =\n", NULL, "'' is not a non-negative integer");
	expect_error("[hookrun]\nbatch_max_bytes = 8 MiB\n", NULL, "is not a size");
	expect_error("[hookrun]\nbatch_max_bytes = 8T\n", NULL, "is not a size");
	expect_error("[hookrun]\ndedup_window = 1w\n", NULL, "is not a duration");
	expect_error("[hookrun]\ndedup_window = 1.5h\n", NULL, "is not a duration");
}

/* Size suffixes are binary multiples; bare numbers are bytes. */
static void test_size_suffixes(void **state _unused_)
{
	static const struct {
		const char *text;
		size_t bytes;
	} cases[] = {
	    {"1", 1},        {"4096", 4096},    {"2k", 2048},    {"2K", 2048},      {"2KiB", 2048},
	    {"3M", 3 << 20}, {"3MiB", 3 << 20}, {"1G", 1 << 30}, {"1GiB", 1 << 30},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *ini =
		    xasprintf("[hookrun]\nbatch_max_bytes = %s\n", cases[i].text);
		struct config *c = load_ok(ini, NULL);

		assert_int_equal(c->batch_max_bytes, cases[i].bytes);
		config_free(c);
	}
}

/* Duration suffixes; bare numbers are seconds. */
static void test_duration_suffixes(void **state _unused_)
{
	static const struct {
		const char *text;
		long long seconds;
	} cases[] = {
	    {"45", 45}, {"45s", 45}, {"2m", 120}, {"3h", 10800}, {"1d", 86400},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *ini = xasprintf("[hookrun]\ndedup_window = %s\n"
		                                     "[source.s]\nauth = standard-webhooks\n"
		                                     "secret = %s\ntolerance = %s\n",
		                                     cases[i].text, WHSEC_EXAMPLE, cases[i].text);
		struct config *c = load_ok(ini, NULL);

		assert_int_equal(c->dedup_window_s, cases[i].seconds);
		assert_int_equal(c->sources[0].tolerance_s, cases[i].seconds);
		config_free(c);
	}
	expect_error("[source.s]\nauth = standard-webhooks\nsecret = " WHSEC_EXAMPLE
	             "\ntolerance = 2d\n",
	             NULL, "tolerance: '2d' is out of range 1s..1d");
}

/* Booleans accept the usual spellings in any case. */
static void test_bools(void **state _unused_)
{
	static const char *const yes[] = {"true", "yes", "1", "on", "TRUE", "Yes"};
	static const char *const no[] = {"false", "no", "0", "off"};

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		_cleanup_free_ char *ini = xasprintf("[source.l]\nauth = none\n"
		                                     "allow_unauthenticated = %s\n",
		                                     yes[i]);
		struct config *c = load_ok(ini, NULL);

		assert_true(c->sources[0].allow_unauthenticated);
		config_free(c);
	}
	for (size_t i = 0; i < ELEMENTSOF(no); i++) {
		_cleanup_free_ char *ini = xasprintf("[source.l]\nauth = none\n"
		                                     "allow_unauthenticated = %s\n",
		                                     no[i]);
		expect_error(ini, NULL, "allow_unauthenticated = true");
	}
}

/* Secret lines accumulate in the order written (newest first), up to the limit. */
static void test_secret_rotation(void **state _unused_)
{
	struct config *c = load_ok("[source.gh]\nauth = hmac\nsecret = newest\nsecret = middle\n"
	                           "secret = oldest\n",
	                           NULL);

	assert_int_equal(c->sources[0].n_secrets, 3);
	assert_string_equal(c->sources[0].secrets[0], "newest");
	assert_string_equal(c->sources[0].secrets[1], "middle");
	assert_string_equal(c->sources[0].secrets[2], "oldest");
	config_free(c);
	expect_error("[source.gh]\nauth = hmac\nsecret = \n", NULL,
	             "[source.gh] secret: must not be empty");
	expect_error("[source.gh]\nauth = hmac\nsecret=1\nsecret=2\nsecret=3\nsecret=4\n"
	             "secret=5\nsecret=6\nsecret=7\nsecret=8\nsecret=9\n",
	             NULL, ":11: [source.gh] secret: at most 8 secrets are accepted");
}

/* CONFIG_LOAD_SECRETS_OPTIONAL (the CLI): a source without its secret loads, with its other
 * settings; one that is given is still checked; without the flag the same file is refused. */
static void test_secrets_optional(void **state _unused_)
{
	static const char ini[] = "[source.gh]\nauth = hmac\nroute = provision\n"
	                          "organisation = demo\nexternal_id_pointer = /customer/ref\n"
	                          "[source.sw]\nauth = standard-webhooks\n";
	CLEANUP_TMP char *path = tmp_file(ini);
	CLEANUP_TMP char *bad = tmp_file("[source.sw]\nauth = standard-webhooks\nsecret = nope\n");
	struct config *c = NULL;
	char *err = NULL;

	assert_int_equal(config_load_flags(path, NULL, CONFIG_LOAD_SECRETS_OPTIONAL, &c, &err), 0);
	assert_null(err);
	assert_int_equal(c->n_sources, 2);
	assert_int_equal(c->sources[0].n_secrets, 0);
	assert_string_equal(config_source_find(c, "gh")->external_id_pointer, "/customer/ref");
	config_free(c);
	c = NULL;
	assert_int_equal(config_load_flags(bad, NULL, CONFIG_LOAD_SECRETS_OPTIONAL, &c, &err),
	                 -EINVAL);
	assert_non_null(strstr(err, "whsec_"));
	free(err);
	err = NULL;
	expect_error(ini, NULL, "[source.gh] secret: auth=hmac needs at least one secret");
}

/* secret_file: one per line, blanks and comments skipped, order kept. */
static void test_secret_file(void **state _unused_)
{
	CLEANUP_TMP char *secrets = tmp_file("# rotated 2024-05\n\nfile-new\n  file-old  \r\n"
	                                     "# end\n");
	CLEANUP_TMP char *empty = tmp_file("# nothing\n\n");
	_cleanup_free_ char *ini =
	    xasprintf("[source.gh]\nauth = hmac\nsecret_file = %s\n", secrets);
	_cleanup_free_ char *ini_empty =
	    xasprintf("[source.gh]\nauth = hmac\nsecret_file = %s\n", empty);
	struct config *c = load_ok(ini, NULL);

	assert_int_equal(c->sources[0].n_secrets, 2);
	assert_string_equal(c->sources[0].secrets[0], "file-new");
	assert_string_equal(c->sources[0].secrets[1], "file-old");
	config_free(c);
	expect_error(ini_empty, NULL, "holds no secret");
	free(load_fail("[source.gh]\nauth = hmac\nsecret_file = /nonexistent/hookrun-secrets\n",
	               NULL, -ENOENT));
}

/* In one section secret and secret_file contradict each other. */
static void test_secret_and_secret_file(void **state _unused_)
{
	CLEANUP_TMP char *secrets = tmp_file("from-file\n");
	_cleanup_free_ char *ini = xasprintf("[source.gh]\nauth = hmac\nsecret = inline\n"
	                                     "secret_file = %s\n",
	                                     secrets);

	expect_error(ini, NULL, "[source.gh] secret_file: cannot be combined with secret");
}

/* Secrets of the wrong shape are refused without quoting them. */
static void test_secret_shapes(void **state _unused_)
{
	_cleanup_free_ char *err = NULL;

	err = load_fail("[source.sw]\nauth = standard-webhooks\nsecret = " WHSEC_EXAMPLE
	                "\nsecret = not-a-whsec-value\n",
	                NULL, -EINVAL);
	assert_non_null(strstr(err, "[source.sw] secret: secret #2 is not a valid whsec_ value"));
	assert_null(strstr(err, "not-a-whsec-value"));
	expect_error("[source.sw]\nauth = standard-webhooks\nsecret = whsec_!!!!\n", NULL,
	             "secret #1 is not a valid whsec_");
	expect_error("[source.sw]\nauth = standard-webhooks\nsecret = whsec_\n", NULL,
	             "secret #1 is not a valid whsec_");
	free(err);
	err = load_fail("[source.b]\nauth = basic\nsecret = no-colon-here\n", NULL, -EINVAL);
	assert_non_null(
	    strstr(err, "[source.b] secret: secret #1 is not of the form user:password"));
	assert_null(strstr(err, "no-colon-here"));
	config_free(
	    load_ok("[source.sw]\nauth = standard-webhooks\nsecret = whsec_YWJjZA==\n", NULL));
}

/* Every scheme but none needs a secret; auth itself is required. */
static void test_auth_required(void **state _unused_)
{
	static const char *const schemes[] = {"hmac", "standard-webhooks", "api-key", "bearer",
	                                      "basic"};

	for (size_t i = 0; i < ELEMENTSOF(schemes); i++) {
		_cleanup_free_ char *ini = xasprintf("[source.x]\nauth = %s\n", schemes[i]);
		_cleanup_free_ char *want = xasprintf("[source.x] secret: auth=%s needs at least "
		                                      "one secret",
		                                      schemes[i]);
		expect_error(ini, NULL, want);
	}
	expect_error("[source.x]\nsecret = s\n", NULL,
	             ":1: [source.x] auth: required, one of none|");
	expect_error("[source.x]\n", NULL, "[source.x] auth: required");
}

/* auth=none is refused unless allow_unauthenticated says this is local development. */
static void test_auth_none(void **state _unused_)
{
	struct config *c;

	expect_error(
	    "[source.dev]\nauth = none\n", NULL,
	    ":2: [source.dev] auth: none accepts anyone and is for local development only");
	expect_error("[source.dev]\nauth = none\nallow_unauthenticated = false\n", NULL,
	             "allow_unauthenticated = true");
	expect_error("[source.dev]\nauth = none\nallow_unauthenticated = true\nsecret = x\n", NULL,
	             "[source.dev] secret: does not apply to auth=none");
	c = load_ok("[source.dev]\nauth = none\nallow_unauthenticated = on\n", NULL);
	assert_int_equal(c->sources[0].auth, AUTH_SCHEME_NONE);
	config_free(c);
}

/* signature_header and signature_query are exclusive, as are the api-key pair. */
static void test_header_or_query(void **state _unused_)
{
	expect_error(HMAC_SOURCE "signature_header = X-Sig\nsignature_query = sig\n", NULL,
	             ":5: [source.gh] signature_query: cannot be combined with signature_header");
	expect_error("[source.k]\nauth = api-key\nsecret = k\napi_key_header = X-Key\n"
	             "api_key_query = key\n",
	             NULL, "api_key_query: cannot be combined with api_key_header");
	expect_error(HMAC_SOURCE "signature_header = X Sig\n", NULL,
	             "signature_header: 'X Sig' is not a valid HTTP header name");
}

/* Keys that belong to another scheme are refused rather than silently ignored. */
static void test_inapplicable_keys(void **state _unused_)
{
	expect_error(
	    "[source.b]\nauth = bearer\nsecret = t\nsignature_header = X-Sig\n", NULL,
	    ":4: [source.b] signature_header: does not apply to auth=bearer (only to hmac)");
	expect_error("[source.b]\nauth = hmac\nsecret = t\ntolerance = 5m\n", NULL,
	             "tolerance: does not apply to auth=hmac (only to standard-webhooks)");
	expect_error("[source.b]\nauth = hmac\nsecret = t\napi_key_query = k\n", NULL,
	             "api_key_query: does not apply to auth=hmac (only to api-key)");
}

/* hmac_inputs is an ordered list of body and url without repeats. */
static void test_hmac_inputs(void **state _unused_)
{
	struct config *c = load_ok(HMAC_SOURCE "hmac_inputs = url,body\n", NULL);

	assert_int_equal(c->sources[0].n_hmac_inputs, 2);
	assert_int_equal(c->sources[0].hmac_inputs[0], SIG_INPUT_URL);
	assert_int_equal(c->sources[0].hmac_inputs[1], SIG_INPUT_BODY);
	config_free(c);
	c = load_ok(HMAC_SOURCE "hmac_inputs = url\n", NULL);
	assert_int_equal(c->sources[0].n_hmac_inputs, 1);
	assert_int_equal(c->sources[0].hmac_inputs[0], SIG_INPUT_URL);
	config_free(c);
	expect_error(HMAC_SOURCE "hmac_inputs = body,body\n", NULL, "'body' is listed twice");
	expect_error(HMAC_SOURCE "hmac_inputs = body,headers\n", NULL,
	             "'headers' is not one of body|url");
	expect_error(HMAC_SOURCE "hmac_inputs = body,\n", NULL, "'' is not one of body|url");
	expect_error(HMAC_SOURCE "hmac_inputs =\n", NULL, "'' is not one of body|url");
}

/* idempotency_key syntax. */
static void test_idempotency_key(void **state _unused_)
{
	struct config *c = load_ok(HMAC_SOURCE "idempotency_key = json:/data/a~1b\n", NULL);

	assert_int_equal(c->sources[0].idempotency_from, IDEMPOTENCY_FROM_JSON_POINTER);
	assert_string_equal(c->sources[0].idempotency_name, "/data/a~1b");
	config_free(c);
	expect_error(HMAC_SOURCE "idempotency_key = json:data\n", NULL,
	             "idempotency_key: 'json:data' is not header:<Name>, json:</pointer>");
	expect_error(HMAC_SOURCE "idempotency_key = json:/a~2\n", NULL, "is not header:<Name>");
	expect_error(HMAC_SOURCE "idempotency_key = header:\n", NULL, "is not header:<Name>");
	expect_error(HMAC_SOURCE "idempotency_key = X-Id\n", NULL, "is not header:<Name>");
}

/* Syntax errors, over-long lines and a missing file. */
static void test_file_problems(void **state _unused_)
{
	char long_line[400];
	_cleanup_free_ char *ini = NULL, *err = NULL;
	struct config *c = NULL;

	expect_error("[hookrun]\nlisten_port\n", NULL, ":2: syntax error");
	expect_error("[hookrun\n", NULL, ":1: syntax error");
	expect_error("[hookrun]\nnot a key\nlisten_prot = 1\n", NULL, ":2: syntax error");
	memset(long_line, 'x', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	ini = xasprintf("[hookrun]\nlisten_addr = %s\n", long_line);
	expect_error(ini, NULL, ":2: line is longer than");
	assert_int_equal(config_load("/nonexistent/hookrun.ini", NULL, &c, &err), -ENOENT);
	assert_null(c);
	assert_string_equal(err,
	                    "/nonexistent/hookrun.ini: cannot open: No such file or directory");
}

/* HOOKRUN_<KEY> overrides the file, which overrides the defaults. */
static void test_env_global(void **state _unused_)
{
	CLEANUP_ENV char **env = ENV(
	    "PATH=/usr/bin", "HOOKRUN_LISTEN_PORT=9000", "HOOKRUN_DB_URL=postgresql://env@h/db",
	    "HOOKRUN_DEDUP_WINDOW=1h", "HOOKRUN_LOG_FORMAT=json", "HOOKRUN_BATCH_MAX_BYTES=64K");
	struct config *c = load_ok("[hookrun]\nlisten_port = 8000\nlisten_addr = ::1\n"
	                           "db_url = postgresql://file@h/db\n",
	                           env);

	assert_int_equal(c->listen_port, 9000);
	assert_string_equal(c->listen_addr, "::1");
	assert_string_equal(c->db_url, "postgresql://env@h/db");
	assert_int_equal(c->dedup_window_s, 3600);
	assert_int_equal(c->log_format, LOG_FORMAT_JSON);
	assert_int_equal(c->batch_max_bytes, 65536);
	config_free(c);
}

/* Every global key has the HOOKRUN_<KEY> variable the documentation promises. */
static void test_env_every_global_key(void **state _unused_)
{
	CLEANUP_TMP char *url = tmp_file("postgresql://f@h/db\n");
	_cleanup_free_ char *url_file = xasprintf("HOOKRUN_DB_URL_FILE=%s", url);
	CLEANUP_ENV char **env =
	    ENV("HOOKRUN_LISTEN_ADDR=10.0.0.1", "HOOKRUN_LISTEN_PORT=1", url_file,
	        "HOOKRUN_MAX_BACKLOG=2", "HOOKRUN_BATCH_MAX_ROWS=3", "HOOKRUN_BATCH_MAX_BYTES=4",
	        "HOOKRUN_COMMIT_TIMEOUT_MS=55", "HOOKRUN_RETRY_AFTER_S=6", "HOOKRUN_DEDUP_WINDOW=7",
	        "HOOKRUN_DB_RECONNECT_MAX_MS=888", "HOOKRUN_LOG_LEVEL=error",
	        "HOOKRUN_LOG_FORMAT=json");
	struct config *c = load_ok(NULL, env);

	assert_string_equal(c->listen_addr, "10.0.0.1");
	assert_int_equal(c->listen_port, 1);
	assert_string_equal(c->db_url, "postgresql://f@h/db");
	assert_int_equal(c->max_backlog, 2);
	assert_int_equal(c->batch_max_rows, 3);
	assert_int_equal(c->batch_max_bytes, 4);
	assert_int_equal(c->commit_timeout_ms, 55);
	assert_int_equal(c->retry_after_s, 6);
	assert_int_equal(c->dedup_window_s, 7);
	assert_int_equal(c->db_reconnect_max_ms, 888);
	assert_int_equal(c->log_level, LOG_LEVEL_ERROR);
	assert_int_equal(c->log_format, LOG_FORMAT_JSON);
	config_free(c);
}

/* HOOKRUN_SOURCE_<NAME>_<KEY> overrides keys of sources defined in the file. */
static void test_env_source(void **state _unused_)
{
	CLEANUP_ENV char **env =
	    ENV("HOOKRUN_SOURCE_PARTNER_API_API_KEY_HEADER=X-Partner-Key",
	        "HOOKRUN_SOURCE_PARTNER_API_API_KEY_QUERY=", "HOOKRUN_SOURCE_GH_BODY_LIMIT=2MiB",
	        "HOOKRUN_SOURCE_GH_HMAC_INPUTS=url,body", "HOOKRUN_SOURCE_GH_SECRET=from-env");
	struct config *c = load_ok(HMAC_SOURCE "secret = s2\n"
	                                       "[source.partner-api]\nauth = api-key\nsecret = k\n"
	                                       "api_key_query = key\n",
	                           env);
	const struct source_config *gh = config_source_find(c, "gh");
	const struct source_config *p = config_source_find(c, "partner-api");

	assert_int_equal(gh->body_limit, 2 * 1024 * 1024);
	assert_int_equal(gh->n_hmac_inputs, 2);
	/* The variable replaces both secrets of the file. */
	assert_int_equal(gh->n_secrets, 1);
	assert_string_equal(gh->secrets[0], "from-env");
	assert_string_equal(p->api_key_header, "X-Partner-Key");
	assert_null(p->api_key_query);
	assert_int_equal(c->max_body_limit, 2 * 1024 * 1024);
	config_free(c);
}

/* *_FILE variables and db_url_file read values from files. */
static void test_env_files(void **state _unused_)
{
	CLEANUP_TMP char *url = tmp_file("postgresql://u:file-pw@h/db\r\n");
	CLEANUP_TMP char *secrets = tmp_file("env-file-new\nenv-file-old\n");
	_cleanup_free_ char *v1 = xasprintf("HOOKRUN_DB_URL_FILE=%s", url);
	_cleanup_free_ char *v2 = xasprintf("HOOKRUN_SOURCE_GH_SECRET_FILE=%s", secrets);
	CLEANUP_ENV char **env = ENV(v1, v2);
	_cleanup_free_ char *ini = xasprintf("[hookrun]\ndb_url_file = %s\n" HMAC_SOURCE, url);
	struct config *c = load_ok(HMAC_SOURCE "[hookrun]\ndb_url = postgresql://ini@h/db\n", env);

	assert_string_equal(c->db_url, "postgresql://u:file-pw@h/db");
	assert_int_equal(c->sources[0].n_secrets, 2);
	assert_string_equal(c->sources[0].secrets[0], "env-file-new");
	assert_string_equal(c->sources[0].secrets[1], "env-file-old");
	config_free(c);
	c = load_ok(ini, NULL);
	assert_string_equal(c->db_url, "postgresql://u:file-pw@h/db");
	config_free(c);
}

/* Problems with *_FILE values and combining a key with its _file twin. */
static void test_env_file_problems(void **state _unused_)
{
	CLEANUP_TMP char *empty = tmp_file("\n");
	CLEANUP_TMP char *url = tmp_file("postgresql://h/db\n");
	_cleanup_free_ char *v_empty = xasprintf("HOOKRUN_DB_URL_FILE=%s", empty);
	_cleanup_free_ char *v_url = xasprintf("HOOKRUN_DB_URL_FILE=%s", url);
	CLEANUP_ENV char **e1 = ENV(v_empty);
	CLEANUP_ENV char **e2 = ENV(v_url, "HOOKRUN_DB_URL=postgresql://x/db");
	CLEANUP_ENV char **e3 = ENV("HOOKRUN_DB_URL_FILE=/nonexistent/db-url");
	_cleanup_free_ char *ini = xasprintf("[hookrun]\ndb_url = postgresql://a/b\n"
	                                     "db_url_file = %s\n",
	                                     url);

	expect_error(NULL, e1, "HOOKRUN_DB_URL_FILE: [hookrun] db_url_file:");
	expect_error(NULL, e1, "is empty");
	expect_error(NULL, e2,
	             "HOOKRUN_DB_URL: [hookrun] db_url: cannot be combined with db_url_file");
	free(load_fail(NULL, e3, -ENOENT));
	expect_error(ini, NULL, ":3: [hookrun] db_url_file: cannot be combined with db_url");
}

/* Unknown HOOKRUN_ variables are errors naming the variable. */
static void test_env_unknown(void **state _unused_)
{
	CLEANUP_ENV char **e1 = ENV("HOOKRUN_LISTEN_PROT=1");
	CLEANUP_ENV char **e2 = ENV("HOOKRUN_SOURCE_NOPE_AUTH=hmac");
	CLEANUP_ENV char **e3 = ENV("HOOKRUN_SOURCE_GH_HMAC_ALGO=sha1");
	CLEANUP_ENV char **e4 = ENV("HOOKRUN_DBURL=x");

	expect_error(NULL, e1, "HOOKRUN_LISTEN_PROT: unknown configuration variable");
	expect_error(HMAC_SOURCE, e2, "HOOKRUN_SOURCE_NOPE_AUTH: no [source.NAME] section matches");
	expect_error(NULL, e2, "HOOKRUN_SOURCE_NOPE_AUTH: no [source.NAME] section matches");
	expect_error(HMAC_SOURCE, e3,
	             "HOOKRUN_SOURCE_GH_HMAC_ALGO: [source.gh] unknown key 'HMAC_ALGO'");
	expect_error(NULL, e4, "HOOKRUN_DBURL: unknown configuration variable");
}

/* Variables of other tools are allowed; so is everything without the prefix. */
static void test_env_allow_list(void **state _unused_)
{
	CLEANUP_ENV char **env =
	    ENV("HOOKRUN_CONFIG=/etc/hookrun.ini", "HOOKRUN_MIGRATIONS_DIR=/m",
	        "HOOKRUN_SOURCE_ROOT=/src", "HOOKRUN_BUILD_ROOT=/build", "HOOKRUN_PG_USER=pg",
	        "HOOKRUN_PG_BINDIR=/usr/lib/postgresql/15/bin", "HOOKRUN_TEST_DB=x",
	        "HOOKRUN_BENCH_RATE=5", "HOOKRUN_DEV_ANYTHING=1", "HOOKRUNNER=1", "HOOKRUN=1",
	        "NOT_HOOKRUN_LISTEN_PORT=1", "HOOKRUN_NO_EQUALS");
	struct config *c = load_ok(HMAC_SOURCE, env);

	assert_int_equal(c->listen_port, 8080);
	config_free(c);
}

/* Environment values are validated with the file's messages, naming the variable. */
static void test_env_bad_values(void **state _unused_)
{
	CLEANUP_ENV char **e1 = ENV("HOOKRUN_LISTEN_PORT=70000");
	CLEANUP_ENV char **e2 = ENV("HOOKRUN_SOURCE_GH_AUTH=none");
	CLEANUP_ENV char **e3 = ENV("HOOKRUN_SOURCE_GH_SIGNATURE_QUERY=sig");
	CLEANUP_ENV char **e4 = ENV("HOOKRUN_LOG_LEVEL=loud");
	CLEANUP_ENV char **e5 = ENV("HOOKRUN_SOURCE_SW_SECRET=whsec_***");

	expect_error(NULL, e1,
	             "HOOKRUN_LISTEN_PORT: [hookrun] listen_port: '70000' is out of range");
	expect_error(HMAC_SOURCE, e2,
	             "HOOKRUN_SOURCE_GH_AUTH: [source.gh] auth: none accepts anyone");
	expect_error(HMAC_SOURCE "signature_header = X-Sig\n", e3,
	             "HOOKRUN_SOURCE_GH_SIGNATURE_QUERY: [source.gh] signature_query: cannot be "
	             "combined with signature_header");
	expect_error(NULL, e4, "HOOKRUN_LOG_LEVEL: [hookrun] log_level: 'loud' is not one of");
	expect_error(
	    "[source.sw]\nauth = standard-webhooks\nsecret = " WHSEC_EXAMPLE "\n", e5,
	    "HOOKRUN_SOURCE_SW_SECRET: [source.sw] secret: secret #1 is not a valid whsec_");
}

/* An environment variable can clear an optional key set in the file. */
static void test_env_clears_optional(void **state _unused_)
{
	CLEANUP_ENV char **env =
	    ENV("HOOKRUN_SOURCE_GH_SIGNATURE_HEADER=", "HOOKRUN_SOURCE_GH_SIGNATURE_QUERY=sig");
	struct config *c = load_ok(HMAC_SOURCE "signature_header = X-Sig\n", env);

	assert_null(c->sources[0].signature_header);
	assert_string_equal(c->sources[0].signature_query, "sig");
	config_free(c);
}

/* Sources whose names differ only by '-' and '_' would share their variables. */
static void test_env_name_collision(void **state _unused_)
{
	expect_error("[source.foo-bar]\nauth = bearer\nsecret = a\n"
	             "[source.foo_bar]\nauth = bearer\nsecret = b\n",
	             NULL,
	             ":4: [source.foo_bar] has the same variable prefix HOOKRUN_SOURCE_FOO_BAR_ as "
	             "[source.foo-bar]");
}

/* A source whose name is a prefix of another's still gets only its own variables. */
static void test_env_prefix_sources(void **state _unused_)
{
	CLEANUP_ENV char **env =
	    ENV("HOOKRUN_SOURCE_FOO_BAR_SECRET=bar-env", "HOOKRUN_SOURCE_FOO_SECRET=foo-env");
	struct config *c = load_ok("[source.foo]\nauth = bearer\nsecret = a\n"
	                           "[source.foo-bar]\nauth = bearer\nsecret = b\n",
	                           env);

	assert_string_equal(config_source_find(c, "foo")->secrets[0], "foo-env");
	assert_string_equal(config_source_find(c, "foo-bar")->secrets[0], "bar-env");
	config_free(c);
}

/* With no file, the configuration comes from the environment alone. */
static void test_null_path(void **state _unused_)
{
	CLEANUP_ENV char **env = ENV("HOOKRUN_LISTEN_PORT=0", "HOOKRUN_LOG_LEVEL=warn");
	struct config *c = load_ok(NULL, env);

	assert_int_equal(c->listen_port, 0);
	assert_int_equal(c->log_level, LOG_LEVEL_WARN);
	assert_int_equal(c->n_sources, 0);
	config_free(c);
	c = load_ok(NULL, NULL);
	assert_int_equal(c->listen_port, 8080);
	config_free(c);
}

/* The printed configuration masks every secret and shows the rest. */
static void test_print_masks_secrets(void **state _unused_)
{
	struct config *c = load_ok(full_ini, NULL);
	_cleanup_free_ char *out = print_to_string(c);

	for (size_t i = 0; i < ELEMENTSOF(full_ini_secrets); i++)
		if (strstr(out, full_ini_secrets[i]))
			fail_msg("secret '%s' printed:\n%s", full_ini_secrets[i], out);
	assert_non_null(
	    strstr(out, "db_url = postgresql://hookrun:********@db.internal:5432/hookrun\n"));
	assert_non_null(strstr(out, "[source.github]\nauth = hmac\nsecret = ********\n"
	                            "secret = ********\nhmac_algorithm = sha256\n"));
	assert_non_null(strstr(out, "hmac_inputs = url,body\n"));
	assert_non_null(strstr(out, "idempotency_key = json:/event/id\n"));
	assert_non_null(strstr(out, "idempotency_key = header:webhook-id\n"));
	assert_non_null(strstr(out, "dedup_window = 36h\n"));
	assert_non_null(strstr(out, "batch_max_bytes = 4MiB\n"));
	assert_non_null(strstr(out, "body_limit = 25MiB\n"));
	assert_non_null(strstr(out, "tolerance = 10m\n"));
	assert_non_null(strstr(out, "[source.local]\nauth = none\nbody_limit = 1MiB\n"));
	assert_null(strstr(out, "secret_file"));
	assert_null(strstr(out, "db_url_file"));
	config_free(c);
}

/* Secrets in every libpq connection string form are masked (db_url_mask, tested in full in
 * test_db.c); a string libpq cannot parse is not printed at all. */
#define ORG_ULID "01HZX3KQ7E0000000000000000"

/* [versori.NAME]: a complete section loads, an environment variable overrides a key, the
 * credential is printed masked, and the lookup finds it by name. */
static void test_versori_section(void **state _unused_)
{
	CLEANUP_ENV char **env = ENV("HOOKRUN_VERSORI_ACME_API_KEY=key-from-env-3141",
	                             "HOOKRUN_VERSORI_ACME_RATE_LIMIT=50");
	struct config *c = load_ok("[versori.acme]\n"
	                           "base_url = http://127.0.0.1:9\n"
	                           "organisation_id = " ORG_ULID "\n"
	                           "api_key = key-from-file\n"
	                           "concurrency = 8\n",
	                           env);
	const struct versori_org_config *v = config_versori_find(c, "acme");
	_cleanup_free_ char *out = print_to_string(c);

	assert_non_null(v);
	assert_null(config_versori_find(c, "other"));
	assert_string_equal(v->api_key, "key-from-env-3141");
	assert_string_equal(v->base_url, "http://127.0.0.1:9");
	assert_int_equal(v->rate_limit, 50);
	assert_int_equal(v->concurrency, 8);
	assert_null(v->jwt);
	assert_non_null(strstr(out, "\n[versori.acme]\nbase_url = http://127.0.0.1:9\n"));
	assert_non_null(strstr(out, "\napi_key = ********\n"));
	assert_null(strstr(out, "3141"));
	config_free(c);
}

/* [versori.NAME] refuses what a worker could not use. */
static void test_versori_errors(void **state _unused_)
{
	expect_error("[versori.acme]\napi_key = k\n", NULL,
	             "[versori.acme] organisation_id: required");
	expect_error("[versori.acme]\norganisation_id = not-a-ulid\napi_key = k\n", NULL,
	             "organisation_id: required, the organisation's ULID");
	expect_error("[versori.acme]\norganisation_id = " ORG_ULID "\napi_key = k\njwt = j\n", NULL,
	             "one credential at most: api_key, jwt or signing_key (or their "
	             "_file forms); 2 set");
	expect_error("[versori.acme]\norganisation_id = " ORG_ULID "\nsigning_key = pem\n", NULL,
	             "signing_key_id: required with signing_key");
	expect_error("[versori.acme]\norganisation_id = " ORG_ULID "\napi_key = k\n"
	             "base_url = ftp://x\n",
	             NULL, "base_url: must start with http:// or https://");
	expect_error("[versori.acme]\nauth = hmac\n", NULL, "[versori.acme] unknown key 'auth'");
	expect_error("[versori.Acme]\n", NULL, "invalid organisation name");
	expect_error("[versori.a]\n[versori.a]\n", NULL, "duplicate section [versori.a]");
	expect_error("[versori.a-b]\norganisation_id = " ORG_ULID "\napi_key = k\n"
	             "[versori.a_b]\norganisation_id = " ORG_ULID "\napi_key = k\n",
	             NULL, "same variable prefix HOOKRUN_VERSORI_A_B_");
	{
		CLEANUP_ENV char **env = ENV("HOOKRUN_VERSORI_NOPE_API_KEY=x");
		expect_error("", env, "no [versori.NAME] section matches");
	}
}

/* Completion callbacks: a secret must be whsec_ and base64 (and is masked when printed); a URL
 * is allowed only under a prefix of callback_urls, http(s), without blanks. */
static void test_callbacks(void **state _unused_)
{
	struct config *c =
	    load_ok("[hookrun]\ncallback_urls = https://a.example/x/, http://127.0.0.1:\n"
	            "[versori.acme]\norganisation_id = " ORG_ULID "\n"
	            "callback_secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
	            NULL);
	_cleanup_free_ char *out = print_to_string(c);
	struct config *none = load_ok("", NULL);

	assert_null(strstr(out, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
	assert_true(config_callback_url_allowed(c, "https://a.example/x/done"));
	assert_true(config_callback_url_allowed(c, "http://127.0.0.1:8080/cb?q=1"));
	assert_false(config_callback_url_allowed(c, "https://a.example/y"));
	assert_false(config_callback_url_allowed(c, "https://a.example/x/a b"));
	assert_false(config_callback_url_allowed(c, "https://a.example/x/\r\n"));
	assert_false(config_callback_url_allowed(c, NULL));
	assert_false(config_callback_url_allowed(none, "https://a.example/x/done"));
	config_free(none);
	/* A prefix that ends inside a host name matches that host only, never user information. */
	none = load_ok("[hookrun]\ncallback_urls = https://b.example\n", NULL);
	assert_true(config_callback_url_allowed(none, "https://b.example"));
	assert_true(config_callback_url_allowed(none, "https://b.example/cb"));
	assert_true(config_callback_url_allowed(none, "https://b.example:8443/cb"));
	assert_false(config_callback_url_allowed(none, "https://b.example.evil.net/"));
	assert_false(config_callback_url_allowed(none, "https://b.example@evil.net/"));
	assert_false(config_callback_url_allowed(none, "https://b.example\\@evil.net/"));
	assert_false(config_callback_url_allowed(c, "http://127.0.0.1:80@evil.net/"));
	config_free(c);
	config_free(none);
	expect_error("[versori.acme]\norganisation_id = " ORG_ULID "\ncallback_secret = nope!\n",
	             NULL, "callback_secret: must be whsec_ followed by base64");
}

/* Routing keys: a routed source names its organisation; pointers, parameters and by-field
 * choices are checked; a store source takes no routing key. */
static void test_source_routing(void **state _unused_)
{
	struct config *c = load_ok(HMAC_SOURCE "route = by-field\n"
	                                       "organisation = acme\n"
	                                       "environment_id = " ORG_ULID "\n"
	                                       "job_parameters = {\"projectId\": \"p\"}\n"
	                                       "kind_pointer = /type\n"
	                                       "kinds = a.created=provision, a.deleted=remove\n"
	                                       "[versori.acme]\n"
	                                       "organisation_id = " ORG_ULID "\n"
	                                       "api_key = k\n",
	                           NULL);
	const struct source_config *s = config_source_find(c, "gh");
	_cleanup_free_ char *out = print_to_string(c);

	assert_int_equal(s->route, ROUTE_BY_FIELD);
	assert_string_equal(s->organisation, "acme");
	assert_string_equal(s->external_id_pointer, "/externalId");
	assert_int_equal(s->n_kinds, 2);
	assert_string_equal(s->kinds[1].value, "a.deleted");
	assert_int_equal(s->kinds[1].route, ROUTE_REMOVE);
	assert_non_null(strstr(out, "kinds = a.created=provision,a.deleted=remove\n"));
	assert_string_equal(route_job_kind(ROUTE_PROVISION), "activation.provision");
	assert_null(route_job_kind(ROUTE_BY_FIELD));
	config_free(c);

	expect_error(HMAC_SOURCE "route = provision\n", NULL,
	             "organisation: required with route = provision");
	expect_error(HMAC_SOURCE "organisation = acme\n", NULL,
	             "organisation: does not apply to route = store");
	expect_error(HMAC_SOURCE "route = provision\norganisation = x\n[versori.acme]\n"
	                         "organisation_id = " ORG_ULID "\napi_key = k\n",
	             NULL, "organisation: no [versori.x] section");
	expect_error(HMAC_SOURCE "route = provision\norganisation = x\nenvironment_id = e\n", NULL,
	             "environment_id: not a ULID");
	expect_error(HMAC_SOURCE "route = provision\norganisation = x\njob_parameters = [1]\n",
	             NULL, "job_parameters: not a JSON object");
	expect_error(HMAC_SOURCE "route = provision\norganisation = x\n"
	                         "external_id_pointer = id\n",
	             NULL, "external_id_pointer: not an RFC 6901 JSON pointer");
	expect_error(HMAC_SOURCE "route = by-field\norganisation = x\nkind_pointer = /t\n", NULL,
	             "kind_pointer and kinds: both required with route = by-field");
	expect_error(HMAC_SOURCE "route = provision\norganisation = x\nkinds = a=provision\n", NULL,
	             "kind_pointer and kinds: both required");
	expect_error(HMAC_SOURCE "route = by-field\norganisation = x\nkind_pointer = /t\n"
	                         "kinds = a=store\n",
	             NULL, "kinds: 'store' is not provision, variables or remove");
	expect_error(HMAC_SOURCE "route = by-field\norganisation = x\nkind_pointer = /t\n"
	                         "kinds = nothing\n",
	             NULL, "kinds: 'nothing' is not value=route");
}

static void test_print_masks_db_url(void **state _unused_)
{
	static const struct {
		const char *url, *printed, *secret;
	} cases[] = {
	    {"postgresql://u:pw1@h/db", "postgresql://u:********@h/db", "pw1"},
	    {"postgres://u:p@ss:w/rd@h:5432/db?sslmode=require",
	     "(connection URI with an '@' outside its user info, not shown)", "ss:w"},
	    {"postgresql://u@h/db?sslmode=require&password=pw2&application_name=x",
	     "postgresql://u:********@h/db?application_name=x&sslmode=require", "pw2"},
	    {"postgresql://h/db", "postgresql://h/db", NULL},
	    {"host=h dbname=db password=pw3 user=u", "host=h dbname=db user=u password=********",
	     "pw3"},
	    {"host=h password = 'p w\\'4' user=u", "host=h user=u password=********", "p w"},
	    {"postgresql://u@h/db?pass%77ord=pw5", "postgresql://u:********@h/db", "pw5"},
	    {"host=h sslpassword=pw6", "host=h sslpassword=********", "pw6"},
	    {"postgresql://u@h/db?password=pw7&x=1", "(unparseable connection string, not shown)",
	     "pw7"},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *v = xasprintf("HOOKRUN_DB_URL=%s", cases[i].url);
		_cleanup_free_ char *want = xasprintf("db_url = %s\n", cases[i].printed);
		CLEANUP_ENV char **env = ENV(v);
		struct config *c = load_ok(NULL, env);
		_cleanup_free_ char *out = print_to_string(c);

		if (!strstr(out, want))
			fail_msg("'%s' printed as:\n%s", cases[i].url, out);
		if (cases[i].secret && strstr(out, cases[i].secret))
			fail_msg("'%s' printed '%s':\n%s", cases[i].url, cases[i].secret, out);
		config_free(c);
	}
}

/* A printed configuration without shape-checked secrets loads back to the same output. */
static void test_print_round_trip(void **state _unused_)
{
	static const char ini[] = "[hookrun]\nlisten_port = 1234\nbatch_max_bytes = 3000\n"
	                          "[source.a]\nauth = hmac\nsecret = x\nsecret = y\n"
	                          "hmac_inputs = url,body\nsignature_prefix = v1=\n"
	                          "[source.b]\nauth = api-key\nsecret = k\napi_key_query = q\n"
	                          "[source.c]\nauth = none\nallow_unauthenticated = true\n";
	struct config *c1 = load_ok(ini, NULL);
	_cleanup_free_ char *out1 = print_to_string(c1);
	struct config *c2 = load_ok(out1, NULL);
	_cleanup_free_ char *out2 = print_to_string(c2);

	assert_string_equal(out1, out2);
	assert_non_null(strstr(out1, "batch_max_bytes = 3000\n"));
	config_free(c1);
	config_free(c2);
}

/* Enum names round-trip and unknown names are -EINVAL. */
static void test_enum_strings(void **state _unused_)
{
	for (int i = 0; i < _AUTH_SCHEME_MAX; i++)
		assert_int_equal(auth_scheme_from_string(auth_scheme_to_string(i)), i);
	for (int i = 0; i < _HMAC_ALGORITHM_MAX; i++)
		assert_int_equal(hmac_algorithm_from_string(hmac_algorithm_to_string(i)), i);
	for (int i = 0; i < _SIG_ENCODING_MAX; i++)
		assert_int_equal(sig_encoding_from_string(sig_encoding_to_string(i)), i);
	for (int i = 0; i < _SIG_INPUT_MAX; i++)
		assert_int_equal(sig_input_from_string(sig_input_to_string(i)), i);
	for (int i = 0; i < _IDEMPOTENCY_FROM_MAX; i++)
		assert_int_equal(idempotency_from_from_string(idempotency_from_to_string(i)), i);
	for (int i = 0; i < _ROUTE_MAX; i++)
		assert_int_equal(route_from_string(route_to_string(i)), i);
	assert_string_equal(auth_scheme_to_string(AUTH_SCHEME_STANDARD_WEBHOOKS),
	                    "standard-webhooks");
	assert_string_equal(auth_scheme_to_string(AUTH_SCHEME_API_KEY), "api-key");
	assert_null(auth_scheme_to_string(_AUTH_SCHEME_MAX));
	assert_int_equal(auth_scheme_from_string("HMAC"), -EINVAL);
	assert_int_equal(hmac_algorithm_from_string("md5"), -EINVAL);
	assert_int_equal(sig_encoding_from_string(""), -EINVAL);
	assert_int_equal(route_from_string("drop"), -EINVAL);
}

/* Comments, blank lines, a BOM and ':' separators are plain INI. */
static void test_ini_syntax(void **state _unused_)
{
	struct config *c = load_ok("\xef\xbb\xbf; leading comment\n# hash comment\n\n"
	                           "[hookrun]\nlisten_port: 81\nlisten_addr = ::  ; inline\n",
	                           NULL);

	assert_int_equal(c->listen_port, 81);
	assert_string_equal(c->listen_addr, "::");
	config_free(c);
}

/* The shipped example configuration loads and has one source per scheme. */
static void test_ini_example(void **state _unused_)
{
	struct config *c = NULL;
	_cleanup_free_ char *err = NULL;
	bool seen[_AUTH_SCHEME_MAX] = {false};
	int r;

	r = config_load(SOURCE_ROOT "/deploy/dev/hookrun.ini.example", NULL, &c, &err);
	if (r < 0)
		fail_msg("hookrun.ini.example: %s", err);
	for (size_t i = 0; i < c->n_sources; i++)
		seen[c->sources[i].auth] = true;
	/* A certificate source needs a CA file and the TLS listener's files, which only exist
	 * on a deployment: the example shows it commented out (tests/e2e/tls.sh runs one). */
	seen[AUTH_SCHEME_CERTIFICATE] = true;
	for (int i = 0; i < _AUTH_SCHEME_MAX; i++)
		if (!seen[i])
			fail_msg("hookrun.ini.example has no auth = %s source",
			         auth_scheme_to_string(i));
	config_free(c);
}

/* Entry point. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_ini),
	    cmocka_unit_test(test_secrets_optional),
	    cmocka_unit_test(test_full_ini_schemes),
	    cmocka_unit_test(test_global_defaults),
	    cmocka_unit_test(test_source_defaults),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_unknown_section),
	    cmocka_unit_test(test_source_name),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_bad_enum),
	    cmocka_unit_test(test_out_of_range),
	    cmocka_unit_test(test_bad_numbers),
	    cmocka_unit_test(test_size_suffixes),
	    cmocka_unit_test(test_duration_suffixes),
	    cmocka_unit_test(test_bools),
	    cmocka_unit_test(test_secret_rotation),
	    cmocka_unit_test(test_secret_file),
	    cmocka_unit_test(test_digest),
	    cmocka_unit_test(test_secrets_key),
	    cmocka_unit_test(test_retention_limits),
	    cmocka_unit_test(test_api_key_cookie),
	    cmocka_unit_test(test_jwt_bearer),
	    cmocka_unit_test(test_oauth2),
	    cmocka_unit_test(test_certificate),
	    cmocka_unit_test(test_secret_and_secret_file),
	    cmocka_unit_test(test_secret_shapes),
	    cmocka_unit_test(test_auth_required),
	    cmocka_unit_test(test_auth_none),
	    cmocka_unit_test(test_header_or_query),
	    cmocka_unit_test(test_inapplicable_keys),
	    cmocka_unit_test(test_hmac_inputs),
	    cmocka_unit_test(test_idempotency_key),
	    cmocka_unit_test(test_file_problems),
	    cmocka_unit_test(test_env_global),
	    cmocka_unit_test(test_env_every_global_key),
	    cmocka_unit_test(test_env_source),
	    cmocka_unit_test(test_env_files),
	    cmocka_unit_test(test_env_file_problems),
	    cmocka_unit_test(test_env_unknown),
	    cmocka_unit_test(test_env_allow_list),
	    cmocka_unit_test(test_env_bad_values),
	    cmocka_unit_test(test_env_clears_optional),
	    cmocka_unit_test(test_env_name_collision),
	    cmocka_unit_test(test_env_prefix_sources),
	    cmocka_unit_test(test_null_path),
	    cmocka_unit_test(test_print_masks_secrets),
	    cmocka_unit_test(test_print_masks_db_url),
	    cmocka_unit_test(test_versori_section),
	    cmocka_unit_test(test_versori_errors),
	    cmocka_unit_test(test_callbacks),
	    cmocka_unit_test(test_source_routing),
	    cmocka_unit_test(test_print_round_trip),
	    cmocka_unit_test(test_enum_strings),
	    cmocka_unit_test(test_ini_syntax),
	    cmocka_unit_test(test_ini_example),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
