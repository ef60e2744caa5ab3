/* Unit tests for common/core/metrics.c: golden text output, handle identity, escaping. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "xalloc.h"

/* Assert that m renders exactly as want. */
static void assert_render(const struct metrics *m, const char *want)
{
	_cleanup_free_ char *got = metrics_render(m);

	if (strcmp(got, want) != 0)
		fail_msg("rendered:\n%s\nwant:\n%s", got, want);
}

/* An empty registry renders as an empty document. */
static void test_empty(void **state)
{
	struct metrics *m = metrics_new();

	assert_render(m, "");
	metrics_free(m);
	metrics_free(NULL);
}

/* Counters: families sorted by name, series by label string, unlabelled series first. */
static void test_counter_golden(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_counter *c202 = metrics_counter(m, "http_requests_total", "HTTP requests.",
	                                              "route=\"hooks\",status=\"202\"");
	struct metric_counter *c400 =
	    metrics_counter(m, "http_requests_total", "ignored", "route=\"hooks\",status=\"400\"");
	struct metric_counter *all = metrics_counter(m, "http_requests_total", NULL, NULL);
	struct metric_counter *jobs = metrics_counter(m, "a_jobs_total", "Jobs.", "");

	metric_counter_inc(c400);
	metric_counter_add(c202, 41);
	metric_counter_inc(c202);
	metric_counter_add(all, UINT64_MAX);
	(void)jobs;
	assert_render(m, "# HELP a_jobs_total Jobs.\n"
	                 "# TYPE a_jobs_total counter\n"
	                 "a_jobs_total 0\n"
	                 "# HELP http_requests_total HTTP requests.\n"
	                 "# TYPE http_requests_total counter\n"
	                 "http_requests_total 18446744073709551615\n"
	                 "http_requests_total{route=\"hooks\",status=\"202\"} 42\n"
	                 "http_requests_total{route=\"hooks\",status=\"400\"} 1\n");
	metrics_free(m);
}

/* Gauges render doubles in their shortest exact form, and NaN and infinities by name. */
static void test_gauge_golden(void **state)
{
	struct metrics *m = metrics_new();
	const char *names[] = {"g_a", "g_b", "g_c", "g_d", "g_e", "g_f", "g_g", "g_h"};
	const double values[] = {3, 0.1, -2.5, 1e-7, 1e20, NAN, INFINITY, -INFINITY};

	for (size_t i = 0; i < 8; i++)
		metric_gauge_set(metrics_gauge(m, names[i], "G.", NULL), values[i]);
	metric_gauge_add(metrics_gauge(m, "g_a", NULL, NULL), 0.5);
	metric_gauge_add(metrics_gauge(m, "g_a", NULL, NULL), -1);
	assert_render(m, "# HELP g_a G.\n# TYPE g_a gauge\ng_a 2.5\n"
	                 "# HELP g_b G.\n# TYPE g_b gauge\ng_b 0.1\n"
	                 "# HELP g_c G.\n# TYPE g_c gauge\ng_c -2.5\n"
	                 "# HELP g_d G.\n# TYPE g_d gauge\ng_d 1e-07\n"
	                 "# HELP g_e G.\n# TYPE g_e gauge\ng_e 1e+20\n"
	                 "# HELP g_f G.\n# TYPE g_f gauge\ng_f NaN\n"
	                 "# HELP g_g G.\n# TYPE g_g gauge\ng_g +Inf\n"
	                 "# HELP g_h G.\n# TYPE g_h gauge\ng_h -Inf\n");
	metrics_free(m);
}

/* Histograms: cumulative buckets including +Inf, then _sum and _count, per series. */
static void test_histogram_golden(void **state)
{
	static const double bounds[] = {0.005, 0.1, 1, 2.5};
	struct metrics *m = metrics_new();
	struct metric_histogram *h =
	    metrics_histogram(m, "request_seconds", "Latency.", "route=\"hooks\"", bounds, 4);
	struct metric_histogram *bare =
	    metrics_histogram(m, "request_seconds", NULL, NULL, bounds, 2);

	metric_histogram_observe(h, 0.005); /* on a bound: counts in that bucket */
	metric_histogram_observe(h, 0.05);
	metric_histogram_observe(h, 0.5);
	metric_histogram_observe(h, 2);
	metric_histogram_observe(h, 30);
	metric_histogram_observe(bare, 0.001);
	assert_render(m, "# HELP request_seconds Latency.\n"
	                 "# TYPE request_seconds histogram\n"
	                 "request_seconds_bucket{le=\"0.005\"} 1\n"
	                 "request_seconds_bucket{le=\"0.1\"} 1\n"
	                 "request_seconds_bucket{le=\"+Inf\"} 1\n"
	                 "request_seconds_sum 0.001\n"
	                 "request_seconds_count 1\n"
	                 "request_seconds_bucket{route=\"hooks\",le=\"0.005\"} 1\n"
	                 "request_seconds_bucket{route=\"hooks\",le=\"0.1\"} 2\n"
	                 "request_seconds_bucket{route=\"hooks\",le=\"1\"} 3\n"
	                 "request_seconds_bucket{route=\"hooks\",le=\"2.5\"} 4\n"
	                 "request_seconds_bucket{route=\"hooks\",le=\"+Inf\"} 5\n"
	                 "request_seconds_sum{route=\"hooks\"} 32.555\n"
	                 "request_seconds_count{route=\"hooks\"} 5\n");
	metrics_free(m);
}

