/* Structured logging: one logfmt (or JSON) line per event. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const log_level_names[_LOG_LEVEL_MAX] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};

static const char *const log_format_names[_LOG_FORMAT_MAX] = {
    [LOG_FORMAT_LOGFMT] = "logfmt",
    [LOG_FORMAT_JSON] = "json",
};

static struct {
	char svc[32];
	enum log_level min_level;
	enum log_format format;
	FILE *out;
} log_state = {"hookrun", LOG_LEVEL_INFO, LOG_FORMAT_LOGFMT, NULL};

/* A growable-in-place output cursor over a fixed buffer; silently truncates. */
struct log_buf {
	char *p;
	size_t len, size;
};

/* Name of a log level. */
const char *log_level_to_string(enum log_level l)
{
	return l < _LOG_LEVEL_MAX ? log_level_names[l] : NULL;
}

/* Parse a log level name; -EINVAL when unknown. */
int log_level_from_string(const char *s)
{
	for (int i = 0; i < _LOG_LEVEL_MAX; i++)
		if (strcmp(s, log_level_names[i]) == 0)
			return i;
	return -EINVAL;
}

/* Name of a log format. */
const char *log_format_to_string(enum log_format f)
{
	return f < _LOG_FORMAT_MAX ? log_format_names[f] : NULL;
}

/* Parse a log format name; -EINVAL when unknown. */
int log_format_from_string(const char *s)
{
	for (int i = 0; i < _LOG_FORMAT_MAX; i++)
		if (strcmp(s, log_format_names[i]) == 0)
			return i;
	return -EINVAL;
}

/* Configure the process-wide logger; called once from main(). */
void log_setup(const char *svc, enum log_level min_level, enum log_format format)
{
	snprintf(log_state.svc, sizeof(log_state.svc), "%s", svc);
	log_state.min_level = min_level;
	log_state.format = format;
}

/* Redirect output (tests); NULL restores stderr. */
void log_set_output(FILE *f)
{
	log_state.out = f;
}

/* Whether an event at this level would be written. */
bool log_enabled(enum log_level level)
{
	return level >= log_state.min_level;
}

/* Append raw bytes. */
static void lb_put(struct log_buf *b, const char *s, size_t n)
{
	if (b->len + 1 >= b->size)
		return;
	if (n > b->size - 1 - b->len)
		n = b->size - 1 - b->len;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Append a NUL-terminated string. */
static void lb_puts(struct log_buf *b, const char *s)
{
	lb_put(b, s, strlen(s));
}

/* Whether a logfmt value must be quoted. */
static bool logfmt_needs_quotes(const char *v)
{
	if (!*v)
		return true;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p >= 0x7f)
			return true;
	return false;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs or surrogates), or 0. */
static size_t log_utf8_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4;
	else
		return 0;
	if (*p == 0xe0)
		lo = 0xa0;
	else if (*p == 0xed)
		hi = 0x9f;
	else if (*p == 0xf0)
		lo = 0x90;
	else if (*p == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	/* Stops at the first non-continuation byte, so never reads past the terminator. */
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Append a value escaped for logfmt (quote) or JSON (string=true means quote). */
static void lb_put_escaped(struct log_buf *b, const char *v, bool quote)
{
	char tmp[8];

	if (quote)
		lb_put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)*p;
			lb_put(b, tmp, 2);
		} else if (*p == '\n') {
			lb_put(b, "\\n", 2);
		} else if (*p == '\t') {
			lb_put(b, "\\t", 2);
		} else if (*p < ' ' || *p == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
			lb_puts(b, tmp);
		} else if (*p >= 0x80) {
			/* Invalid UTF-8 would make the line invalid JSON: U+FFFD, as Go does. */
			size_t n = log_utf8_len(p);

			if (n) {
				lb_put(b, (const char *)p, n);
				p += n - 1;
			} else {
				lb_put(b, "\\ufffd", 6);
			}
		} else {
			lb_put(b, (const char *)p, 1);
		}
	}
	if (quote)
		lb_put(b, "\"", 1);
}

/* Whether v is a JSON number (RFC 8259): not nan/inf, no '+', leading space or zero. */
static bool log_is_json_number(const char *v)
{
	static const char digits[] = "0123456789";
	size_t n;

	v += *v == '-';
	n = strspn(v, digits);
	if (n == 0 || (n > 1 && *v == '0'))
		return false;
	v += n;
	if (*v == '.') {
		n = strspn(++v, digits);
		if (n == 0)
			return false;
		v += n;
	}
	if (*v == 'e' || *v == 'E') {
		v++;
		v += *v == '+' || *v == '-';
		n = strspn(v, digits);
		if (n == 0)
			return false;
		v += n;
	}
	return *v == '\0';
}

/* Append one key=value field in the chosen format; numeric values stay unquoted in JSON. */
static void lb_field(struct log_buf *b, enum log_format format, const char *key, size_t keylen,
                     const char *value, bool numeric)
{
	/* A conversion can still yield non-numbers ("v%d", nan, "% d"): those get quoted. */
	numeric = numeric && log_is_json_number(value);
	if (format == LOG_FORMAT_JSON) {
		lb_put(b, ",\"", 2);
		lb_put(b, key, keylen);
		lb_put(b, "\":", 2);
		lb_put_escaped(b, value, !numeric);
		return;
	}
	if (b->len)
		lb_put(b, " ", 1);
	lb_put(b, key, keylen);
	lb_put(b, "=", 1);
	lb_put_escaped(b, value, !numeric && logfmt_needs_quotes(value));
}

/* Format one printf conversion starting at *fmtp ('%' already consumed) into out;
 * sets *numeric. Returns false on an unsupported conversion. */
