/* Unit tests for common/core/log.c: line formatting, escaping, level and format names. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <wchar.h>

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

/* fmt_line without the compiler's format check, for templates it rejects or does not know. */
static size_t fmt_line_unchecked(char *buf, size_t size, enum log_format format, const char *fmt,
                                 ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	n = log_format_line(buf, size, format, NOW_MS, LOG_LEVEL_INFO, "t.e", fmt, ap);
#pragma GCC diagnostic pop
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

/* Parse a JSON-format line into its object; fails the test when it is not one. */
static json_t *parse_json(const char *line)
{
	json_error_t e;
	json_t *v = json_loads(line, 0, &e);

	if (!v)
		fail_msg("invalid JSON (%s): %s", e.text, line);
	if (!json_is_object(v))
		fail_msg("not a JSON object: %s", line);
	return v;
}

/* Whether the double-quote characters of a logfmt line that are not escaped pair up. */
static bool logfmt_quotes_balanced(const char *line)
{
	bool in = false;

	for (const char *p = line; *p; p++) {
		if (in && *p == '\\' && p[1])
			p++;
		else if (*p == '"')
			in = !in;
	}
	return !in;
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

/* Integer conversions take the argument type of their length modifier and cut it as printf. */
static void test_conv_integers(void **state)
{
	char buf[1024];

	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT,
	         "hhu=%hhu hhd=%hhd hd=%hd hu=%hu lx=%lx llX=%llX jd=%jd ju=%ju td=%td zd=%zd "
	         "zx=%zx o=%o alt=%#x u=%u lld=%lld i=%i",
	         (unsigned char)200, (signed char)-100, (short)-30000, (unsigned short)60000,
	         0xdeadbeefcafeUL, 0xabcULL, INTMAX_MIN, UINTMAX_MAX, (ptrdiff_t)-3, (ssize_t)-4,
	         (size_t)255, 8, 255, 4294967295u, LLONG_MIN, -7);
	assert_string_equal(buf,
	                    PREFIX_LOGFMT "hhu=200 hhd=-100 hd=-30000 hu=60000 lx=deadbeefcafe "
	                                  "llX=ABC jd=-9223372036854775808 "
	                                  "ju=18446744073709551615 td=-3 zd=-4 zx=ff o=10 "
	                                  "alt=0xff u=4294967295 lld=-9223372036854775808 i=-7");

	/* The int that hh and h read is cut as printf cuts it (clang rejects such constants). */
	fmt_line_unchecked(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "hhu=%hhu hhd=%hhd hd=%hd hu=%hu",
	                   300, 255, 70000, 65537);
	assert_string_equal(buf, PREFIX_LOGFMT "hhu=44 hhd=-1 hd=4464 hu=1");

	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT,
	         "w=%5d l=%-5d|| z=%05d p=%+d sp=% d prec=%.3d both=%8.3d x=%-#6x|", 42, 42, 42, 42,
	         42, 7, -7, 255);
	assert_string_equal(buf, PREFIX_LOGFMT "w=\"   42\" l=\"42   ||\" z=00042 p=+42 sp=\" 42\" "
	                                       "prec=007 both=\"    -007\" x=\"0xff  |\"");
}

/* Floating conversions, long double included, with flags, width and precision. */
static void test_conv_floats(void **state)
{
	char buf[1024];

	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT,
	         "f=%f F=%F e=%e E=%E g=%g G=%G a=%a A=%A Lf=%Lf Lg=%Lg lf=%lf w=%10.3f alt=%#.0f "
	         "inf=%F nan=%f le=%-12.2Le|",
	         1.5, 2.25, 12345.678, 0.000123, 0.0001, 1e20, 1.0, 1.0, 1.5L, 2.5L, 3.25, 3.14159,
	         2.0, (double)INFINITY, (double)NAN, 1234.5L);
	assert_string_equal(buf,
	                    PREFIX_LOGFMT "f=1.500000 F=2.250000 e=1.234568e+04 E=1.230000E-04 "
	                                  "g=0.0001 G=1E+20 a=0x1p+0 A=0X1P+0 Lf=1.500000 Lg=2.5 "
	                                  "lf=3.250000 w=\"     3.142\" alt=2. inf=INF nan=nan "
	                                  "le=\"1.23e+03    |\"");
}

