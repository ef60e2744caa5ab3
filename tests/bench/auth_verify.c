/* Microbenchmark: the CPU one webhook_auth_verify() costs the ingress, per scheme: hmac
 * (sha256 over a 1 KiB body), bearer, jwt-bearer with HS256 and RS256 (a 2048-bit key made
 * with the openssl command for the run), and oauth2 (a token from oauth2_token_issue()). Prints
 * microseconds per verification, the median of 5 repetitions each long enough to time well.
 *
 *   auth_verify [--quick]
 *
 * CPU only: no network; one temporary file for the RSA key. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "http_req.h"
#include "jwt_bearer.h"
#include "oauth2_token.h"
#include "webhook_auth.h"
#include "xalloc.h"

#define REPS 5
#define NOW  1760000000LL
#define HS   "YSAzMi1ieXRlIEhTMjU2IGtleSBmb3IgaG9va3J1biE="

static double min_rep_ns = 200e6;

/* One case: a source and a request that it verifies. */
struct bench_case {
	const char *name;
	struct source_config src;
	struct http_header headers[2];
	struct http_req req;
};

/* Nanoseconds on the monotonic clock. */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Compare doubles for qsort. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* n verifications of c; exits if one fails (a benchmark of refusals would flatter). */
static void run(const struct bench_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *reason = NULL;

		if (webhook_auth_verify(&c->src, &c->req, NOW, &reason) != 0) {
			fprintf(stderr, "auth_verify: %s refused: %s\n", c->name, reason);
			exit(1);
		}
	}
}

/* Median microseconds per verification of c. */
static double bench(const struct bench_case *c)
{
	double reps[REPS], t;
	size_t n = 1;

	for (;;) {
		t = now_ns();
		run(c, n);
		t = now_ns() - t;
		if (t >= min_rep_ns || n >= ((size_t)1 << 30))
			break;
		n *= 2;
	}
	for (int r = 0; r < REPS; r++) {
		t = now_ns();
		run(c, n);
		reps[r] = (now_ns() - t) / (double)n / 1000.0;
	}
	qsort(reps, REPS, sizeof(reps[0]), cmp_double);
	return reps[REPS / 2];
}

/* Point c's request at body with one header. */
static void request(struct bench_case *c, const char *body, const char *name, char *value)
{
	c->headers[0] = (struct http_header){name, value};
	c->req = (struct http_req){.method = HTTP_METHOD_POST,
	                           .uri = "/hooks/b",
	                           .path = "/hooks/b",
	                           .headers = c->headers,
	                           .n_headers = 1,
	                           .body = (const unsigned char *)body,
	                           .body_len = strlen(body),
	                           .peer = "127.0.0.1:1"};
}

/* A jwt-bearer case of alg whose key is key (secret or public PEM), signed with sign_key. */
static void jwt_case(struct bench_case *c, const char *name, enum jwt_algorithm alg, char *key,
                     const char *sign_key, const char *body)
{
	json_t *claims = json_pack("{s:s, s:I, s:I}", "iss", "versori", "iat", (json_int_t)NOW,
	                           "exp", (json_int_t)NOW + 600);
	char *token;

	c->name = name;
	c->src = (struct source_config){.auth = AUTH_SCHEME_JWT_BEARER,
	                                .jwt_algorithm = alg,
	                                .jwt_header_prefix = (char *)"Bearer",
	                                .jwt_leeway_s = 30,
	                                .jwt_require_exp = true,
	                                .jwt_issuer = (char *)"versori",
	                                .n_secrets = 1};
	c->src.secrets[0] = key;
	token = jwt_bearer_mint(&c->src, sign_key, claims);
	json_decref(claims);
	if (!token) {
		fprintf(stderr, "auth_verify: cannot mint for %s\n", name);
		exit(1);
	}
	request(c, body, "Authorization", xasprintf("Bearer %s", token));
	free(token);
}