static bool log_format_conv(const char **fmtp, va_list *ap, char *out, size_t outsz, bool *numeric)
{
	char spec[16] = "%";
	size_t n = 1;
	const char *f = *fmtp;

	while (*f && strchr("-+ #0123456789.", *f) && n < 8)
		spec[n++] = *f++;
	int longs = 0, size_t_len = 0;
	while (*f == 'l' && longs < 2) {
		spec[n++] = *f++;
		longs++;
	}
	if (*f == 'z') {
		spec[n++] = *f++;
		size_t_len = 1;
	}
	char conv = *f;
	spec[n++] = conv;
	spec[n] = '\0';
	*fmtp = *f ? f + 1 : f;
	*numeric = true;

	switch (conv) {
	case 's': {
		const char *s = va_arg(*ap, const char *);
		*numeric = false;
		snprintf(out, outsz, spec, s ? s : "");
		return true;
	}
	case 'c':
		*numeric = false;
		snprintf(out, outsz, "%c", va_arg(*ap, int));
		return true;
	case 'd':
	case 'i':
	case 'u':
	case 'x':
		/* The branches differ only in the va_arg type, which clang-tidy does not see. */
		if (size_t_len)
			snprintf(out, outsz, spec,
			         va_arg(*ap, size_t)); /* NOLINT(bugprone-branch-clone) */
		else if (longs == 2)
			snprintf(out, outsz, spec, va_arg(*ap, long long));
		else if (longs == 1)
			snprintf(out, outsz, spec, va_arg(*ap, long));
		else
			snprintf(out, outsz, spec, va_arg(*ap, int));
		*numeric = conv != 'x';
		return true;
	case 'f':
	case 'g':
		snprintf(out, outsz, spec, va_arg(*ap, double));
		return true;
	default:
		return false;
	}
}

/* Walk a "k=%s k2=%d" template, emitting escaped fields. */
static void log_format_fields(struct log_buf *b, enum log_format format, const char *fmt,
                              va_list ap)
{
	va_list aq;
	char value[2048];

	va_copy(aq, ap);
	while (fmt && *fmt) {
		while (*fmt == ' ')
			fmt++;
		const char *eq = strchr(fmt, '=');
		if (!eq)
			break;
		const char *key = fmt;
		size_t keylen = (size_t)(eq - fmt);
		const char *v = eq + 1;
		size_t vl = 0;
		bool numeric = false;

		/* A value is literal text and at most one conversion, up to the next space. */
		value[0] = '\0';
		while (*v && *v != ' ' && vl < sizeof(value) - 1) {
			if (*v == '%' && v[1] == '%') {
				value[vl++] = '%';
				v += 2;
			} else if (*v == '%') {
				v++;
				if (!log_format_conv(&v, &aq, value + vl, sizeof(value) - vl,
				                     &numeric))
					break;
				vl = strlen(value);
			} else {
				value[vl++] = *v++;
				value[vl] = '\0';
				numeric = false;
			}
		}
		value[vl] = '\0';
		lb_field(b, format, key, keylen, value, numeric);
		fmt = v;
	}
	va_end(aq);
}

/* Format one event line into buf (no trailing newline). */
size_t log_format_line(char *buf, size_t size, enum log_format format, long long now_ms,
                       enum log_level level, const char *event, const char *fmt, va_list ap)
{
	struct log_buf b = {buf, 0, size};
	char ts[40];
	time_t secs = (time_t)(now_ms / 1000);
	struct tm tm;

	buf[0] = '\0';
	gmtime_r(&secs, &tm);
	size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + tl, sizeof(ts) - tl, ".%03lldZ", now_ms % 1000);

	if (format == LOG_FORMAT_JSON)
		lb_put(&b, "{\"ts\":", 6), lb_put_escaped(&b, ts, true);
	else
		lb_puts(&b, "ts="), lb_puts(&b, ts);
	lb_field(&b, format, "level", 5, log_level_to_string(level), false);
	lb_field(&b, format, "svc", 3, log_state.svc, false);
	lb_field(&b, format, "event", 5, event, false);
	log_format_fields(&b, format, fmt, ap);
	if (format == LOG_FORMAT_JSON)
		lb_put(&b, "}", 1);
	return b.len;
}

/* Current wall-clock time in milliseconds. */
static long long log_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Format and write one line. */
static void log_vevent(enum log_level level, const char *event, const char *fmt, va_list ap,
                       const char *err)
{
	char line[8192];
	size_t n = log_format_line(line, sizeof(line) - 256, log_state.format, log_now_ms(), level,
	                           event, fmt, ap);
	struct log_buf b = {line, n, sizeof(line)};

	if (err) {
		if (log_state.format == LOG_FORMAT_JSON) {
			b.len--; /* drop the closing brace */
			lb_field(&b, LOG_FORMAT_JSON, "err", 3, err, false);
			lb_put(&b, "}", 1);
		} else {
			lb_field(&b, LOG_FORMAT_LOGFMT, "err", 3, err, false);
		}
	}
	lb_put(&b, "\n", 1);
	if (log_state.out) {
		fwrite(line, 1, b.len, log_state.out);
		fflush(log_state.out);
	} else {
		(void)!write(STDERR_FILENO, line, b.len);
	}
}

/* Log one event if its level is enabled. */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vevent(level, event, fmt, ap, NULL);
	va_end(ap);
}

/* Log an error event with err=<strerror> and return r. */
int log_error_errno(int r, const char *event, const char *fmt, ...)
{
	va_list ap;
	char eb[128];

	if (!log_enabled(LOG_LEVEL_ERROR))
		return r;
	va_start(ap, fmt);
	log_vevent(LOG_LEVEL_ERROR, event, fmt, ap, strerror_r(r < 0 ? -r : r, eb, sizeof(eb)));
	va_end(ap);
	return r;
}
