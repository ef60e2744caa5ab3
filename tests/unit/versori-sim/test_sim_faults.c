/* Unit tests for services/versori-sim/sim_faults.c: rates over many seeded draws, token
 * buckets on an injected clock, Retry-After formats, scoping, counts, latency distributions,
 * rule parsing. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "sim_faults.h"

#define DRAWS 10000

static const struct sim_fault_call post_act = {
    .method = "POST",
    .path = "/api/v2/o/ORG1/activations",
    .route = "POST /api/v2/o/{org}/activations",
    .org = "ORG1",
};
static const struct sim_fault_call get_users = {
    .method = "GET",
    .path = "/api/v2/o/ORG1/users",
    .route = "GET /api/v2/o/{org}/users",
    .org = "ORG1",
};

/* New faults with the rules of a JSON text; fails the test on a parse error. */
static struct sim_faults *faults_from(const char *text, uint64_t seed)
{
	struct sim_faults *f = sim_faults_new(seed);
	json_auto_t *doc = json_loads(text, 0, NULL);
	char err[256] = "";

	assert_non_null(doc);
	if (sim_faults_set(f, doc, err, sizeof(err)) < 0)
		fail_msg("rules rejected: %s", err);
	return f;
}

/* The error message of a rejected rule set. */
static void assert_rejected(const char *text, const char *want)
{
	struct sim_faults *f = sim_faults_new(1);
	json_auto_t *doc = json_loads(text, 0, NULL);
	char err[256] = "";

	assert_non_null(doc);
	assert_int_equal(sim_faults_set(f, doc, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error '%s' does not mention '%s'", err, want);
	sim_faults_free(f);
}

/* Decide one call at now_ms. */
static struct sim_fault_decision decide(struct sim_faults *f, const struct sim_fault_call *c,
                                        int64_t now_ms)
{
	struct sim_fault_decision d;

	sim_faults_decide(f, c, now_ms, &d);
	return d;
}

/* A 30 % error rate fires within 2 points of 30 % over 10,000 seeded draws (3 sigma is 1.4). */
static void test_error_rate_tolerance(void **state)
{
	struct sim_faults *f = faults_from("[{\"kind\":\"error\",\"rate\":0.3}]", 42);
	int hits = 0;

	for (int i = 0; i < DRAWS; i++) {
		struct sim_fault_decision d = decide(f, &post_act, 0);

		if (d.action == SIM_FAULT_ERROR) {
			assert_int_equal(d.status, 500);
			assert_string_equal(d.fault, "error");
			hits++;
		}
	}
	if (fabs((double)hits / DRAWS - 0.3) > 0.02)
		fail_msg("error rate %d/%d, want about 30%%", hits, DRAWS);
	sim_faults_free(f);
}

/* Same seed, same decisions; another seed, other decisions; several statuses all occur. */
static void test_seed_determinism(void **state)
{
	static const char rules[] =
	    "{\"rules\":[{\"kind\":\"error\",\"rate\":0.5,\"statuses\":[500,502,503]}]}";
	struct sim_faults *a = faults_from(rules, 7), *b = faults_from(rules, 7);
	struct sim_faults *c = faults_from(rules, 8);
	int differ = 0, seen[3] = {0};

	for (int i = 0; i < 1000; i++) {
		struct sim_fault_decision da = decide(a, &post_act, 0),
		                          db = decide(b, &post_act, 0);
		struct sim_fault_decision dc = decide(c, &post_act, 0);

		assert_int_equal(da.action, db.action);
		assert_int_equal(da.status, db.status);
		differ += da.status != dc.status;
		if (da.action == SIM_FAULT_ERROR)
			seen[da.status == 500 ? 0 : da.status == 502 ? 1 : 2]++;
	}
	assert_true(differ > 100);
	assert_true(seen[0] > 50 && seen[1] > 50 && seen[2] > 50);
	sim_faults_free(a);
	sim_faults_free(b);
	sim_faults_free(c);
}

/* A bucket of burst 3 at 2 tokens/s: 3 pass, the 4th is throttled for 1 s; 500 ms later one
 * token is back; another organisation has its own bucket. */
static void test_token_bucket_refill(void **state)
{
	struct sim_faults *f =
	    faults_from("[{\"kind\":\"throttle\",\"per_second\":2,\"burst\":3}]", 1);
	struct sim_fault_call other = post_act;
	struct sim_fault_decision d;

	other.org = "ORG2";
	for (int i = 0; i < 3; i++)
		assert_int_equal(decide(f, &post_act, 1000).action, SIM_FAULT_LATENCY);
	d = decide(f, &post_act, 1000);
	assert_int_equal(d.action, SIM_FAULT_THROTTLE);
	assert_int_equal(d.status, 429);
	assert_string_equal(d.retry_after, "1");
	assert_int_equal(decide(f, &other, 1000).action, SIM_FAULT_LATENCY);
	assert_int_equal(decide(f, &post_act, 1499).action, SIM_FAULT_THROTTLE);
	assert_int_equal(decide(f, &post_act, 1500).action, SIM_FAULT_LATENCY);
	assert_int_equal(decide(f, &post_act, 1500).action, SIM_FAULT_THROTTLE);
	/* A long pause refills only up to the burst. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(decide(f, &post_act, 100000).action, SIM_FAULT_LATENCY);
	assert_int_equal(decide(f, &post_act, 100000).action, SIM_FAULT_THROTTLE);
	sim_faults_free(f);
}

/* Retry-After as delta seconds (rounded up), as an IMF-fixdate, or absent. */
static void test_retry_after_formats(void **state)
{
	struct sim_faults *secs = faults_from(
	    "[{\"kind\":\"throttle\",\"per_second\":0.25,\"burst\":1,\"retry_after\":\"seconds\"}]",
	    1);
	struct sim_faults *date = faults_from(
	    "[{\"kind\":\"throttle\",\"per_second\":1,\"burst\":1,\"retry_after\":\"date\"}]", 1);
	struct sim_faults *none = faults_from(
	    "[{\"kind\":\"throttle\",\"per_second\":1,\"burst\":1,\"retry_after\":\"none\"}]", 1);
	const int64_t t = 784111777000LL; /* Sun, 06 Nov 1994 08:49:37 GMT */
	char buf[30];

	sim_faults_http_date(784111777, buf);
	assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
	(void)decide(secs, &post_act, t);
	assert_string_equal(decide(secs, &post_act, t).retry_after, "4");
	assert_string_equal(decide(secs, &post_act, t + 1500).retry_after, "3");
	(void)decide(date, &post_act, t);
	assert_string_equal(decide(date, &post_act, t).retry_after,
	                    "Sun, 06 Nov 1994 08:49:38 GMT");
	(void)decide(none, &post_act, t);
	assert_int_equal(decide(none, &post_act, t).status, 429);
	assert_string_equal(decide(none, &post_act, t).retry_after, "");
	sim_faults_free(secs);
	sim_faults_free(date);
	sim_faults_free(none);
}

/* Method, path prefix and route template each narrow a rule. */
static void test_scoping(void **state)
{
	struct sim_faults *f = faults_from(
	    "[{\"kind\":\"error\",\"method\":\"post\",\"path\":\"/api/v2/o/ORG1/activations\","
	    "\"statuses\":503},"
	    "{\"kind\":\"reset\",\"route\":\"/api/v2/o/{org}/users\",\"bytes\":10}]",
	    1);
	struct sim_fault_call get_act = post_act, post_other = post_act;
	struct sim_fault_decision d;

	get_act.method = "GET";
	post_other.path = "/api/v2/o/ORG2/activations";
	d = decide(f, &post_act, 0);
	assert_int_equal(d.action, SIM_FAULT_ERROR);
	assert_int_equal(d.status, 503);
	assert_int_equal(decide(f, &get_act, 0).action, SIM_FAULT_LATENCY);
	assert_int_equal(decide(f, &post_other, 0).action, SIM_FAULT_LATENCY);
	d = decide(f, &get_users, 0);
	assert_int_equal(d.action, SIM_FAULT_RESET);
	assert_int_equal(d.partial_bytes, 10);
	sim_faults_free(f);
}

/* A count limits how often a rule fires; the remaining count is reported. */
static void test_count_exhaustion(void **state)
{
	struct sim_faults *f =
	    faults_from("[{\"kind\":\"stall\",\"count\":2,\"ms\":1500},{\"kind\":\"error\"}]", 1);
	json_auto_t *after = NULL;
	struct sim_fault_decision d;

	d = decide(f, &post_act, 0);
	assert_int_equal(d.action, SIM_FAULT_STALL);
	assert_int_equal(d.stall_ms, 1500);
	assert_int_equal(decide(f, &post_act, 0).action, SIM_FAULT_STALL);
	/* exhausted: the next rule decides */
	assert_int_equal(decide(f, &post_act, 0).action, SIM_FAULT_ERROR);
	after = sim_faults_to_json(f);
	assert_int_equal(json_integer_value(json_pointer_get(after, "/rules/0/remaining")), 0);
	assert_int_equal(json_integer_value(json_pointer_get(after, "/rules/0/fired")), 2);
	assert_int_equal(json_integer_value(json_pointer_get(after, "/rules/1/fired")), 1);
	sim_faults_free(f);
}

/* Mean and bounds of n latency draws from one rule. */
static void latency_stats(const char *rule, double *ret_mean, int64_t *ret_min, int64_t *ret_max)
{
	struct sim_faults *f = faults_from(rule, 99);
	double sum = 0;

	*ret_min = INT64_MAX;
	*ret_max = INT64_MIN;
	for (int i = 0; i < DRAWS; i++) {
		struct sim_fault_decision d = decide(f, &post_act, 0);

		assert_int_equal(d.action, SIM_FAULT_LATENCY);
		assert_string_equal(d.fault, "latency");
		sum += (double)d.delay_ms;
		*ret_min = d.delay_ms < *ret_min ? d.delay_ms : *ret_min;
		*ret_max = d.delay_ms > *ret_max ? d.delay_ms : *ret_max;
	}
	*ret_mean = sum / DRAWS;
	sim_faults_free(f);
}

/* Fixed, uniform, exponential and lognormal latency: bounds, caps and means. */
static void test_latency_distributions(void **state)
{
	double mean;
	int64_t lo, hi;

	latency_stats("[{\"kind\":\"latency\",\"ms\":25}]", &mean, &lo, &hi);
	assert_true(lo == 25 && hi == 25);
	latency_stats("[{\"kind\":\"latency\",\"dist\":\"uniform\",\"min_ms\":100,\"max_ms\":200}]",
	              &mean, &lo, &hi);
	assert_true(lo >= 100 && hi <= 200 && fabs(mean - 150) < 3);
	latency_stats("[{\"kind\":\"latency\",\"dist\":\"exponential\",\"mean_ms\":100}]", &mean,
	              &lo, &hi);
	assert_true(lo >= 0 && hi <= 1000 && fabs(mean - 100) < 5);
	latency_stats("[{\"kind\":\"latency\",\"dist\":\"exponential\",\"mean_ms\":100,"
	              "\"max_ms\":150}]",
	              &mean, &lo, &hi);
	assert_true(hi == 150 && mean < 100);
	latency_stats("[{\"kind\":\"latency\",\"dist\":\"lognormal\",\"mean_ms\":200,"
	              "\"sigma\":0.5}]",
	              &mean, &lo, &hi);
	assert_true(lo > 0 && hi <= 2000 && fabs(mean - 200) < 8);
}

/* Latency adds up across rules and comes with the first action; later actions are skipped. */
static void test_rule_order(void **state)
{
	struct sim_faults *f = faults_from("[{\"kind\":\"latency\",\"ms\":10},"
	                                   "{\"kind\":\"reset\"},"
	                                   "{\"kind\":\"latency\",\"ms\":5},"
	                                   "{\"kind\":\"error\"}]",
	                                   1);
	struct sim_fault_decision d = decide(f, &post_act, 0);
	json_auto_t *j = sim_faults_to_json(f);

	assert_int_equal(d.action, SIM_FAULT_RESET);
	assert_int_equal(d.partial_bytes, -1);
	assert_int_equal(d.delay_ms, 15);
	assert_string_equal(d.fault, "reset");
	assert_int_equal(json_integer_value(json_pointer_get(j, "/rules/3/fired")), 0);
	sim_faults_free(f);
}

/* Bad rules are rejected with the offending key, and a bad set keeps the old rules. */
static void test_rejections(void **state)
{
	struct sim_faults *f = faults_from("[{\"kind\":\"error\"}]", 1);
	json_auto_t *bad = json_loads("[{\"kind\":\"stall\"},{\"kind\":\"nope\"}]", 0, NULL);
	json_auto_t *j = NULL;
	char err[256];

	assert_rejected("[{\"kind\":\"nope\"}]", "rules[0].kind");
	assert_rejected("[{\"kind\":\"error\",\"rate\":1.5}]", "rules[0].rate: must be between");
	assert_rejected("[{\"kind\":\"error\",\"statuses\":[404]}]", "statuses[0]");
	assert_rejected("[{\"kind\":\"error\",\"bytes\":3}]", "bytes: unknown key");
	assert_rejected("[{\"kind\":\"latency\",\"color\":\"red\"}]", "color: unknown key");
	assert_rejected("[{\"kind\":\"latency\",\"dist\":\"uniform\",\"min_ms\":5}]", "min_ms");
	assert_rejected("[{\"kind\":\"throttle\"}]", "per_second");
	assert_rejected("[{\"kind\":\"throttle\",\"per_second\":1,\"retry_after\":\"x\"}]",
	                "retry_after");
	assert_rejected("{\"rules\":3}", "expected");
	assert_int_equal(sim_faults_set(f, bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "rules[1]"));
	j = sim_faults_to_json(f);
	assert_int_equal(json_array_size(json_object_get(j, "rules")), 1);
	assert_string_equal(json_string_value(json_pointer_get(j, "/rules/0/kind")), "error");
	sim_faults_free(f);
}

/* The command-line form and the JSON form describe the same rule; output loads again. */
static void test_spec_round_trip(void **state)
{
	struct sim_faults *f = sim_faults_new(1), *g = sim_faults_new(1);
	json_auto_t *j = NULL, *k = NULL;
	char err[256] = "";

	assert_int_equal(sim_faults_add_spec(f,
	                                     "kind=error,rate=0.5,statuses=500:503,method=POST,"
	                                     "count=4",
	                                     err, sizeof(err)),
	                 0);
	assert_int_equal(
	    sim_faults_add_spec(f, "kind=latency,dist=lognormal,mean_ms=20", err, sizeof(err)), 0);
	assert_int_equal(sim_faults_add_spec(f, "kind=error,rate", err, sizeof(err)), -EINVAL);
	assert_int_equal(sim_faults_add_spec(f, "kind=error,rate=lots", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "rate: expected a number"));
	j = sim_faults_to_json(f);
	assert_int_equal(json_integer_value(json_pointer_get(j, "/rules/0/statuses/1")), 503);
	assert_int_equal(json_integer_value(json_pointer_get(j, "/rules/0/remaining")), 4);
	assert_int_equal(json_integer_value(json_pointer_get(j, "/rules/1/max_ms")), 200);
	assert_int_equal(sim_faults_set(g, j, err, sizeof(err)), 0);
	k = sim_faults_to_json(g);
	assert_true(json_equal(j, k));
	sim_faults_free(f);
	sim_faults_free(g);
}

/* The organisation comes from the v2 path or the organisations API path. */
static void test_org_from_path(void **state)
{
	char org[64];

	sim_faults_org_from_path("/api/v2/o/01HZX/users/x", org, sizeof(org));
	assert_string_equal(org, "01HZX");
	sim_faults_org_from_path("/api/organisations/v1/organisations/ABC/keys", org, sizeof(org));
	assert_string_equal(org, "ABC");
	sim_faults_org_from_path("/api/embedded/v1/activations", org, sizeof(org));
	assert_string_equal(org, "");
	sim_faults_org_from_path("/api/v2/o//users", org, sizeof(org));
	assert_string_equal(org, "");
}

/* Run the sim_faults tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_rate_tolerance),
	    cmocka_unit_test(test_seed_determinism),
	    cmocka_unit_test(test_token_bucket_refill),
	    cmocka_unit_test(test_retry_after_formats),
	    cmocka_unit_test(test_scoping),
	    cmocka_unit_test(test_count_exhaustion),
	    cmocka_unit_test(test_latency_distributions),
	    cmocka_unit_test(test_rule_order),
	    cmocka_unit_test(test_rejections),
	    cmocka_unit_test(test_spec_round_trip),
	    cmocka_unit_test(test_org_from_path),
	};

	return cmocka_run_group_tests_name("sim_faults", tests, NULL, NULL);
}
