/* Unit tests for common/log.c: line formatting, escaping, level and format names. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

#define NOW_MS        1700000000123LL
#define PREFIX_LOGFMT "ts=2023-11-14T22:13:20.123Z level=info svc=test event=t.e "
/* Hidden from the compiler so that passing NULL for %s does not trip -Wformat-overflow. */
static const char *volatile null_string;

#define PREFIX_JSON                                                                                \
	"{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"info\",\"svc\":\"test\","                \
	"\"event\":\"t.e\","

/* Format one info line for event t.e into buf and return its length. */
static size_t _printf_(4, 5)
    fmt_line(char *buf, size_t size, enum log_format format, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = log_format_line(buf, size, format, NOW_MS, LOG_LEVEL_INFO, "t.e", fmt, ap);
	va_end(ap);
	return n;
}

/* Fix the service name that every line carries. */
static int setup(void **state)
{
	log_setup("test", LOG_LEVEL_DEBUG, LOG_FORMAT_LOGFMT);
	return 0;
}

/* Assert that a JSON-format line parses as one JSON object. */
static void assert_valid_json(const char *line)
{
	json_error_t e;
	json_t *v = json_loads(line, 0, &e);

	if (!v)
		fail_msg("invalid JSON (%s): %s", e.text, line);
	assert_true(json_is_object(v));
	json_decref(v);
}

/* Plain values stay bare; spaces, quotes, newlines, '=' and empty values are quoted. */
static void test_logfmt_escaping(void **state)
{
	char buf[512];
	size_t n = fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT,
	                    "plain=%s sp=%s q=%s nl=%s eq=%s bs=%s empty=%s nul=%s", "abc", "a b",
	                    "say \"hi\"", "a\nb", "k=v", "a\\b", "", null_string);

	assert_string_equal(buf, PREFIX_LOGFMT "plain=abc sp=\"a b\" q=\"say \\\"hi\\\"\" "
	                                       "nl=\"a\\nb\" eq=\"k=v\" bs=\"a\\\\b\" empty=\"\" "
	                                       "nul=\"\"");
	assert_int_equal(n, strlen(buf));
}

/* Numbers are bare, %x and literal suffixes are text, %% is a literal percent sign. */
static void test_logfmt_numbers(void **state)
{
	char buf[512];

	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT,
	         "d=%d neg=%d lld=%lld zu=%zu f=%.2f x=%x dur=%dms pct=100%% c=%c", 42, -1, -5LL,
	         (size_t)7, 1.5, 255, 12, 'z');
	assert_string_equal(buf, PREFIX_LOGFMT "d=42 neg=-1 lld=-5 zu=7 f=1.50 x=ff dur=12ms "
	                                       "pct=100% c=z");
}

/* JSON lines escape strings and leave numbers unquoted. */
static void test_json_escaping(void **state)
{
	char buf[512];

	fmt_line(buf, sizeof(buf), LOG_FORMAT_JSON,
	         "sp=%s q=%s nl=%s eq=%s tab=%s ctl=%s nul=%s n=%d f=%.2f x=%x", "a b",
	         "say \"hi\"", "a\nb", "k=v", "a\tb", "\x01\x7f", null_string, 42, -1.5, 255);
	assert_string_equal(buf, PREFIX_JSON "\"sp\":\"a b\",\"q\":\"say \\\"hi\\\"\","
	                                     "\"nl\":\"a\\nb\",\"eq\":\"k=v\",\"tab\":\"a\\tb\","
	                                     "\"ctl\":\"\\u0001\\u007f\",\"nul\":\"\",\"n\":42,"
	                                     "\"f\":-1.50,\"x\":\"ff\"}");
	assert_valid_json(buf);
}

/* Conversions that do not yield a JSON number are quoted, so the line stays valid JSON. */
static void test_json_non_numbers_quoted(void **state)
{
	char buf[512];

	fmt_line(buf, sizeof(buf), LOG_FORMAT_JSON, "mix=v%d dur=%dms nan=%f inf=%f sp=% d z=%03d",
	         5, 12, (double)NAN, (double)INFINITY, 3, 7);
	assert_string_equal(buf, PREFIX_JSON "\"mix\":\"v5\",\"dur\":\"12ms\",\"nan\":\"nan\","
	                                     "\"inf\":\"inf\",\"sp\":\" 3\",\"z\":\"007\"}");
	assert_valid_json(buf);

	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "sp=% d", 3);
	assert_string_equal(buf, PREFIX_LOGFMT "sp=\" 3\"");
}