/* Strings (narrow, wide, with precision on an unterminated array), characters and pointers. */
static void test_conv_strings_chars_pointers(void **state)
{
	static const char raw[3] = {'a', 'b', 'c'}; /* no terminator: %.3s must stop at 3 */
	char buf[1024], ptr[32];

	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT,
	         "s=%s w=%-6s| r=%6s p=%.2s raw=%.3s ws=%ls S=%S c=%c c3=%3c lc=%lc C=%C pct=%d%% "
	         "nil=%p",
	         "ab", "ab", "ab", "abcdef", raw, L"wide", L"W", 'x', 'y', (wint_t)L'z',
	         (wint_t)L'Z', 50, (void *)NULL);
	assert_string_equal(buf,
	                    PREFIX_LOGFMT "s=ab w=\"ab    |\" r=\"    ab\" p=ab raw=abc ws=wide "
	                                  "S=W c=x c3=\"  y\" lc=z C=Z pct=50% nil=(nil)");

	snprintf(ptr, sizeof(ptr), "%p", (void *)buf);
	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "ptr=%p", (void *)buf);
	assert_string_equal(buf + strlen(PREFIX_LOGFMT) + 4, ptr);
}

/* '*' and ".*" read int arguments; negative ones mean '-' and "no precision". */
static void test_conv_star(void **state)
{
	char buf[1024];

	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT,
	         "w=%*d l=%*d| p=%.*f s=%.*s n=%.*s ws=%*.*s after=%d", 5, 42, -5, 42, 2, 3.14159,
	         3, "abcdef", -1, "abc", 6, 2, "abcdef", 9);
	assert_string_equal(buf, PREFIX_LOGFMT "w=\"   42\" l=\"42   |\" p=3.14 s=abc n=abc "
	                                       "ws=\"    ab\" after=9");
}

/* n$ positions: any order, one argument used twice, width taken by position. */
static void test_conv_positional(void **state)
{
	char buf[1024];

	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "b=%2$s a=%1$d again=%1$x w=%3$*4$d", 255,
	         "x", 7, 4);
	assert_string_equal(buf, PREFIX_LOGFMT "b=x a=255 again=ff w=\"   7\"");
}

/* %m is errno's message (r's in log_error_errno), and logging leaves errno alone. */
static void test_conv_errno(void **state)
{
	char buf[1024];
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	errno = ENOENT;
	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "e=%m w=%.2m");
	assert_string_equal(buf, PREFIX_LOGFMT "e=\"No such file or directory\" w=No");

	f = open_memstream(&out, &len);
	assert_non_null(f);
	log_setup("test", LOG_LEVEL_INFO, LOG_FORMAT_LOGFMT);
	log_set_output(f);
	errno = EBADF;
	log_event(LOG_LEVEL_INFO, "t.m", "e=%m");
	assert_int_equal(errno, EBADF);
	assert_int_equal(log_error_errno(-ENOENT, "t.err", "m=%m"), -ENOENT);
	assert_int_equal(errno, EBADF);
	log_set_output(NULL);
	fclose(f);
	log_setup("test", LOG_LEVEL_DEBUG, LOG_FORMAT_LOGFMT);

	assert_non_null(strstr(out, "event=t.m e=\"Bad file descriptor\"\n"));
	assert_non_null(strstr(out, "event=t.err m=\"No such file or directory\" "
	                            "err=\"No such file or directory\"\n"));
	free(out);
}

/* %n is never written through, and the arguments after it stay in step. */
static void test_conv_n_refused(void **state)
{
	char buf[1024];
	int n = 7;
	signed char hh = 8;

	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "a=%n b=%d c=x%hhn d=%s", &n, 5, &hh, "y");
	assert_string_equal(buf, PREFIX_LOGFMT "a=\"\" b=5 c=x d=y");
	assert_int_equal(n, 7);
	assert_int_equal(hh, 8);
}

/* glibc's extensions that gcc accepts: %b %B, Z and q lengths, ' and I flags. */
static void test_conv_glibc_extensions(void **state)
{
	char buf[1024];

	fmt_line_unchecked(buf, sizeof(buf), LOG_FORMAT_LOGFMT,
	                   "b=%b B=%#B Z=%Zu q=%qd I=%Id g=%'d", 5u, 5u, (size_t)9, 10LL, 11,
	                   1234567);
	assert_string_equal(buf, PREFIX_LOGFMT "b=101 B=0B101 Z=9 q=10 I=11 g=1234567");
}

/* Templates printf rejects never read an argument of the wrong type: an invalid conversion,
 * and every argument-taking one after it, is printed as written. */
