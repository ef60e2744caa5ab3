/* Structured logging: one logfmt (or JSON) line per event on stderr.
 * Every process calls log_setup() once in main(); common/ modules log at debug only.
 * Writes are one write(2) each, so lines from concurrent processes do not interleave. */
#pragma once

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

/* fmt is a template of space-separated key=%conv pairs, e.g. "source=%s status=%d".
 * Every interpolated value is escaped (logfmt quoting or JSON string rules), so callers may
 * pass any string. Supported conversions: s d i u ld lu lld llu zu zd f (with precision) x c. */
void log_event(enum log_level level, const char *event, const char *fmt, ...) _printf_(3, 4);
/* Log with err=<strerror(-r)> appended; returns r so callers can `return log_error_errno(...)`. */
int log_error_errno(int r, const char *event, const char *fmt, ...) _printf_(3, 4);

/* Format one event line into buf (no trailing newline); used by log_event and tests.
 * Returns the length written (truncated at size-1). */
size_t log_format_line(char *buf, size_t size, enum log_format format, long long now_ms,
                       enum log_level level, const char *event, const char *fmt, va_list ap);
