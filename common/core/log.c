/* Structured logging: one logfmt (or JSON) line per event. */
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

/* Most arguments one template may use; conversions past it are printed as written. */
#define LOG_ARGS_MAX  32
/* Largest value in bytes before escaping; longer values are cut. */
#define LOG_VALUE_MAX 2048
/* printf flag characters, glibc's ' and I included; bit i of log_conv.flags is LOG_FLAGS[i]. */
#define LOG_FLAGS     "-+ #0'I"

/* The va_arg types are fixed: %zd reads an ssize_t, %tu a size_t. */
_Static_assert(sizeof(ssize_t) == sizeof(size_t) && sizeof(ptrdiff_t) == sizeof(size_t),
               "ssize_t, size_t and ptrdiff_t differ in size");

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

/* An output cursor over a fixed buffer; fields that do not fit are cut or dropped. */
struct log_buf {
	char *p;
	size_t len, size;
	size_t reserve; /* bytes kept free for what closes the line (JSON '}', the err field) */
	bool full;      /* a field did not fit: the fields after it are dropped too */
};

/* One event line to format; errno_value is what %m prints. */
struct log_line {
	enum log_format format;
	long long now_ms;
	enum log_level level;
	const char *event;
	const char *fmt;
	int errno_value;
	const char *err; /* appended as err=..., or NULL */
};

/* A printf length modifier. */
enum log_len {
	LOG_LEN_NONE,
	LOG_LEN_HH,
	LOG_LEN_H,
	LOG_LEN_L,
	LOG_LEN_LL, /* ll, q, and L with an integer conversion */
	LOG_LEN_BIG_L,
	LOG_LEN_J,
	LOG_LEN_Z, /* z and Z */
	LOG_LEN_T,
};

/* The type va_arg reads; signedness is kept apart so that "%1$d %1$x" may share an argument. */
enum log_arg_kind {
	LOG_ARG_NONE,
	LOG_ARG_INT,
	LOG_ARG_LONG,
	LOG_ARG_LLONG,
	LOG_ARG_INTMAX,
	LOG_ARG_SIZE,
	LOG_ARG_PTRDIFF,
	LOG_ARG_DOUBLE,
	LOG_ARG_LDOUBLE,
	LOG_ARG_WINT,
	LOG_ARG_STRING,
	LOG_ARG_WSTRING,
	LOG_ARG_POINTER,
};

/* One argument, read once; integers keep their bits (signed ones sign-extended). */
union log_arg {
	uintmax_t u;
	double d;
	long double ld;
	wint_t wc;
	const char *s;
	const wchar_t *ws;
	const void *p;
};

/* One parsed conversion specification. Positions (n$) are 1-based; 0 means "the next one". */
struct log_conv {
	const char *start; /* the '%' */
	size_t spec_len;   /* through the conversion character */
	unsigned flags;
	int width, prec; /* -1: absent; saturated at INT_MAX */
	bool width_star, prec_star;
	int pos, width_pos, prec_pos;
	enum log_len len;
	char conv;
	enum log_arg_kind kind;
	bool is_int, is_unsigned;
	bool ok;                         /* valid, and every argument it uses has a slot */
	int slot, width_slot, prec_slot; /* argument indexes, or -1 */
};

/* Which argument each conversion uses, decided the way printf does (sequential or n$). */
struct log_bind {
	enum { LOG_BIND_UNSET, LOG_BIND_SEQUENTIAL, LOG_BIND_POSITIONAL } mode;
	bool broken; /* an invalid conversion: no argument after it can be located */
	int next;
	unsigned char kind[LOG_ARGS_MAX];
	bool is_unsigned[LOG_ARGS_MAX];
};