static void test_conv_invalid(void **state)
{
	static const struct {
		const char *fmt, *want;
	} cases[] = {
	    {"a=%y b=%d c=%%", "a=%y b=%d c=%"},
	    {"a=%1$d b=%d", "a=1 b=%d"},
	    {"a=%d b=%2$s", "a=1 b=%2$s"},
	    {"a=%1$d c=%3$s", "a=1 c=%3$s"}, /* 2$ unused: 3$ cannot be located */
	    {"a=%1$d b=%1$s", "a=1 b=%1$s"}, /* one argument, two types */
	    {"a=%1$*d", "a=%1$*d"},          /* numbered and unnumbered in one conversion */
	    {"h=%Hf x=%d", "h=%Hf x=%d"},    /* decimal float */
	    {"hf=%hf x=%d", "hf=%hf x=%d"},  /* length that does not apply */
	    {"ls=%Ls x=%d", "ls=%Ls x=%d"},  /* length that does not apply */
	    {"p=%5% x=%d", "p=%5% x=%d"},    /* %% with a width */
	    {"t=%", "t=%"},                  /* cut short */
	    {"m=%1$m x=%d", "m=%1$m x=%d"},  /* %m takes no argument */
	    {"x=%d t=%99999999999$d", "x=1 t=%99999999999$d"},
	};
	char buf[1024];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		fmt_line_unchecked(buf, sizeof(buf), LOG_FORMAT_LOGFMT, cases[i].fmt, 1, "two", 3);
		if (strcmp(buf + strlen(PREFIX_LOGFMT), cases[i].want) != 0)
			fail_msg("'%s' gave '%s'", cases[i].fmt, buf);
	}
}

/* Conversions in keys and in words without '=' take their arguments but are not printed. */
static void test_conv_outside_values(void **state)
{
	char buf[1024];

	fmt_line_unchecked(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "k%d=%s junk %s v=%s", 1, "x", "y",
	                   "z");
	assert_string_equal(buf, PREFIX_LOGFMT "k%d=x v=z");
	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "a=%d trailing %s", 1, "y");
	assert_string_equal(buf, PREFIX_LOGFMT "a=1");
}

/* Past 32 arguments nothing more is read; those conversions are printed as written. */
static void test_conv_args_limit(void **state)
{
	char buf[1024], want[256];
	size_t n = 0;

	for (int i = 0; i < 32; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "%d", i);
	snprintf(want + n, sizeof(want) - n, "%%d");
	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT,
	         "v=%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d", 0, 1, 2, 3,
	         4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
	         26, 27, 28, 29, 30, 31, 32);
	assert_string_equal(buf + strlen(PREFIX_LOGFMT) + 2, want);
}

/* In JSON, number conversions that yield JSON numbers are numbers; the rest are strings. */
static void test_json_conversions(void **state)
{
	char buf[1024];
	json_t *o;

	fmt_line(buf, sizeof(buf), LOG_FORMAT_JSON,
	         "hhu=%hhu jd=%jd zu=%zu e=%e g=%g G=%G Lf=%.1Lf x=%x o=%o a=%a p=%p inf=%F nan=%g "
	         "plus=%+d w=%5d s=%-3s| c=%c",
	         (unsigned char)200, (intmax_t)-9, (size_t)7, 1.5, 0.25, 1e-7, 2.5L, 255, 8, 1.0,
	         (void *)NULL, (double)INFINITY, (double)NAN, 5, 5, "\"", '\\');
	assert_string_equal(buf, PREFIX_JSON "\"hhu\":200,\"jd\":-9,\"zu\":7,\"e\":1.500000e+00,"
	                                     "\"g\":0.25,\"G\":1E-07,\"Lf\":2.5,\"x\":\"ff\","
	                                     "\"o\":\"10\",\"a\":\"0x1p+0\",\"p\":\"(nil)\","
	                                     "\"inf\":\"INF\",\"nan\":\"nan\",\"plus\":\"+5\","
	                                     "\"w\":\"    5\",\"s\":\"\\\"  |\",\"c\":\"\\\\\"}");
	o = parse_json(buf);
	assert_int_equal(json_integer_value(json_object_get(o, "hhu")), 200);
	assert_int_equal(json_integer_value(json_object_get(o, "jd")), -9);
	assert_true(json_real_value(json_object_get(o, "e")) == 1.5);
	assert_true(json_real_value(json_object_get(o, "G")) == 1e-7);
	assert_string_equal(json_string_value(json_object_get(o, "x")), "ff");
	assert_string_equal(json_string_value(json_object_get(o, "s")), "\"  |");
	assert_string_equal(json_string_value(json_object_get(o, "c")), "\\");
	json_decref(o);
}

