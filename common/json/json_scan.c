/* Tree-free JSON: an RFC 8259 check and an RFC 6901 scalar lookup in one pass over the bytes. */
#include "json_scan.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static const char reason_eof[] = "unexpected end of input";

/* A cursor over the body and, once something is wrong, where and why. */
struct scan {
	const unsigned char *start, *p, *end;
	const unsigned char *err; /* the offending byte (end: the input stopped short) */
	const char *reason;       /* static text */
};

/* Where json_scan_pointer() found its scalar: [at, end) of the body; at is NULL for none. */
struct found {
	const unsigned char *at, *end;
};

/* Start a cursor; a NULL buffer of length 0 is an empty body. */
static void scan_init(struct scan *s, const void *buf, size_t len)
{
	static const unsigned char empty[1];

	s->start = s->p = buf ? buf : empty;
	s->end = s->start + (buf ? len : 0);
	s->err = NULL;
	s->reason = NULL;
}

/* Record the first error at byte at (past the end: the input ended early); -EBADMSG. */
static int scan_fail(struct scan *s, const unsigned char *at, const char *reason)
{
	s->err = at < s->end ? at : s->end;
	s->reason = at < s->end ? reason : reason_eof;
	return -EBADMSG;
}

/* Skip JSON whitespace: space, tab, line feed, carriage return. */
static inline void scan_ws(struct scan *s)
{
	const unsigned char *p = s->p;

	while (p < s->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	s->p = p;
}

/* Length of the valid multi-byte UTF-8 sequence at p (p[0] >= 0x80), or 0 when it is not one:
 * overlongs, UTF-16 surrogates, code points above U+10FFFF and truncated sequences are not. */
static inline size_t utf8_seq_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80; /* shorter forms are overlong */
		hi = c == 0xed ? 0x9f : 0xbf; /* U+D800..U+DFFF are surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Whether any of 8 string bytes needs a closer look: below 0x20, '"', '\\' or not ASCII. */
static inline bool word_special(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');

	return (((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | w) & HIGHS;
}

/* Whether c is a string byte that needs no closer look. */
static inline bool byte_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* The value of four hex digits at p, or -1 when p has fewer before end. */
static int hex4(const unsigned char *p, const unsigned char *end)
{
	int v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i], l = c | 0x20;

		if (c >= '0' && c <= '9')
			v = v << 4 | (c - '0');
		else if (l >= 'a' && l <= 'f')
			v = v << 4 | (l - 'a' + 10);
		else
			return -1;
	}
	return v;
}

/* Decode the \u escape at p (a backslash): its length (6, or 12 for a surrogate pair) and the
 * code point, or 0 and a reason. */
static size_t escape_read_u(const unsigned char *p, const unsigned char *end, uint32_t *ret_cp,
                            const char **ret_reason)
{
	int hi = hex4(p + 2, end), lo;

	*ret_reason = "\\u must be followed by four hex digits";
	if (hi < 0)
		return 0;
	*ret_reason = "\\u0000 is not allowed";
	if (hi == 0)
		return 0;
	*ret_reason = "unpaired UTF-16 surrogate in \\u escape";
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return 0;
	if (hi < 0xd800 || hi > 0xdbff) {
		*ret_cp = (uint32_t)hi;
		return 6;
	}
	if (end - p < 8 || p[6] != '\\' || p[7] != 'u')
		return 0;
	lo = hex4(p + 8, end);
	if (lo < 0xdc00 || lo > 0xdfff)
		return 0;
	*ret_cp = 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
	return 12;
}

/* Decode the escape at p (a backslash): its length and code point, or 0 and a reason. */
static size_t escape_read(const unsigned char *p, const unsigned char *end, uint32_t *ret_cp,
                          const char **ret_reason)
{
	static const char in[] = "\"\\/bfnrt", out[] = "\"\\/\b\f\n\r\t";
	const char *q;

	if (end - p < 2) {
		*ret_reason = reason_eof;
		return 0;
	}
	if (p[1] == 'u')
		return escape_read_u(p, end, ret_cp, ret_reason);
	q = p[1] ? strchr(in, p[1]) : NULL;
	if (!q) {
		*ret_reason = "invalid escape";
		return 0;
	}
	*ret_cp = (unsigned char)out[q - in];
	return 2;
}

/* Write code point cp as UTF-8 to out; returns the number of bytes (1 to 4). */
static size_t utf8_encode(uint32_t cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Skip the string starting at s->p (a '"'), checking it; s->p ends after the closing quote.
 * Plain ASCII runs are skipped eight bytes at a time. */
static int scan_string(struct scan *s)
{
	const unsigned char *p = s->p + 1, *end = s->end;
	const char *reason;
	uint32_t cp;
	size_t n;

	for (;;) {
		uint64_t w;

		while (end - p >= 8 && (memcpy(&w, p, 8), !word_special(w)))
			p += 8;
		while (p < end && byte_plain(*p))
			p++;
		if (p >= end)
			return scan_fail(s, end, reason_eof);
		if (*p == '"')
			break;
		if (*p == '\\') {
			n = escape_read(p, end, &cp, &reason);
			if (!n)
				return scan_fail(s, p, reason);
		} else if (*p < 0x20) {
			return scan_fail(s, p, "control character in string (must be escaped)");
		} else {
			n = utf8_seq_len(p, end);
			if (!n)
				return scan_fail(s, p, "invalid UTF-8");
		}
		p += n;
	}
	s->p = p + 1;
	return 0;
}

/* Skip a run of decimal digits at p; returns the first byte after them. */
static inline const unsigned char *skip_digits(const unsigned char *p, const unsigned char *end)
{
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p;
}

static const char reason_number_range[] =
    "number out of range (PostgreSQL's jsonb holds at most 131072 digits before the decimal "
    "point and 16383 after it)";

/* The exponent digits [p, end) as a number, saturated at JSON_SCAN_NUMBER_MAX_EXPONENT + 1. */
static long long exponent_value(const unsigned char *p, const unsigned char *end)
{
	long long v = 0;

	for (; p < end; p++) {
		v = v * 10 + (*p - '0');
		if (v > JSON_SCAN_NUMBER_MAX_EXPONENT)
			return JSON_SCAN_NUMBER_MAX_EXPONENT + 1;
	}
	return v;
}

/* Whether a number PostgreSQL's numeric (so jsonb) can hold: the integer digits [ip, ie), the
 * fraction digits [fp, fe) (ie == fp... when there is no fraction) and the exponent exp.
 * PostgreSQL refuses an exponent of 2^30 - 1 or more in size, more than 16383 digits after the
 * decimal point once the exponent is applied (trailing zeros count, even for zero), and a most
 * significant digit above 10^131071. */
static bool number_in_range(const unsigned char *ip, const unsigned char *ie,
                            const unsigned char *fp, const unsigned char *fe, long long exp)
{
	long long scale = (fe - fp) - exp, weight;
	const unsigned char *q;

	if (exp > JSON_SCAN_NUMBER_MAX_EXPONENT || exp < -JSON_SCAN_NUMBER_MAX_EXPONENT ||
	    scale > JSON_SCAN_NUMBER_MAX_SCALE)
		return false;
	if (*ip != '0') /* JSON has no leading zeros: the first digit is the most significant */
		return (ie - ip) - 1 + exp <= JSON_SCAN_NUMBER_MAX_WEIGHT;
	for (q = fp; q < fe && *q == '0'; q++)
		;
	if (q == fe)
		return true; /* zero: only its scale matters */
	weight = -(q - fp) - 1 + exp;
	return weight <= JSON_SCAN_NUMBER_MAX_WEIGHT;
}

/* Skip the number at s->p: RFC 8259 syntax, within the range PostgreSQL's jsonb can hold (a
 * stored body must always be readable as jsonb). */
static int scan_number(struct scan *s)
{
	const unsigned char *p = s->p, *end = s->end, *q, *ip, *ie, *fp, *fe;
	long long exp = 0;
	bool negative_exp = false;

	if (*p == '-')
		p++;
	ip = p;
	if (p < end && *p == '0') {
		p++;
		if (p < end && *p >= '0' && *p <= '9')
			return scan_fail(s, p, "leading zeros are not allowed");
	} else {
		q = skip_digits(p, end);
		if (q == p)
			return scan_fail(s, p, "expected a digit");
		p = q;
	}
	ie = fp = fe = p;
	if (p < end && *p == '.') {
		fp = ++p;
		q = skip_digits(p, end);
		if (q == p)
			return scan_fail(s, p, "expected a digit after '.'");
		fe = p = q;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			negative_exp = *p++ == '-';
		q = skip_digits(p, end);
		if (q == p)
			return scan_fail(s, p, "expected a digit in the exponent");
		exp = exponent_value(p, q);
		p = q;
	}
	if (!number_in_range(ip, ie, fp, fe, negative_exp ? -exp : exp))
		return scan_fail(s, s->p, reason_number_range);
	s->p = p;
	return 0;
}

/* Skip the literal word (true, false, null) that must be at s->p. */
static int scan_literal(struct scan *s, const char *word, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s->p + i >= s->end || s->p[i] != (unsigned char)word[i])
			return scan_fail(s, s->p + i, "expected a value");
	s->p += n;
	return 0;
}

/* Skip the string, number or literal at s->p (not whitespace). */
static int scan_scalar(struct scan *s)
{
	switch (*s->p) {
	case '"':
		return scan_string(s);
	case 't':
		return scan_literal(s, "true", 4);
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return scan_number(s);
		return scan_fail(s, s->p, "expected a value");
	}
}

/* Skip an object key and its ':' (whitespace first); [*ret_at, *ret_end) is the key's raw
 * text between its quotes. */
static int scan_key(struct scan *s, const unsigned char **ret_at, const unsigned char **ret_end)
{
	const unsigned char *at;
	int r;

	scan_ws(s);
	*ret_at = *ret_end = s->p; /* an empty key until it is read */
	if (s->p >= s->end || *s->p != '"')
		return scan_fail(s, s->p, "expected a string as object key");
	at = s->p;
	r = scan_string(s);
	if (r < 0)
		return r;
	*ret_at = at + 1;
	*ret_end = s->p - 1;
	scan_ws(s);
	if (s->p >= s->end || *s->p != ':')
		return scan_fail(s, s->p, "expected ':' after object key");
	s->p++;
	return 0;
}

/* Whether open container number n (from 1) is an object. */
static inline bool kind_is_object(const uint64_t *kinds, unsigned n)
{
	return kinds[(n - 1) / 64] >> ((n - 1) % 64) & 1;
}

/* Open the container at s->p as number *n + 1. Returns 1 when a member follows (its key is
 * consumed), 0 when the container was empty and is already closed. */
static int scan_open(struct scan *s, uint64_t *kinds, unsigned *n)
{
	const unsigned char *k, *kend;
	bool obj = *s->p == '{';
	int r;

	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == (obj ? '}' : ']')) {
		s->p++;
		return 0;
	}
	(*n)++;
	if (obj)
		kinds[(*n - 1) / 64] |= 1ULL << ((*n - 1) % 64);
	else
		kinds[(*n - 1) / 64] &= ~(1ULL << ((*n - 1) % 64));
	if (!obj)
		return 1;
	r = scan_key(s, &k, &kend);
	return r < 0 ? r : 1;
}