/* The arguments of one event, read in order before anything is formatted. */
struct log_args {
	int n; /* leading slots read */
	union log_arg v[LOG_ARGS_MAX];
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

/* Bytes that may still be appended before the reserve. */
static size_t lb_room(const struct log_buf *b)
{
	size_t used = b->len + 1 + b->reserve;

	return b->size > used ? b->size - used : 0;
}

/* Append raw bytes, cutting them at the room left. */
static void lb_put(struct log_buf *b, const char *s, size_t n)
{
	if (n > lb_room(b))
		n = lb_room(b);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Append raw bytes only if all of them fit. */
static bool lb_put_all(struct log_buf *b, const char *s, size_t n)
{
	if (n > lb_room(b))
		return false;
	lb_put(b, s, n);
	return true;
}

/* Go back to an earlier length. */
static void lb_truncate(struct log_buf *b, size_t len)
{
	b->len = len;
	b->p[len] = '\0';
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
static size_t log_utf8_len(const unsigned char *p, const unsigned char *end)
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
	if ((size_t)(end - p) < n)
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
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Escape the character at p into out (8 bytes); returns the bytes written, *used the bytes read.
 * Invalid UTF-8 would make the line invalid JSON: it becomes U+FFFD, as Go does. */
static size_t log_escape_char(const unsigned char *p, const unsigned char *end, char *out,
                              size_t *used)
{
	size_t n;

	*used = 1;
	if (*p == '"' || *p == '\\') {
		out[0] = '\\';
		out[1] = (char)*p;
		return 2;
	}
	if (*p == '\n' || *p == '\t') {
		out[0] = '\\';
		out[1] = *p == '\n' ? 'n' : 't';
		return 2;
	}
	if (*p < ' ' || *p == 0x7f)
		return (size_t)snprintf(out, 8, "\\u%04x", *p);
	if (*p < 0x80) {
		out[0] = (char)*p;
		return 1;
	}
	n = log_utf8_len(p, end);
	if (!n)
		return (size_t)snprintf(out, 8, "\\ufffd");
	memcpy(out, p, n);
	*used = n;
	return n;
}

/* Append v[0, n) quoted and escaped, cut at a character boundary if the room runs out.
 * Returns whether all of it fit; appends nothing when not even the quotes fit. */
static bool lb_put_quoted(struct log_buf *b, const char *v, size_t n)
{
	const unsigned char *p = (const unsigned char *)v, *end = p + n;
	char unit[8];
	size_t k, used;

	if (lb_room(b) < 2)
		return false;
	lb_put(b, "\"", 1);
	b->reserve++; /* the closing quote */
	for (; p < end; p += used) {
		k = log_escape_char(p, end, unit, &used);
		if (k > lb_room(b))
			break;
		lb_put(b, unit, k);
	}
	b->reserve--;
	lb_put(b, "\"", 1);
	return p == end;
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

/* Append one key=value field in the chosen format; numeric values stay unquoted in JSON.
 * A value that does not fit is quoted and cut; a field whose key does not fit is dropped
 * with every field after it, so the line stays parseable. */
static void lb_field(struct log_buf *b, enum log_format format, const char *key, size_t keylen,
                     const char *value, bool numeric)
{
	size_t start = b->len, vlen = strlen(value), before;
	bool ok, quote;

	if (b->full)
		return;
	/* A conversion can still yield non-numbers ("v%d", nan, "% d"): those get quoted. */
	numeric = numeric && log_is_json_number(value);
	if (format == LOG_FORMAT_JSON) {
		quote = !numeric;
		ok =
		    lb_put_all(b, ",", 1) && lb_put_quoted(b, key, keylen) && lb_put_all(b, ":", 1);
	} else {
		quote = !numeric && logfmt_needs_quotes(value);
		ok = lb_put_all(b, " ", 1) && lb_put_all(b, key, keylen) && lb_put_all(b, "=", 1);
	}
	if (ok && !quote && lb_put_all(b, value, vlen))
		return;
	before = b->len;
	if (ok && lb_put_quoted(b, value, vlen))
		return;
	/* Keep what fit of the value; drop the field when not even its quotes fit. */
	if (!ok || b->len == before)
		lb_truncate(b, start);
	b->full = true;
}

/* Parse "n$" at f into *pos (0 when absent); returns the end. */
static const char *log_parse_pos(const char *f, int *pos)
{
	const char *p = f;
	int n = 0;

	*pos = 0;
	if (*p < '1' || *p > '9')
		return f;
	for (; *p >= '0' && *p <= '9'; p++)
		n = n > (INT_MAX - 9) / 10 ? INT_MAX : n * 10 + (*p - '0');
	if (*p != '$')
		return f;
	*pos = n;
	return p + 1;
}

/* Parse a width or precision at f: digits (saturated), '*' or "*n$"; returns the end. */
static const char *log_parse_amount(const char *f, int *value, bool *star, int *pos)
{
	if (*f == '*') {
		*star = true;
		return log_parse_pos(f + 1, pos);
	}
	if (*f < '0' || *f > '9')
		return f;
	for (*value = 0; *f >= '0' && *f <= '9'; f++)
		*value = *value > (INT_MAX - 9) / 10 ? INT_MAX : *value * 10 + (*f - '0');
	return f;
}

/* Parse a length modifier at f; returns the end. */
static const char *log_parse_len(const char *f, enum log_len *len)
{
	static const struct {
		const char *s;
		enum log_len len;
	} mods[] = {
	    {"hh", LOG_LEN_HH}, {"h", LOG_LEN_H},     {"ll", LOG_LEN_LL}, {"l", LOG_LEN_L},
	    {"q", LOG_LEN_LL},  {"L", LOG_LEN_BIG_L}, {"j", LOG_LEN_J},   {"z", LOG_LEN_Z},
	    {"Z", LOG_LEN_Z},   {"t", LOG_LEN_T},
	};

	*len = LOG_LEN_NONE;
	for (size_t i = 0; i < ELEMENTSOF(mods); i++) {
		size_t n = strlen(mods[i].s);

		if (strncmp(f, mods[i].s, n) == 0) {
			*len = mods[i].len;
			return f + n;
		}
	}
	return f;
}

/* The va_arg type of an integer conversion with this length modifier. */
static enum log_arg_kind log_int_kind(enum log_len len)
{
	static const enum log_arg_kind kinds[] = {
	    [LOG_LEN_NONE] = LOG_ARG_INT,  [LOG_LEN_HH] = LOG_ARG_INT,
	    [LOG_LEN_H] = LOG_ARG_INT,     [LOG_LEN_L] = LOG_ARG_LONG,
	    [LOG_LEN_LL] = LOG_ARG_LLONG,  [LOG_LEN_BIG_L] = LOG_ARG_LLONG,
	    [LOG_LEN_J] = LOG_ARG_INTMAX,  [LOG_LEN_Z] = LOG_ARG_SIZE,
	    [LOG_LEN_T] = LOG_ARG_PTRDIFF,
	};

	return kinds[len];
}

/* Set c->kind from the conversion and its length modifier; false when printf has no such
 * conversion. %n gets a pointer kind so that it is skipped, never written through. */
static bool log_conv_classify(struct log_conv *c)
{
	bool plain = c->len == LOG_LEN_NONE, wide = c->len == LOG_LEN_L;

	c->is_int = c->conv && strchr("diouxXbB", c->conv);
	c->is_unsigned = c->is_int && strchr("ouxXbB", c->conv);
	switch (c->conv) {
	case 'd':
	case 'i':
	case 'o':
	case 'u':
	case 'x':
	case 'X':
	case 'b':
	case 'B':
		c->kind = log_int_kind(c->len);
		return true;
	case 'n':
		c->kind = LOG_ARG_POINTER;
		return c->len != LOG_LEN_BIG_L;
	case 'e':
	case 'E':
	case 'f':
	case 'F':
	case 'g':
	case 'G':
	case 'a':
	case 'A':
		c->kind = c->len == LOG_LEN_BIG_L ? LOG_ARG_LDOUBLE : LOG_ARG_DOUBLE;
		return plain || wide || c->len == LOG_LEN_BIG_L;
	case 'c':
	case 's':
		c->kind = c->conv == 'c' ? (wide ? LOG_ARG_WINT : LOG_ARG_INT)
		                         : (wide ? LOG_ARG_WSTRING : LOG_ARG_STRING);
		return plain || wide;
	case 'C':
	case 'S':
		c->kind = c->conv == 'C' ? LOG_ARG_WINT : LOG_ARG_WSTRING;
		return plain;
	case 'p':
		c->kind = LOG_ARG_POINTER;
		return plain;
	case 'm':
		return plain && !c->pos;
	case '%':
		return c->spec_len == 2;
	default:
		return false;
	}
}

/* Parse the conversion specification at f (a '%') into *c; returns the end. */
static const char *log_conv_parse(const char *f, struct log_conv *c)
{
	const char *fl;

	*c = (struct log_conv){.start = f, .width = -1, .prec = -1};
	f = log_parse_pos(f + 1, &c->pos);
	for (; *f && (fl = strchr(LOG_FLAGS, *f)); f++)
		c->flags |= 1u << (fl - LOG_FLAGS);
	f = log_parse_amount(f, &c->width, &c->width_star, &c->width_pos);
	if (*f == '.') {
		c->prec = 0; /* "%.d" is precision zero */
		f = log_parse_amount(f + 1, &c->prec, &c->prec_star, &c->prec_pos);
	}
	f = log_parse_len(f, &c->len);
	c->conv = *f;
	if (*f)
		f++;
	c->spec_len = (size_t)(f - c->start);
	c->ok = log_conv_classify(c);
	return f;
}

/* Give argument position pos (0: the next one) the va_arg type kind; -1 when that is
 * impossible (out of range, or already used with a type of another size). */
static int log_bind_slot(struct log_bind *b, int pos, enum log_arg_kind kind, bool is_unsigned)
{
	int slot = pos ? pos - 1 : b->next++;

	if (slot < 0 || slot >= LOG_ARGS_MAX)
		return -1;
	if (b->kind[slot] && b->kind[slot] != kind)
		return -1;
	if (!b->kind[slot]) {
		b->kind[slot] = (unsigned char)kind;
		b->is_unsigned[slot] = is_unsigned;
	}
	return slot;
}

/* Whether the conversion numbers its arguments (n$) or takes the next ones, as printf
 * requires one style per template; sets mode on first use. */
static bool log_bind_mode(struct log_bind *b, const struct log_conv *c)
{
	bool numbered = c->pos || (c->width_star && c->width_pos) || (c->prec_star && c->prec_pos);
	bool next = (c->kind != LOG_ARG_NONE && !c->pos) || (c->width_star && !c->width_pos) ||
	            (c->prec_star && !c->prec_pos);

	if (numbered && next)
		return false;
	if (numbered && b->mode != LOG_BIND_SEQUENTIAL)
		b->mode = LOG_BIND_POSITIONAL;
	else if (next && b->mode != LOG_BIND_POSITIONAL)
		b->mode = LOG_BIND_SEQUENTIAL;
	else if (numbered || next)
		return false;
	return true;
}

/* Assign the argument slots of one conversion, in printf's order: width, precision, value.
 * After an invalid conversion nothing is bound: its argument count is unknowable. */
static void log_conv_bind(struct log_bind *b, struct log_conv *c)
{
	bool uses_args = c->kind != LOG_ARG_NONE || c->width_star || c->prec_star;

	c->slot = c->width_slot = c->prec_slot = -1;
	if (c->ok && uses_args && (b->broken || !log_bind_mode(b, c)))
		c->ok = false;
	if (c->ok && c->width_star)
		c->ok = (c->width_slot = log_bind_slot(b, c->width_pos, LOG_ARG_INT, false)) >= 0;
	if (c->ok && c->prec_star)
		c->ok = (c->prec_slot = log_bind_slot(b, c->prec_pos, LOG_ARG_INT, false)) >= 0;
	if (c->ok && c->kind != LOG_ARG_NONE)
		c->ok = (c->slot = log_bind_slot(b, c->pos, c->kind, c->is_unsigned)) >= 0;
	if (!c->ok)
		b->broken = true;
}

/* Read one argument of the given type. %n's pointer is read as void *, like every other
 * pointer. */
static union log_arg log_arg_fetch(enum log_arg_kind kind, bool is_unsigned, va_list *ap)
{
	union log_arg v = {0};

	/* Branches that differ only in same-size types look like clones to clang-tidy. */
	/* NOLINTBEGIN(bugprone-branch-clone) */
	switch (kind) {
	case LOG_ARG_INT:
		v.u = is_unsigned ? va_arg(*ap, unsigned) : (uintmax_t)va_arg(*ap, int);
		break;
	case LOG_ARG_LONG:
		v.u = is_unsigned ? va_arg(*ap, unsigned long) : (uintmax_t)va_arg(*ap, long);
		break;
	case LOG_ARG_LLONG:
		v.u = is_unsigned ? va_arg(*ap, unsigned long long)
		                  : (uintmax_t)va_arg(*ap, long long);
		break;
	case LOG_ARG_INTMAX:
		v.u = is_unsigned ? va_arg(*ap, uintmax_t) : (uintmax_t)va_arg(*ap, intmax_t);
		break;
	case LOG_ARG_SIZE:
		v.u = is_unsigned ? va_arg(*ap, size_t) : (uintmax_t)va_arg(*ap, ssize_t);
		break;
	case LOG_ARG_PTRDIFF:
		v.u = is_unsigned ? va_arg(*ap, size_t) : (uintmax_t)va_arg(*ap, ptrdiff_t);
		break;
	case LOG_ARG_DOUBLE:
		v.d = va_arg(*ap, double);
		break;
	case LOG_ARG_LDOUBLE:
		v.ld = va_arg(*ap, long double);
		break;
	case LOG_ARG_WINT:
		v.wc = va_arg(*ap, wint_t);
		break;
	case LOG_ARG_STRING:
		v.s = va_arg(*ap, const char *);
		break;
	case LOG_ARG_WSTRING:
		v.ws = va_arg(*ap, const wchar_t *);
		break;
	case LOG_ARG_POINTER:
		v.p = va_arg(*ap, const void *);
		break;
	default:
		assert(!"unknown argument kind");
	}
	/* NOLINTEND(bugprone-branch-clone) */
	return v;
}

/* Bind every conversion of fmt, then read the arguments they locate, in order. */
static void log_args_read(struct log_args *a, const char *fmt, va_list ap)
{
	struct log_bind bind = {0};
	struct log_conv c;
	va_list aq;

	for (const char *p = fmt; p && (p = strchr(p, '%'));) {
		p = log_conv_parse(p, &c);
		log_conv_bind(&bind, &c);
	}
	va_copy(aq, ap);
	/* A gap (an unused n$) stops the reading: the type of what is in it is unknown. */
	for (a->n = 0; a->n < LOG_ARGS_MAX && bind.kind[a->n]; a->n++)
		a->v[a->n] = log_arg_fetch(bind.kind[a->n], bind.is_unsigned[a->n], &aq);
	va_end(aq);
}

/* An integer argument cut to the conversion's length modifier, as printf does, signed. */
static intmax_t log_int_signed(uintmax_t u, enum log_len len)
{
	switch (len) {
	case LOG_LEN_HH:
		return (signed char)u;
	case LOG_LEN_H:
		return (short)u;
	case LOG_LEN_NONE:
		return (int)u;
	case LOG_LEN_L:
		return (long)u;
	case LOG_LEN_Z:
		return (ssize_t)u;
	case LOG_LEN_T:
		return (ptrdiff_t)u;
	default:
		return (intmax_t)u;
	}
}

/* An integer argument cut to the conversion's length modifier, as printf does, unsigned. */
static uintmax_t log_int_unsigned(uintmax_t u, enum log_len len)
{
	switch (len) {
	case LOG_LEN_HH:
		return (unsigned char)u;
	case LOG_LEN_H:
		return (unsigned short)u;
	case LOG_LEN_NONE:
		return (unsigned)u;
	case LOG_LEN_L:
		return (unsigned long)u;
	case LOG_LEN_Z:
	case LOG_LEN_T:
		return (size_t)u;
	default:
		return u;
	}
}

/* A width or precision, from the template or its int argument, at most LOG_VALUE_MAX;
 * a negative argument width means '-', a negative argument precision means none. */
static int log_conv_amount(const struct log_args *a, int value, int slot, bool is_width,
                           unsigned *flags)
{
	if (slot >= 0) {
		value = (int)a->v[slot].u;
		if (value < 0 && is_width) {
			*flags |= 1u; /* LOG_FLAGS[0], '-' */
			value = value == INT_MIN ? INT_MAX : -value;
		}
	}
	return value > LOG_VALUE_MAX ? LOG_VALUE_MAX : value;
}

/* The conversion character handed to snprintf: %C is %lc, %S is %ls, %m is %s of strerror. */
static char log_conv_char(char conv)
{
	switch (conv) {
	case 'C':
		return 'c';
	case 'S':
	case 'm':
		return 's';
	default:
		return conv;
	}
}

/* Write a single-conversion printf format for c into spec (32 bytes), with its width and
 * precision spelled out, integers widened to j and %m turned into %s. */
static void log_conv_spec(const struct log_conv *c, const struct log_args *a, size_t room,
                          char *spec)
{
	unsigned flags = c->flags;
	int width = log_conv_amount(a, c->width, c->width_slot, true, &flags);
	int prec = log_conv_amount(a, c->prec, c->prec_slot, false, &flags);
	const char *len = "";
	size_t n = 0;
	bool is_string = c->kind == LOG_ARG_STRING || c->kind == LOG_ARG_WSTRING || c->conv == 'm';

	spec[n++] = '%';
	for (size_t i = 0; i < strlen(LOG_FLAGS); i++)
		if (flags & (1u << i))
			spec[n++] = LOG_FLAGS[i];
	if (width >= 0)
		n += (size_t)snprintf(spec + n, 8, "%d", width);
	/* A string is read no further than the buffer can show: no strlen of a huge one. */
	if (is_string && (prec < 0 || (size_t)prec > room))
		prec = (int)room;
	if (prec >= 0)
		n += (size_t)snprintf(spec + n, 8, ".%d", prec);
	if (c->is_int)
		len = "j";
	else if (c->kind == LOG_ARG_LDOUBLE)
		len = "L";
	else if (c->kind == LOG_ARG_WINT || c->kind == LOG_ARG_WSTRING)
		len = "l";
	snprintf(spec + n, 32 - n, "%s%c", len, log_conv_char(c->conv));
}

/* The one place a format is not a literal: spec is rebuilt from a conversion the compiler has
 * already checked against its argument in the caller's template (log_event is _printf_). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

/* snprintf one conversion with the argument's type; the format is from log_conv_spec. */
static int log_conv_snprintf(const struct log_conv *c, const union log_arg *v, const char *spec,
                             int errno_value, char *out, size_t size)
{
	char eb[128];

	if (c->conv == 'm')
		return snprintf(out, size, spec, strerror_r(errno_value, eb, sizeof(eb)));
	if (c->is_int && c->is_unsigned)
		return snprintf(out, size, spec, log_int_unsigned(v->u, c->len));
	if (c->is_int)
		return snprintf(out, size, spec, log_int_signed(v->u, c->len));
	switch (c->kind) {
	case LOG_ARG_INT:
		return snprintf(out, size, spec, (int)v->u);
	case LOG_ARG_DOUBLE:
		return snprintf(out, size, spec, v->d);
	case LOG_ARG_LDOUBLE:
		return snprintf(out, size, spec, v->ld);
	case LOG_ARG_WINT:
		return snprintf(out, size, spec, v->wc);
	case LOG_ARG_STRING:
		return snprintf(out, size, spec, v->s ? v->s : "");
	case LOG_ARG_WSTRING:
		return snprintf(out, size, spec, v->ws ? v->ws : L"");
	case LOG_ARG_POINTER:
		return snprintf(out, size, spec, v->p);
	default:
		return -1;
	}
}
#pragma GCC diagnostic pop

/* Drop a UTF-8 sequence cut short at the end of s[0, n); returns the new length. */
static size_t log_utf8_trim(char *s, size_t n)
{
	size_t i = n, need;
	unsigned char lead;

	while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0 || (unsigned char)s[i - 1] < 0xc0)
		return n;
	lead = (unsigned char)s[i - 1];
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	if (n - (i - 1) >= need)
		return n;
	s[i - 1] = '\0';
	return i - 1;
}

/* Format one conversion into out (size >= 1); returns the bytes written. A conversion that
 * is invalid or whose argument could not be read is written as it stands in the template. */
static size_t log_conv_format(const struct log_conv *c, const struct log_args *a, int errno_value,
                              char *out, size_t size)
{
	static const union log_arg none; /* for %m, which takes no argument */
	char spec[32];
	size_t n;
	int r;

	out[0] = '\0';
	if (!c->ok || c->slot >= a->n || c->width_slot >= a->n || c->prec_slot >= a->n) {
		snprintf(out, size, "%.*s", (int)c->spec_len, c->start);
		return strlen(out);
	}
	if (c->conv == 'n') /* never written through */
		return 0;
	if (c->conv == '%') {
		snprintf(out, size, "%%");
		return strlen(out);
	}
	log_conv_spec(c, a, size - 1, spec);
	r = log_conv_snprintf(c, c->slot >= 0 ? &a->v[c->slot] : &none, spec, errno_value, out,
	                      size);
	/* On failure (a wide character the locale cannot encode) the value is empty. */
	if (r < 0)
		out[0] = '\0';
	/* strlen, not r: the output may hold a NUL from %c. A full buffer was probably cut
	 * (a string's precision is capped at it, so r does not say). */
	n = strlen(out);
	return n + 1 == size ? log_utf8_trim(out, n) : n;
}

/* Skip a key (up to '=', ' ' or the end), binding its conversions, which are not printed;
 * returns the end. */
static const char *log_skip_key(const char *p, struct log_bind *bind)
{
	struct log_conv c;

	while (*p && *p != ' ' && *p != '=') {
		if (*p != '%') {
			p++;
			continue;
		}
		p = log_conv_parse(p, &c);
		log_conv_bind(bind, &c);
	}
	return p;
}

/* Format a value (text and conversions up to the next ' ') into value; returns the end.
 * *numeric is whether it ends with a number conversion, as JSON may leave it unquoted. */
static const char *log_format_value(const char *p, const struct log_args *a, struct log_bind *bind,
                                    int errno_value, char *value, bool *numeric)
{
	struct log_conv c;
	size_t n = 0;

	value[0] = '\0';
	*numeric = false;
	while (*p && *p != ' ') {
		if (*p != '%') {
			if (n < LOG_VALUE_MAX - 1)
				value[n++] = *p;
			value[n] = '\0';
			p++;
			*numeric = false;
			continue;
		}
		p = log_conv_parse(p, &c);
		log_conv_bind(bind, &c);
		n += log_conv_format(&c, a, errno_value, value + n, LOG_VALUE_MAX - n);
		*numeric = c.ok && c.conv && strchr("diueEfFgG", c.conv);
	}
	return p;
}

/* Walk a "k=%s k2=%d" template, emitting escaped fields. A word without '=' is dropped;
 * conversions outside values (in keys, in dropped words) still take their arguments. */
static void log_format_fields(struct log_buf *b, const struct log_line *l, const struct log_args *a)
{
	struct log_bind bind = {0};
	char value[LOG_VALUE_MAX];
	const char *p = l->fmt, *key;
	size_t keylen;
	bool numeric;

	while (p && *p) {
		if (*p == ' ') {
			p++;
			continue;
		}
		key = p;
		p = log_skip_key(p, &bind);
		if (*p != '=')
			continue;
		keylen = (size_t)(p - key);
		p = log_format_value(p + 1, a, &bind, l->errno_value, value, &numeric);
		lb_field(b, l->format, key, keylen, value, numeric);
	}
}

/* Format one event line into buf (no trailing newline); returns its length. The err field
 * and the JSON closing brace have their room set aside first, so they survive a cut. */
static size_t log_line_format(char *buf, size_t size, const struct log_line *l, va_list ap)
{
	struct log_buf b = {buf, 0, size, l->format == LOG_FORMAT_JSON ? 1 : 0, false};
	char ts[40], errf[256];
	struct log_buf eb = {errf, 0, sizeof(errf), 0, false};
	struct log_args a;
	time_t secs = (time_t)(l->now_ms / 1000);
	struct tm tm;

	assert(size > 0);
	buf[0] = errf[0] = '\0';
	log_args_read(&a, l->fmt, ap);
	if (l->err) {
		lb_field(&eb, l->format, "err", 3, l->err, false);
		b.reserve += eb.len;
	}
	gmtime_r(&secs, &tm);
	size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + tl, sizeof(ts) - tl, ".%03lldZ", l->now_ms % 1000);

	if (l->format == LOG_FORMAT_JSON) {
		lb_put(&b, "{\"ts\":", 6);
		(void)lb_put_quoted(&b, ts, strlen(ts));
	} else {
		lb_put(&b, "ts=", 3);
		lb_put(&b, ts, strlen(ts));
	}
	lb_field(&b, l->format, "level", 5, log_level_to_string(l->level), false);
	lb_field(&b, l->format, "svc", 3, log_state.svc, false);
	lb_field(&b, l->format, "event", 5, l->event, false);
	log_format_fields(&b, l, &a);
	b.reserve = 0;
	lb_put(&b, errf, eb.len);
	if (l->format == LOG_FORMAT_JSON)
		lb_put(&b, "}", 1);
	return b.len;
}

/* Format one event line into buf (no trailing newline); %m prints errno's message. */
size_t log_format_line(char *buf, size_t size, enum log_format format, long long now_ms,
                       enum log_level level, const char *event, const char *fmt, va_list ap)
{
	struct log_line l = {format, now_ms, level, event, fmt, errno, NULL};

	return log_line_format(buf, size, &l, ap);
}

/* Current wall-clock time in milliseconds. */
static long long log_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Format and write one line with a single write(2); leaves errno as it was. */
static void log_vevent(enum log_level level, const char *event, const char *fmt, va_list ap,
                       int errno_value, const char *err)
{
	int saved_errno = errno;
	char line[8192];
	struct log_line l = {log_state.format, log_now_ms(), level, event, fmt, errno_value, err};
	size_t n = log_line_format(line, sizeof(line) - 1, &l, ap);

	line[n++] = '\n';
	if (log_state.out) {
		fwrite(line, 1, n, log_state.out);
		fflush(log_state.out);
	} else {
		(void)!write(STDERR_FILENO, line, n);
	}
	errno = saved_errno;
}

/* Log one event if its level is enabled. */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	int errno_value = errno;
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vevent(level, event, fmt, ap, errno_value, NULL);
	va_end(ap);
}

/* Log an error event with err=<strerror> and return r; %m prints the same message. */
int log_error_errno(int r, const char *event, const char *fmt, ...)
{
	int errno_value = r < 0 ? -r : r;
	va_list ap;
	char eb[128];

	if (!log_enabled(LOG_LEVEL_ERROR))
		return r;
	va_start(ap, fmt);
	log_vevent(LOG_LEVEL_ERROR, event, fmt, ap, errno_value,
	           strerror_r(errno_value, eb, sizeof(eb)));
	va_end(ap);
	return r;
}
