/* Unit tests for audit_log without a database: single events are ready at once; tallies
 * count per period and key and are ready when their period has ended (or all of them on
 * demand), with their first and last times; the number of keys held is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "audit_log.h"
#include "metrics.h"
#include "xalloc.h"

/* 2026-12-03T08:00:00Z, and the test's clock. */
#define T0 1796284800000LL
static long long now;

/* The test's clock. */
static long long fake_now(void)
{
	return now;
}

/* A log without a database on a base of its own, with a period of a minute. */
struct fixture {
	struct event_base *base;
	struct metrics *m;
	struct audit_log *l;
};

/* Setup: the fixture, the clock at T0 + 5 s. */
static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	now = T0 + 5000;
	f->base = event_base_new();
	f->m = metrics_new();
	f->l = audit_log_new(
	    f->base,
	    &(struct audit_log_options){.period_ms = 60000, .max_keys = 3, .now_ms = fake_now},
	    f->m);
	*state = f;
	return 0;
}

/* Teardown. */
static int teardown(void **state)
{
	struct fixture *f = *state;

	audit_log_free(f->l);
	metrics_free(f->m);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* audit_log_take() parsed: the array of rows, or NULL. */
static json_t *take(struct audit_log *l, bool all)
{
	_cleanup_free_ char *text = audit_log_take(l, all);
	json_t *rows;

	if (!text)
		return NULL;
	rows = json_loads(text, 0, NULL);
	assert_non_null(rows);
	assert_true(json_is_array(rows));
	return rows;
}

/* The row of rows with this actor and reason; fails when none. */
static const json_t *row_of(const json_t *rows, const char *actor, const char *reason)
{
	size_t i;
	const json_t *r;

	json_array_foreach (rows, i, r) {
		const json_t *why = json_object_get(json_object_get(r, "detail"), "reason");

		if (strcmp(json_string_value(json_object_get(r, "actor")), actor) == 0 &&
		    (reason ? json_is_string(why) && strcmp(json_string_value(why), reason) == 0
		            : json_is_null(why)))
			return r;
	}
	fail_msg("no row for %s/%s", actor, reason ? reason : "null");
	return NULL;
}

/* A single event is ready at once, with its time, kind, actor and detail. */
static void test_event_ready_at_once(void **state)
{
	struct fixture *f = *state;
	json_t *rows;
	const json_t *r;

	audit_log_event(f->l, "config.loaded", "ingress-h-1", NULL,
	                json_pack("{s:s}", "config_sha256", "ab"));
	assert_int_equal(audit_log_pending(f->l), 1);
	rows = take(f->l, false);
	assert_non_null(rows);
	assert_int_equal(json_array_size(rows), 1);
	r = json_array_get(rows, 0);
	assert_string_equal(json_string_value(json_object_get(r, "kind")), "config.loaded");
	assert_string_equal(json_string_value(json_object_get(r, "actor")), "ingress-h-1");
	assert_true(json_is_null(json_object_get(r, "organisation")));
	assert_string_equal(json_string_value(json_object_get(r, "at")),
	                    "2026-12-03T08:00:05.000Z");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(r, "detail"), "config_sha256")),
	    "ab");
	json_decref(rows);
	assert_int_equal(audit_log_pending(f->l), 0);
	assert_null(take(f->l, true));
}

/* Tallies count per key and wait for the end of their period; the next period is another
 * row. */
static void test_tallies_by_period(void **state)
{
	struct fixture *f = *state;
	json_t *rows;
	const json_t *r, *d;

	for (int i = 0; i < 3; i++) {
		now = T0 + 5000 + 1000LL * i;
		audit_log_tally(f->l, "delivery.rejected", "source:gh", NULL, "bad_signature");
	}
	audit_log_tally(f->l, "delivery.rejected", "source:gh", NULL, "body_too_large");
	assert_int_equal(audit_log_pending(f->l), 4);
	now = T0 + 59999;
	assert_null(take(f->l, false)); /* the period has not ended */
	now = T0 + 60000;
	audit_log_tally(f->l, "delivery.rejected", "source:gh", NULL, "bad_signature");
	rows = take(f->l, false);
	assert_non_null(rows);
	assert_int_equal(json_array_size(rows), 2); /* the new period's tally stays */
	r = row_of(rows, "source:gh", "bad_signature");
	d = json_object_get(r, "detail");
	assert_int_equal(json_integer_value(json_object_get(d, "count")), 3);
	assert_string_equal(json_string_value(json_object_get(d, "first_at")),
	                    "2026-12-03T08:00:05.000Z");
	assert_string_equal(json_string_value(json_object_get(d, "last_at")),
	                    "2026-12-03T08:00:07.000Z");
	assert_string_equal(json_string_value(json_object_get(d, "period_start")),
	                    "2026-12-03T08:00:00.000Z");
	assert_int_equal(json_integer_value(json_object_get(d, "period_s")), 60);
	assert_string_equal(json_string_value(json_object_get(r, "at")),
	                    "2026-12-03T08:00:07.000Z");
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(row_of(rows, "source:gh", "body_too_large"), "detail"), "count")),
	    1);
	json_decref(rows);
	assert_int_equal(audit_log_pending(f->l), 1);
	rows = take(f->l, true); /* all: the current period's too */
	assert_int_equal(json_array_size(rows), 1);
	d = json_object_get(row_of(rows, "source:gh", "bad_signature"), "detail");
	assert_int_equal(json_integer_value(json_object_get(d, "count")), 1);
	assert_string_equal(json_string_value(json_object_get(d, "period_start")),
	                    "2026-12-03T08:01:00.000Z");
	json_decref(rows);
	assert_int_equal(audit_log_pending(f->l), 0);
}

/* Organisation and reason are part of the key; a missing one is null. */
static void test_key_fields(void **state)
{
	struct fixture *f = *state;
	json_t *rows;

	audit_log_tally(f->l, "token.used", "token:1", "acme", NULL);
	audit_log_tally(f->l, "token.used", "token:1", "globex", NULL);
	audit_log_tally(f->l, "token.used", "token:1", "globex", NULL);
	rows = take(f->l, true);
	assert_int_equal(json_array_size(rows), 2);
	for (size_t i = 0; i < 2; i++) {
		const json_t *r = json_array_get(rows, i);
		const char *org = json_string_value(json_object_get(r, "organisation"));

		assert_non_null(org);
		assert_int_equal(
		    json_integer_value(json_object_get(json_object_get(r, "detail"), "count")),
		    strcmp(org, "globex") == 0 ? 2 : 1);
	}
	(void)row_of(rows, "token:1", NULL);
	json_decref(rows);
}

/* Beyond max_keys distinct keys at once, new keys are not counted (and /metrics says so);
 * existing keys still count. */
static void test_keys_bounded(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *text = NULL;
	json_t *rows;

	for (int i = 0; i < 5; i++) {
		char reason[16];

		snprintf(reason, sizeof(reason), "r%d", i);
		audit_log_tally(f->l, "delivery.rejected", "source:gh", NULL, reason);
	}
	audit_log_tally(f->l, "delivery.rejected", "source:gh", NULL, "r0");
	rows = take(f->l, true);
	assert_int_equal(json_array_size(rows), 3);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(row_of(rows, "source:gh", "r0"), "detail"), "count")),
	                 2);
	json_decref(rows);
	text = metrics_render(f->m);
	assert_non_null(strstr(text, "hookrun_audit_log_uncounted_total 2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_event_ready_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tallies_by_period, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_bounded, setup, teardown),
	};

	return cmocka_run_group_tests_name("audit_log", tests, NULL, NULL);
}