/* After a value: take ',' (and the next key) or close containers. Returns 1 when another value
 * follows, 0 once the last of the *n open containers has closed. */
static int scan_after(struct scan *s, const uint64_t *kinds, unsigned *n)
{
	const unsigned char *k, *kend;

	while (*n > 0) {
		bool obj = kind_is_object(kinds, *n);
		int r;

		scan_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			if (!obj)
				return 1;
			r = scan_key(s, &k, &kend);
			return r < 0 ? r : 1;
		}
		if (s->p >= s->end || *s->p != (obj ? '}' : ']'))
			return scan_fail(s, s->p,
			                 obj ? "expected ',' or '}' after object member"
			                     : "expected ',' or ']' after array element");
		s->p++;
		(*n)--;
	}
	return 0;
}

/* Skip and check the value at s->p (whitespace first) at nesting level depth (1: top level).
 * Iterative: a bit per open container says object or array. */
static int scan_value(struct scan *s, unsigned depth)
{
	uint64_t kinds[(JSON_SCAN_MAX_DEPTH + 63) / 64] = {0}; /* a bit per level, rounded up */
	unsigned n = 0;
	int r;

	for (;;) {
		scan_ws(s);
		if (s->p >= s->end)
			return scan_fail(s, s->p, reason_eof);
		if (depth + n > JSON_SCAN_MAX_DEPTH)
			return scan_fail(s, s->p, "nesting deeper than 2048 levels");
		if (*s->p == '{' || *s->p == '[') {
			r = scan_open(s, kinds, &n);
			if (r > 0)
				continue;
		} else {
			r = scan_scalar(s);
		}
		if (r < 0)
			return r;
		r = scan_after(s, kinds, &n);
		if (r <= 0)
			return r;
	}
}