/* Quotes, newlines, control bytes and invalid UTF-8 are escaped alike in both formats; the
 * JSON line parses back to the same strings (invalid UTF-8 as U+FFFD). */
static void test_escaping_both_formats(void **state)
{
	static const struct {
		const char *key, *value, *logfmt, *decoded;
	} cases[] = {
	    {"q", "say \"hi\"", "\"say \\\"hi\\\"\"", NULL},
	    {"ctl", "a\nb\r\x01\x1f", "\"a\\nb\\u000d\\u0001\\u001f\"", NULL},
	    {"del", "\x7f", "\"\\u007f\"", NULL},
	    {"bad",
	     "a\xff"
	     "b\xc3",
	     "\"a\\ufffdb\\ufffd\"",
	     "a\xef\xbf\xbd"
	     "b\xef\xbf\xbd"},
	    {"over", "\xc0\xaf", "\"\\ufffd\\ufffd\"", "\xef\xbf\xbd\xef\xbf\xbd"},
	    {"ok", "\xc3\xa9\xe2\x82\xac", "\"\xc3\xa9\xe2\x82\xac\"", NULL},
	    {"tab", "a\tb", "\"a\\tb\"", NULL},
	    {"bs", "back\\slash", "\"back\\\\slash\"", NULL},
	    {"sp", " lead", "\" lead\"", NULL},
	    {"eq", "a=b", "\"a=b\"", NULL},
	};
	char buf[1024], fmt[64], want[256];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		json_t *o;

		snprintf(fmt, sizeof(fmt), "%s=%%s", cases[i].key);
		snprintf(want, sizeof(want), PREFIX_LOGFMT "%s=%s", cases[i].key, cases[i].logfmt);
		fmt_line_unchecked(buf, sizeof(buf), LOG_FORMAT_LOGFMT, fmt, cases[i].value);
		assert_string_equal(buf, want);
		fmt_line_unchecked(buf, sizeof(buf), LOG_FORMAT_JSON, fmt, cases[i].value);
		o = parse_json(buf);
		assert_string_equal(json_string_value(json_object_get(o, cases[i].key)),
		                    cases[i].decoded ? cases[i].decoded : cases[i].value);
		json_decref(o);
	}

	/* The same through conversions other than %s. */
	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "c=%c nl=%c w=%-3s|", '"', '\n', "\"");
	assert_string_equal(buf, PREFIX_LOGFMT "c=\"\\\"\" nl=\"\\n\" w=\"\\\"  |\"");
}

/* A value longer than 2 KiB is cut, at a UTF-8 character boundary; huge widths and
 * precisions are capped instead of being honoured. */