/* Valid UTF-8 passes through; invalid bytes become U+FFFD so JSON consumers can parse. */
static void test_utf8(void **state)
{
	char buf[512];

	fmt_line(buf, sizeof(buf), LOG_FORMAT_JSON, "ok=%s bad=%s cut=%s sur=%s",
	         "h\xc3\xa9\xf0\x9f\x98\x80", "a\xff\x62", "x\xe2\x82", "\xed\xa0\x80");
	assert_string_equal(buf, PREFIX_JSON "\"ok\":\"h\xc3\xa9\xf0\x9f\x98\x80\","
	                                     "\"bad\":\"a\\ufffdb\",\"cut\":\"x\\ufffd\\ufffd\","
	                                     "\"sur\":\"\\ufffd\\ufffd\\ufffd\"}");
	assert_valid_json(buf);

	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "ok=%s", "h\xc3\xa9");
	assert_string_equal(buf, PREFIX_LOGFMT "ok=\"h\xc3\xa9\"");
}

/* A small buffer truncates, stays terminated and reports the length written. */
static void test_truncation(void **state)
{
	char buf[16];
	size_t n = fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "k=%s", "value");

	assert_int_equal(n, sizeof(buf) - 1);
	assert_string_equal(buf, "ts=2023-11-14T2");
}

/* Every level and format name round-trips; unknown names are -EINVAL. */
static void test_names_round_trip(void **state)
{
	for (int i = 0; i < _LOG_LEVEL_MAX; i++)
		assert_int_equal(log_level_from_string(log_level_to_string((enum log_level)i)), i);
	for (int i = 0; i < _LOG_FORMAT_MAX; i++)
		assert_int_equal(log_format_from_string(log_format_to_string((enum log_format)i)),
		                 i);
	assert_string_equal(log_level_to_string(LOG_LEVEL_WARN), "warn");
	assert_string_equal(log_format_to_string(LOG_FORMAT_JSON), "json");
	assert_null(log_level_to_string(_LOG_LEVEL_MAX));
	assert_null(log_format_to_string(_LOG_FORMAT_MAX));
	assert_int_equal(log_level_from_string("verbose"), -EINVAL);
	assert_int_equal(log_level_from_string("INFO"), -EINVAL);
	assert_int_equal(log_format_from_string("text"), -EINVAL);
}

/* log_event writes one newline-terminated line to the redirected output, filtered by level. */
static void test_log_event_output(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	log_setup("test", LOG_LEVEL_INFO, LOG_FORMAT_LOGFMT);
	log_set_output(f);
	log_event(LOG_LEVEL_DEBUG, "t.hidden", "k=%d", 1);
	log_event(LOG_LEVEL_INFO, "t.shown", "k=%d", 2);
	assert_int_equal(log_error_errno(-ENOENT, "t.err", "k=%s", "x"), -ENOENT);
	log_set_output(NULL);
	fclose(f);

	assert_null(strstr(out, "t.hidden"));
	assert_non_null(strstr(out, "level=info svc=test event=t.shown k=2\n"));
	assert_non_null(strstr(out, "level=error svc=test event=t.err k=x "
	                            "err=\"No such file or directory\"\n"));
	free(out);
}

/* In JSON format the err field goes inside the object. */
static void test_log_error_errno_json(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	log_setup("test", LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	log_set_output(f);
	(void)log_error_errno(-EACCES, "t.err", "n=%d", 3);
	log_set_output(NULL);
	fclose(f);
	log_setup("test", LOG_LEVEL_DEBUG, LOG_FORMAT_LOGFMT);

	assert_non_null(strstr(out, "\"n\":3,\"err\":\"Permission denied\"}\n"));
	out[len - 1] = '\0';
	assert_valid_json(out);
	free(out);
}

/* Run the log tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_logfmt_escaping),
	    cmocka_unit_test(test_logfmt_numbers),
	    cmocka_unit_test(test_json_escaping),
	    cmocka_unit_test(test_json_non_numbers_quoted),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_names_round_trip),
	    cmocka_unit_test(test_log_event_output),
	    cmocka_unit_test(test_log_error_errno_json),
	};

	return cmocka_run_group_tests_name("log", tests, setup, NULL);
}