/* Whether the raw key [k, kend) (JSON escapes) equals the raw pointer token t of tlen bytes
 * (~0 and ~1 escapes, already known to be well formed). */
static bool key_matches(const unsigned char *k, const unsigned char *kend, const char *t,
                        size_t tlen)
{
	const char *tend = t + tlen, *reason;
	unsigned char buf[4];
	size_t bi = 0, bn = 0;

	if (!memchr(k, '\\', (size_t)(kend - k)) && !memchr(t, '~', tlen))
		return (size_t)(kend - k) == tlen && memcmp(k, t, tlen) == 0;
	for (;;) {
		int kc, tc;
		uint32_t cp;

		if (bi == bn && k < kend && *k == '\\') {
			size_t used = escape_read(k, kend, &cp, &reason);

			assert(used > 0); /* the key was checked by scan_string() */
			k += used;
			bn = utf8_encode(cp, buf);
			bi = 0;
		}
		kc = bi < bn ? buf[bi++] : k < kend ? *k++ : -1;
		if (t < tend && *t == '~') {
			tc = t[1] == '0' ? '~' : '/';
			t += 2;
		} else {
			tc = t < tend ? (unsigned char)*t++ : -1;
		}
		if (kc != tc)
			return false;
		if (kc < 0)
			return true;
	}
}