/* A histogram without bounds has only the +Inf bucket; NaN lands there. */
static void test_histogram_no_bounds(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_histogram *h = metrics_histogram(m, "h", "H.", NULL, NULL, 0);

	metric_histogram_observe(h, 1);
	metric_histogram_observe(h, NAN);
	assert_render(m, "# HELP h H.\n# TYPE h histogram\n"
	                 "h_bucket{le=\"+Inf\"} 2\nh_sum NaN\nh_count 2\n");
	metrics_free(m);
}

/* The same (name, labels) yields the same handle; NULL and "" labels are the same series. */
static void test_same_labels_same_object(void **state)
{
	static const double bounds[] = {1, 2};
	struct metrics *m = metrics_new();
	struct metric_counter *a = metrics_counter(m, "c_total", "C.", "k=\"v\"");
	struct metric_gauge *g = metrics_gauge(m, "g", "G.", NULL);
	struct metric_histogram *h = metrics_histogram(m, "h", "H.", "x=\"1\"", bounds, 2);

	assert_ptr_equal(metrics_counter(m, "c_total", "C.", "k=\"v\""), a);
	assert_ptr_not_equal(metrics_counter(m, "c_total", "C.", "k=\"w\""), a);
	assert_ptr_not_equal(metrics_counter(m, "c2_total", "C.", "k=\"v\""), a);
	assert_ptr_equal(metrics_gauge(m, "g", NULL, ""), g);
	assert_ptr_equal(metrics_histogram(m, "h", NULL, "x=\"1\"", bounds, 2), h);
	metrics_free(m);
}

/* Handles stay valid and distinct while the table grows well past its first size. */
static void test_many_series(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_counter *first = metrics_counter(m, "c_total", "C.", "i=\"0\"");
	char labels[32];

	metric_counter_inc(first);
	for (int i = 1; i < 2000; i++) {
		snprintf(labels, sizeof(labels), "i=\"%d\"", i);
		metric_counter_add(metrics_counter(m, "c_total", "C.", labels), (uint64_t)i);
	}
	assert_ptr_equal(metrics_counter(m, "c_total", NULL, "i=\"0\""), first);
	for (int i = 1; i < 2000; i += 97) {
		snprintf(labels, sizeof(labels), "i=\"%d\"", i);
		struct metric_counter *c = metrics_counter(m, "c_total", NULL, labels);

		metric_counter_add(c, 0);
		assert_ptr_equal(metrics_counter(m, "c_total", NULL, labels), c);
	}
	_cleanup_free_ char *text = metrics_render(m);
	assert_non_null(
	    strstr(text, "\nc_total{i=\"0\"} 1\nc_total{i=\"1\"} 1\nc_total{i=\"10\"} 10\n"));
	assert_non_null(strstr(text, "\nc_total{i=\"1999\"} 1999\n"));
	metrics_free(m);
}

/* metrics_labels_add escapes backslash, quote and newline and joins pairs with commas. */
static void test_label_escaping(void **state)
{
	struct metrics *m = metrics_new();
	char labels[128] = "";

	assert_true(metrics_labels_add(labels, sizeof(labels), "source", "a\\b\"c\nd"));
	assert_true(metrics_labels_add(labels, sizeof(labels), "status", "202"));
	assert_string_equal(labels, "source=\"a\\\\b\\\"c\\nd\",status=\"202\"");
	metric_counter_inc(
	    metrics_counter(m, "hooks_total", "Hooks by \\source\nand status.", labels));
	assert_render(m, "# HELP hooks_total Hooks by \\\\source\\nand status.\n"
	                 "# TYPE hooks_total counter\n"
	                 "hooks_total{source=\"a\\\\b\\\"c\\nd\",status=\"202\"} 1\n");
	metrics_free(m);
}

/* metrics_labels_add refuses, unchanged, what does not fit, and accepts an exact fit. */
static void test_label_overflow(void **state)
{
	char buf[12] = "";

	assert_true(metrics_labels_add(buf, sizeof(buf), "a", "1"));
	assert_string_equal(buf, "a=\"1\"");
	assert_false(metrics_labels_add(buf, sizeof(buf), "b", "\"\""));
	assert_string_equal(buf, "a=\"1\"");
	assert_true(metrics_labels_add(buf, sizeof(buf), "b", "2"));
	assert_string_equal(buf, "a=\"1\",b=\"2\"");
	assert_false(metrics_labels_add(buf, sizeof(buf), "c", ""));
	assert_string_equal(buf, "a=\"1\",b=\"2\"");
}

/* Run the metrics tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_counter_golden),
	    cmocka_unit_test(test_gauge_golden),
	    cmocka_unit_test(test_histogram_golden),
	    cmocka_unit_test(test_histogram_no_bounds),
	    cmocka_unit_test(test_same_labels_same_object),
	    cmocka_unit_test(test_many_series),
	    cmocka_unit_test(test_label_escaping),
	    cmocka_unit_test(test_label_overflow),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
