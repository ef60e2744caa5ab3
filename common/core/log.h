/* Structured logging: one logfmt (or JSON) line per event on stderr.
 * Every process calls log_setup() once in main(); common/ modules log at debug only.
 * Writes are one write(2) each, so lines from concurrent processes do not interleave. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "xalloc.h"

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	_LOG_LEVEL_MAX,
};

enum log_format {
	LOG_FORMAT_LOGFMT,
	LOG_FORMAT_JSON,
	_LOG_FORMAT_MAX,
};

const char *log_level_to_string(enum log_level l);
int log_level_from_string(const char *s);
const char *log_format_to_string(enum log_format f);
int log_format_from_string(const char *s);

void log_setup(const char *svc, enum log_level min_level, enum log_format format);
/* Redirect output (tests); NULL restores stderr. */
void log_set_output(FILE *f);
bool log_enabled(enum log_level level);

/* fmt is a template of space-separated key=value fields, e.g. "source=%s status=%d dur=%.1fms".
 * A value is literal text and printf conversions up to the next space. Every conversion
 * printf accepts works: flags (- + space # 0 ' I), width and precision (digits, * or .*),
 * length modifiers (hh h l ll j z t L q Z), conversions d i o u x X b B e E f F g G a A
 * c C s S p m % and n$ argument positions. Each is formatted by snprintf, then the value is
 * escaped (logfmt quoting, or a JSON string with invalid UTF-8 as U+FFFD), so callers may
 * pass any string; a NULL %s prints as empty. In JSON a value that ends with a d i u e f g
 * conversion stays unquoted when it is a JSON number. %m prints strerror(errno) (of r in
 * log_error_errno); %n is never written through. Values are cut at 2 KiB and the line at
 * 8 KiB, at a character boundary. Misuse stays safe: a conversion in a key takes its argument
 * but is not printed, a word without '=' is dropped, and an invalid conversion (or
 * decimal-float H/D/DD) is printed as written, as is every conversion after it that
 * takes an argument. Logging leaves errno unchanged. */
void log_event(enum log_level level, const char *event, const char *fmt, ...) _printf_(3, 4);
/* Log with err=<strerror(-r)> appended; returns r so callers can `return log_error_errno(...)`. */
int log_error_errno(int r, const char *event, const char *fmt, ...) _printf_(3, 4);

/* Format one event line into buf (size > 0; no trailing newline); used by log_event and tests.
 * Returns the length written, at most size-1: a value that does not fit is cut, a field
 * whose key does not fit is dropped with the fields after it, and a JSON line stays closed. */
size_t log_format_line(char *buf, size_t size, enum log_format format, long long now_ms,
                       enum log_level level, const char *event, const char *fmt, va_list ap)
    _printf_(7, 0);