/* Parse a raw pointer token of n bytes as an array index: decimal, no leading zero, no sign. */
static bool token_index(const char *t, size_t n, size_t *ret)
{
	size_t idx = 0;

	if (n == 0 || (t[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (t[i] < '0' || t[i] > '9' || idx > (SIZE_MAX - 9) / 10)
			return false;
		idx = idx * 10 + (size_t)(t[i] - '0');
	}
	*ret = idx;
	return true;
}

static int walk_value(struct scan *s, unsigned depth, const char *tok, struct found *f);

/* After a member or element: 1 when ',' follows, 0 at the closing bracket. */
static int walk_next(struct scan *s, bool obj)
{
	scan_ws(s);
	if (s->p < s->end && *s->p == ',') {
		s->p++;
		return 1;
	}
	if (s->p < s->end && *s->p == (obj ? '}' : ']')) {
		s->p++;
		return 0;
	}
	return scan_fail(s, s->p,
	                 obj ? "expected ',' or '}' after object member"
	                     : "expected ',' or ']' after array element");
}

/* Check the object at s->p, following the pointer into every member named by the token at
 * tok: a later duplicate restarts the search, so the last one wins. */
/* NOLINTNEXTLINE(misc-no-recursion): as deep as the pointer, at most JSON_SCAN_MAX_DEPTH */
static int walk_object(struct scan *s, unsigned depth, const char *tok, struct found *f)
{
	const unsigned char *k, *kend;
	size_t tlen = strcspn(tok + 1, "/");
	int r;

	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	do {
		r = scan_key(s, &k, &kend);
		if (r < 0)
			return r;
		if (key_matches(k, kend, tok + 1, tlen)) {
			f->at = NULL;
			r = walk_value(s, depth + 1, tok + 1 + tlen, f);
		} else {
			r = scan_value(s, depth + 1);
		}
		if (r < 0)
			return r;
		r = walk_next(s, true);
	} while (r > 0);
	return r;
}

/* Check the array at s->p, following the pointer into the element the token at tok indexes. */
/* NOLINTNEXTLINE(misc-no-recursion): as deep as the pointer, at most JSON_SCAN_MAX_DEPTH */
static int walk_array(struct scan *s, unsigned depth, const char *tok, struct found *f)
{
	size_t tlen = strcspn(tok + 1, "/"), idx = 0, i = 0;
	bool indexed = token_index(tok + 1, tlen, &idx);
	int r;

	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	do {
		if (indexed && i++ == idx)
			r = walk_value(s, depth + 1, tok + 1 + tlen, f);
		else
			r = scan_value(s, depth + 1);
		if (r < 0)
			return r;
		r = walk_next(s, false);
	} while (r > 0);
	return r;
}

/* Check the value at s->p (whitespace first) at level depth while following the rest of the
 * pointer, tok ('/' and the next token, or "" when this value is the target). */
/* NOLINTNEXTLINE(misc-no-recursion): as deep as the pointer, at most JSON_SCAN_MAX_DEPTH */
static int walk_value(struct scan *s, unsigned depth, const char *tok, struct found *f)
{
	const unsigned char *at;
	int r;

	scan_ws(s);
	if (s->p >= s->end)
		return scan_fail(s, s->p, reason_eof);
	if (depth > JSON_SCAN_MAX_DEPTH)
		return scan_fail(s, s->p, "nesting deeper than 2048 levels");
	at = s->p;
	if (*tok && *at == '{')
		return walk_object(s, depth, tok, f);
	if (*tok && *at == '[')
		return walk_array(s, depth, tok, f);
	if (*at == '{' || *at == '[')
		return scan_value(s, depth);
	r = scan_scalar(s);
	/* The target, unless it is null; a scalar on the way means the pointer leads nowhere. */
	if (r == 0 && !*tok && *at != 'n')
		*f = (struct found){at, s->p};
	return r;
}

/* Check a whole body; with tok, also follow that pointer (already validated) into *f. */
static int scan_document(struct scan *s, const char *tok, struct found *f)
{
	int r;

	scan_ws(s);
	if (s->end - s->p >= 3 && memcmp(s->p, "\xef\xbb\xbf", 3) == 0)
		return scan_fail(s, s->p, "byte order mark is not allowed");
	if (s->p < s->end && *s->p != '{' && *s->p != '[')
		return scan_fail(s, s->p, "top level must be an object or array");
	r = tok ? walk_value(s, 1, tok, f) : scan_value(s, 1);
	if (r < 0)
		return r;
	scan_ws(s);
	if (s->p < s->end)
		return scan_fail(s, s->p, "trailing data after the top-level value");
	return 0;
}

/* Fill reterr with the positioned message for the error s recorded. */
static void scan_error_format(const struct scan *s, struct json_error *reterr)
{
	size_t line = 1, column = 1;

	if (!reterr)
		return;
	for (const unsigned char *q = s->start; q < s->err; q++) {
		if (*q == '\n') {
			line++;
			column = 1;
		} else if ((*q & 0xc0) != 0x80) {
			column++;
		}
	}
	snprintf(reterr->text, sizeof(reterr->text), "malformed JSON at line %zu column %zu: %s",
	         line, column, s->reason);
}

/* Check that buf is exactly one JSON object or array. */
int json_scan_check(const void *buf, size_t len, struct json_error *reterr)
{
	struct scan s;
	int r;

	scan_init(&s, buf, len);
	r = scan_document(&s, NULL, NULL);
	if (r < 0)
		scan_error_format(&s, reterr);
	return r;
}

/* Whether pointer is well formed: a leading '/' and every '~' followed by '0' or '1'. */
static bool pointer_valid(const char *pointer)
{
	if (*pointer != '/')
		return false;
	for (const char *t = strchr(pointer, '~'); t; t = strchr(t + 1, '~'))
		if (t[1] != '0' && t[1] != '1')
			return false;
	return true;
}

/* A new C string of the raw JSON string [p, end) with its escapes decoded; NULL on OOM. */
static char *string_unescape(const unsigned char *p, const unsigned char *end)
{
	char *out = malloc((size_t)(end - p) + 1), *o = out;
	const char *reason;
	uint32_t cp;

	if (!out)
		return NULL;
	while (p < end) {
		const unsigned char *bs = memchr(p, '\\', (size_t)(end - p));
		size_t run = (size_t)((bs ? bs : end) - p), used;

		memcpy(o, p, run);
		o += run;
		p += run;
		if (!bs)
			break;
		used = escape_read(p, end, &cp, &reason);
		assert(used > 0); /* checked by scan_string() */
		o += utf8_encode(cp, (unsigned char *)o);
		p += used;
	}
	*o = '\0';
	return out;
}

/* The scalar at an RFC 6901 pointer as a new string; NULL when there is none. */
int json_scan_pointer(const void *buf, size_t len, const char *pointer, char **ret)
{
	struct found f = {NULL, NULL};
	struct scan s;
	char *key;
	int r;

	scan_init(&s, buf, len);
	/* A malformed pointer finds nothing, but the body is still checked. */
	r = scan_document(&s, pointer && pointer_valid(pointer) ? pointer : "", &f);
	if (r < 0)
		return r;
	if (!f.at) {
		*ret = NULL;
		return 0;
	}
	if (*f.at == '"')
		key = string_unescape(f.at + 1, f.end - 1);
	else
		key = strndup((const char *)f.at, (size_t)(f.end - f.at));
	if (!key)
		return -ENOMEM;
	*ret = key;
	return 0;
}

/* Each member or element of the top level, in order, as written. */
int json_scan_each(const void *buf, size_t len, json_scan_each_fn fn, void *userdata)
{
	struct scan s;
	bool obj;
	int r;

	scan_init(&s, buf, len);
	scan_ws(&s);
	if (s.p >= s.end || (*s.p != '{' && *s.p != '['))
		return -EBADMSG;
	obj = *s.p == '{';
	s.p++;
	scan_ws(&s);
	if (s.p < s.end && *s.p == (obj ? '}' : ']'))
		return 0;
	do {
		const unsigned char *k = NULL, *kend = NULL, *at;
		char *key = NULL;

		if (obj) {
			r = scan_key(&s, &k, &kend);
			if (r < 0)
				return r;
			key = string_unescape(k, kend);
			if (!key)
				return -ENOMEM;
		}
		scan_ws(&s);
		at = s.p;
		r = scan_value(&s, 2);
		if (r >= 0)
			r = fn(userdata, key, at, (size_t)(s.p - at));
		free(key);
		if (r < 0)
			return r;
		r = walk_next(&s, obj);
	} while (r > 0);
	return r;
}

/* The next element of an array, from *pos (0: the start of the body). */
int json_scan_array_next(const void *buf, size_t len, size_t *pos, const void **ret_value,
                         size_t *ret_len)
{
	const unsigned char *at;
	struct scan s;
	int r;

	if (*pos > len)
		return -EBADMSG;
	scan_init(&s, buf, len);
	s.p = s.start + *pos;
	scan_ws(&s);
	if (s.p >= s.end)
		return -EBADMSG;
	if (*pos == 0) {
		if (*s.p != '[')
			return -EBADMSG;
		s.p++;
		scan_ws(&s);
		if (s.p < s.end && *s.p == ']') {
			*pos = (size_t)(s.p - s.start);
			return 0;
		}
	} else if (*s.p == ']') {
		return 0;
	} else if (*s.p == ',') {
		s.p++;
	} else {
		return -EBADMSG;
	}
	scan_ws(&s);
	at = s.p;
	r = scan_value(&s, 2);
	if (r < 0)
		return r;
	*ret_value = at;
	*ret_len = (size_t)(s.p - at);
	*pos = (size_t)(s.p - s.start);
	return 1;
}

/* Whether len bytes at buf are valid UTF-8. */
bool json_scan_utf8_valid(const void *buf, size_t len)
{
	const unsigned char *p = buf, *end;

	if (!buf)
		return true;
	end = p + len;
	while (p < end) {
		uint64_t w;
		size_t n;

		while (end - p >= 8 && (memcpy(&w, p, 8), !(w & HIGHS)))
			p += 8;
		if (p >= end)
			break;
		if (*p < 0x80) {
			p++;
			continue;
		}
		n = utf8_seq_len(p, end);
		if (!n)
			return false;
		p += n;
	}
	return true;
}