/* Make an RSA key pair with the openssl command: the private PEM, and the public in *ret_pub. */
static char *rsa_keys(char **ret_pub)
{
	char dir[] = "/tmp/hookrun-bench-auth-XXXXXX";
	_cleanup_free_ char *cmd = NULL, *priv_path = NULL, *pub_path = NULL;
	char *priv, *pub;
	FILE *f;

	if (!mkdtemp(dir))
		return NULL;
	priv_path = xasprintf("%s/key.pem", dir);
	pub_path = xasprintf("%s/pub.pem", dir);
	cmd = xasprintf("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s "
	                "2>/dev/null && openssl pkey -in %s -pubout -out %s",
	                priv_path, priv_path, pub_path);
	if (system(cmd) != 0)
		return NULL;
	priv = xmalloc(8192);
	pub = xmalloc(8192);
	f = fopen(priv_path, "r");
	priv[f ? fread(priv, 1, 8191, f) : 0] = '\0';
	if (f)
		fclose(f);
	f = fopen(pub_path, "r");
	pub[f ? fread(pub, 1, 8191, f) : 0] = '\0';
	if (f)
		fclose(f);
	(void)unlink(priv_path);
	(void)unlink(pub_path);
	(void)rmdir(dir);
	*ret_pub = pub;
	return priv;
}

/* Entry point. */
int main(int argc, char **argv)
{
	static struct bench_case cases[5];
	char body[1025];
	char *pub = NULL, *priv;

	if (argc > 1 && strcmp(argv[1], "--quick") == 0)
		min_rep_ns = 20e6;
	memset(body, 'x', 1024);
	body[0] = '{';
	body[1] = '}';
	body[2] = '\0'; /* the jwt and bearer cases do not read the body */
	priv = rsa_keys(&pub);
	if (!priv || !strstr(pub, "PUBLIC KEY")) {
		fprintf(stderr, "auth_verify: openssl could not make an RSA key\n");
		return 1;
	}

	cases[0].name = "bearer";
	cases[0].src = (struct source_config){.auth = AUTH_SCHEME_BEARER, .n_secrets = 1};
	cases[0].src.secrets[0] = (char *)"t-fedcba9876543210";
	request(&cases[0], body, "Authorization", xstrdup("Bearer t-fedcba9876543210"));
	cases[1].name = "hmac-sha256";
	cases[1].src = (struct source_config){.auth = AUTH_SCHEME_HMAC,
	                                      .hmac_algorithm = HMAC_ALGORITHM_SHA256,
	                                      .hmac_inputs = {SIG_INPUT_BODY},
	                                      .n_hmac_inputs = 1,
	                                      .hmac_encoding = SIG_ENCODING_HEX,
	                                      .signature_header = (char *)"X-Signature",
	                                      .n_secrets = 1};
	cases[1].src.secrets[0] = (char *)"It's a Secret to Everybody";
	request(&cases[1], body, "X-Signature",
	        webhook_auth_sign_hmac(&cases[1].src, "It's a Secret to Everybody", "/hooks/b",
	                               body, strlen(body)));
	jwt_case(&cases[2], "jwt-bearer-HS256", JWT_ALGORITHM_HS256, (char *)HS, HS, body);
	jwt_case(&cases[3], "jwt-bearer-RS256", JWT_ALGORITHM_RS256, pub, priv, body);
	cases[4].name = "oauth2";
	cases[4].src = (struct source_config){.name = (char *)"oa",
	                                      .auth = AUTH_SCHEME_OAUTH2,
	                                      .oauth2_token_lifetime_s = 900,
	                                      .n_secrets = 1};
	cases[4].src.secrets[0] = (char *)"flows:0123456789abcdef";
	{
		_cleanup_free_ char *t = oauth2_token_issue(&cases[4].src, 0, NOW);

		request(&cases[4], body, "Authorization", xasprintf("Bearer %s", t));
	}

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		printf("auth_verify: scheme=%s us_per_verify=%.2f\n", cases[i].name,
		       bench(&cases[i]));
	return 0;
}