static void test_long_values(void **state)
{
	char buf[8192], big[6001];
	json_t *o;

	memset(big, 'a', 5000);
	big[5000] = '\0';
	fmt_line(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "k=%s n=%d", big, 1);
	assert_int_equal(strlen(buf), strlen(PREFIX_LOGFMT) + 2 + 2047 + 4);
	assert_string_equal(buf + strlen(buf) - 5, "a n=1");

	for (size_t i = 0; i < 6000; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[6000] = '\0';
	fmt_line(buf, sizeof(buf), LOG_FORMAT_JSON, "k=%s", big);
	o = parse_json(buf);
	assert_int_equal(strlen(json_string_value(json_object_get(o, "k"))), 2046);
	assert_null(strstr(buf, "\\ufffd"));
	json_decref(o);

	fmt_line_unchecked(buf, sizeof(buf), LOG_FORMAT_LOGFMT, "w=%*d p=%.*f l=%-*d n=%d", INT_MAX,
	                   42, INT_MAX, 1.0, INT_MIN, 7, 3);
	assert_true(logfmt_quotes_balanced(buf));
	assert_string_equal(buf + strlen(buf) - 4, " n=3");
	fmt_line_unchecked(buf, sizeof(buf), LOG_FORMAT_JSON,
	                   "w=%99999999999d p=%.99999999999f n=%d", 42, 1.0, 3);
	o = parse_json(buf);
	assert_int_equal(strlen(json_string_value(json_object_get(o, "w"))), 2047);
	assert_true(json_real_value(json_object_get(o, "p")) == 1.0); /* "1.000…", 2047 bytes */
	assert_non_null(strstr(buf, "\"p\":1.0000"));
	assert_int_equal(json_integer_value(json_object_get(o, "n")), 3);
	json_decref(o);
}

/* A line cut at any size stays a valid JSON object, or balanced logfmt: values are cut at a
 * character (never inside an escape), fields whose key does not fit are dropped. */
static void test_line_cut(void **state)
{
	char buf[512], ctl[2001];
	json_t *o;
	size_t n;

	for (size_t size = strlen("{\"ts\":\"2023-11-14T22:13:20.123Z\"}") + 1; size < sizeof(buf);
	     size++) {
		n = fmt_line(buf, size, LOG_FORMAT_JSON, "a=%s b=%d c=%s", "q\"\\\x01\xc3\xa9 x",
		             42, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
		assert_true(n < size);
		assert_int_equal(n, strlen(buf));
		json_decref(parse_json(buf));
		n = fmt_line(buf, size, LOG_FORMAT_LOGFMT, "a=%s b=%d c=%s", "q\"\\\x01\xc3\xa9 x",
		             42, "\xe2\x82\xac\xe2\x82\xac");
		assert_true(n < size);
		if (!logfmt_quotes_balanced(buf))
			fail_msg("size %zu: unbalanced: %s", size, buf);
	}

	/* Escaping can grow a value six times past the line: it is cut, the rest dropped. */
	memset(ctl, '\x01', 2000);
	ctl[2000] = '\0';
	char line[8192];
	n = fmt_line(line, sizeof(line), LOG_FORMAT_JSON, "k=%s %s %s %s %s after=%d", ctl, ctl,
	             ctl, ctl, ctl, 5);
	assert_true(n < sizeof(line) && n > sizeof(line) - 8);
	o = parse_json(line);
	assert_int_equal(json_object_size(o), 5);
	n = strlen(json_string_value(json_object_get(o, "k")));
	assert_true(n > 1000 && n < 2000);
	assert_int_equal(strspn(json_string_value(json_object_get(o, "k")), "\x01"), n);
	json_decref(o);
}

/* log_event and log_error_errno write one line, err included, however long the values. */
static void test_log_event_long_line(void **state)
{
	char *out = NULL, big[3001];
	size_t len = 0;
	FILE *f;
	json_t *o;

	memset(big, 'x', 3000);
	big[3000] = '\0';
	for (int format = 0; format < _LOG_FORMAT_MAX; format++) {
		f = open_memstream(&out, &len);
		assert_non_null(f);
		log_setup("test", LOG_LEVEL_INFO, (enum log_format)format);
		log_set_output(f);
		(void)log_error_errno(-EIO, "t.err", "a=%s b=\"%s\" c=%s d=%s", big, big, big, big);
		log_set_output(NULL);
		fclose(f);

		assert_true(len <= 8192);
		assert_int_equal(out[len - 1], '\n');
		assert_ptr_equal(strchr(out, '\n'), out + len - 1);
		out[len - 1] = '\0';
		if (format == LOG_FORMAT_JSON) {
			o = parse_json(out);
			assert_string_equal(json_string_value(json_object_get(o, "err")),
			                    "Input/output error");
			json_decref(o);
		} else {
			assert_true(logfmt_quotes_balanced(out));
			assert_string_equal(out + len - 1 - strlen(" err=\"Input/output error\""),
			                    " err=\"Input/output error\"");
		}
		free(out);
		out = NULL;
	}
	log_setup("test", LOG_LEVEL_DEBUG, LOG_FORMAT_LOGFMT);
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
	    cmocka_unit_test(test_conv_integers),
	    cmocka_unit_test(test_conv_floats),
	    cmocka_unit_test(test_conv_strings_chars_pointers),
	    cmocka_unit_test(test_conv_star),
	    cmocka_unit_test(test_conv_positional),
	    cmocka_unit_test(test_conv_errno),
	    cmocka_unit_test(test_conv_n_refused),
	    cmocka_unit_test(test_conv_glibc_extensions),
	    cmocka_unit_test(test_conv_invalid),
	    cmocka_unit_test(test_conv_outside_values),
	    cmocka_unit_test(test_conv_args_limit),
	    cmocka_unit_test(test_json_conversions),
	    cmocka_unit_test(test_escaping_both_formats),
	    cmocka_unit_test(test_long_values),
	    cmocka_unit_test(test_line_cut),
	    cmocka_unit_test(test_log_event_long_line),
	};

	return cmocka_run_group_tests_name("log", tests, setup, NULL);
}
