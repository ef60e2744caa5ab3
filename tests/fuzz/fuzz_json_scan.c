/* Differential libFuzzer target for common/json/json_scan.c against jansson. The whole input is a
 * body. json_scan_check() must agree with json_loadb(flags 0), with two deliberate exceptions:
 * - jansson refuses numbers beyond 64 bits or a double, json_scan accepts them: each number
 *   jansson reports as an overflow is replaced by " 0e0 " (which cannot merge with its
 *   neighbours) until jansson stops complaining, and the verdicts are compared on that;
 * - jansson skips a NUL byte right after a number or literal, json_scan refuses every NUL:
 *   see LLVMFuzzerTestOneInput();
 * - json_scan refuses numbers PostgreSQL's jsonb cannot hold (more than 16383 digits after the
 *   decimal point, a leading digit above 10^131071, an exponent of 2^30 - 1 or more), some of
 *   which jansson reads as doubles: every such number outside a string (found by the tokenizer
 *   and range rule written out below, independently of json_scan) is replaced by " 0e0 " first;
 *   the original body must then be refused, and the verdicts are compared on the rest.
 * When both accept, a few pointers derived from a hash of the input walk jansson's tree
 * (sometimes off its edge, sometimes malformed), and json_scan_pointer() must match
 * json_scalar_to_string(json_pointer_get()) for strings, integers and booleans, read back the
 * same double for reals, and give NULL for the rest; json_scan_each() gives every member or
 * element as a value jansson reads, as many as jansson counts. Any disagreement aborts. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"
#include "json_scan.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a note on stderr. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "disagreement: %s (line %d)\n", #cond, __LINE__);          \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A growable copy of the body in which overflowing numbers are replaced. */
struct body {
	char *buf;
	size_t len;
};

/* Skip decimal digits from *i; whether there was at least one. */
static bool digits(const char *p, size_t n, size_t *i)
{
	size_t from = *i;

	while (*i < n && p[*i] >= '0' && p[*i] <= '9')
		(*i)++;
	return *i > from;
}

/* Whether [p, p + n) is exactly one JSON number (RFC 8259 grammar, written out here so the
 * harness does not lean on the code under test). */
static bool is_number(const char *p, size_t n)
{
	size_t i = 0;

	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (i >= n || p[i] < '1' || p[i] > '9' || !digits(p, n, &i))
		return false;
	if (i < n && p[i] == '.' && (i++, !digits(p, n, &i)))
		return false;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (!digits(p, n, &i))
			return false;
	}
	return i == n;
}

/* Replace the number that ends at byte end of b (jansson's error position), the longest suffix
 * of number characters before end that is a whole JSON number, by " 0e0 ": the spaces keep it
 * from merging with a neighbour ("-1-5e999"), the exponent with a following '.' or 'e'. */
static void replace_number(struct body *b, size_t end)
{
	size_t start = end, n;
	char *nb;

	while (start > 0 && b->buf[start - 1] && strchr("0123456789.eE+-", b->buf[start - 1]))
		start--;
	while (start < end && !is_number(b->buf + start, end - start))
		start++;
	CHECK(start < end);
	n = b->len - (end - start) + 5;
	nb = xmalloc(n + 1);
	memcpy(nb, b->buf, start);
	memcpy(nb + start, " 0e0 ", 5);
	memcpy(nb + start + 5, b->buf + end, b->len - end);
	free(b->buf);
	b->buf = nb;
	b->len = n;
}

/* Whether the JSON number [p, p + n) is one PostgreSQL's numeric holds, computed the plain way:
 * digits as written, the exponent saturated, then scale and leading-digit weight. */
static bool jsonb_number_ok(const char *p, size_t n)
{
	size_t i = 0, int_digits = 0, frac_digits = 0, lead = SIZE_MAX, pos = 0;
	long long exp = 0, scale, weight;
	bool neg = false;

	if (p[i] == '-')
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, pos++, int_digits++)
		if (p[i] != '0' && lead == SIZE_MAX)
			lead = pos;
	if (i < n && p[i] == '.')
		for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++, pos++, frac_digits++)
			if (p[i] != '0' && lead == SIZE_MAX)
				lead = pos;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (p[i] == '+' || p[i] == '-')
			neg = p[i++] == '-';
		for (; i < n; i++)
			exp = exp > 2000000000LL ? exp : exp * 10 + (p[i] - '0');
	}
	if (neg)
		exp = -exp;
	if (exp >= 1073741823LL || exp <= -1073741823LL)
		return false;
	scale = (long long)frac_digits - exp;
	if (scale > 16383)
		return false;
	if (lead == SIZE_MAX)
		return true;
	weight = (long long)int_digits - 1 - (long long)lead + exp;
	return weight <= 131071;
}

/* Replace every number outside a string that jsonb cannot hold by " 0e0 "; whether any was. */
static bool replace_jsonb_overflows(struct body *b)
{
	bool replaced = false;

	for (size_t i = 0; i < b->len; i++) {
		size_t j = i;

		if (b->buf[i] == '"') {
			for (i++; i < b->len && b->buf[i] != '"'; i++)
				if (b->buf[i] == '\\')
					i++;
			continue;
		}
		if (!strchr("-0123456789", b->buf[i]) || !b->buf[i])
			continue;
		while (j < b->len && b->buf[j] && strchr("0123456789.eE+-", b->buf[j]))
			j++;
		if (is_number(b->buf + i, j - i) && !jsonb_number_ok(b->buf + i, j - i)) {
			char *nb = xmalloc(b->len - (j - i) + 6);

			memcpy(nb, b->buf, i);
			memcpy(nb + i, " 0e0 ", 5);
			memcpy(nb + i + 5, b->buf + j, b->len - j);
			b->len = b->len - (j - i) + 5;
			free(b->buf);
			b->buf = nb;
			replaced = true;
			j = i + 5;
		}
		i = j - 1;
	}
	return replaced;
}

/* jansson's verdict on b after replacing every number it reports as an overflow; *ret_root
 * gets the tree when it accepts. Returns whether anything was replaced. */
static bool jansson_load(struct body *b, json_t **ret_root)
{
	bool replaced = false;
	json_error_t je;

	for (;;) {
		*ret_root = json_loadb(b->len ? b->buf : "", b->len, 0, &je);
		if (*ret_root || json_error_code(&je) != json_error_numeric_overflow)
			return replaced;
		replace_number(b, (size_t)je.position);
		replaced = true;
	}
}

/* Append the token for key (~ and / escaped) or index to a pointer being built. */
static void pointer_push(char **p, size_t *len, const char *key, size_t idx)
{
	char num[32];
	const char *k = key ? key : num;

	if (!key)
		snprintf(num, sizeof(num), "%zu", idx);
	*p = xrealloc(*p, *len + 2 * strlen(k) + 2);
	(*p)[(*len)++] = '/';
	for (; *k; k++) {
		if (*k == '~' || *k == '/') {
			(*p)[(*len)++] = '~';
			(*p)[(*len)++] = *k == '~' ? '0' : '1';
		} else {
			(*p)[(*len)++] = *k;
		}
	}
	(*p)[*len] = '\0';
}

/* A pointer into root chosen by the random state *rng; new string. */
static char *pointer_derive(const json_t *root, uint64_t *rng)
{
	char *p = xstrdup("");
	size_t len = 0;
	const json_t *v = root;

	while (v && (json_is_object(v) || json_is_array(v))) {
		*rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
		uint64_t r = *rng >> 33;
		size_t n = json_is_object(v) ? json_object_size(v) : json_array_size(v);
		size_t pick = (size_t)(r % (n + 1)); /* n: one past the end */

		if (r % 11 == 0)
			break; /* stop at a container */
		if (json_is_array(v)) {
			pointer_push(&p, &len, NULL, pick);
			v = json_array_get(v, pick);
			continue;
		}
		void *it = json_object_iter((json_t *)v);
		for (size_t i = 0; it && i < pick; i++)
			it = json_object_iter_next((json_t *)v, it);
		pointer_push(&p, &len, it ? json_object_iter_key(it) : "no~such/key", 0);
		v = it ? json_object_iter_value(it) : NULL;
	}
	if (*rng % 17 == 0 && len > 0)
		p[len - 1] = '~'; /* a malformed escape: nothing is found */
	return p;
}

/* json_scan_pointer() against jansson for one pointer. */
static void compare_pointer(const struct body *b, const json_t *root, const char *ptr)
{
	const json_t *v = json_pointer_get(root, ptr);
	_cleanup_free_ char *want = json_scalar_to_string(v);
	char *got = NULL;

	CHECK(json_scan_pointer(b->buf, b->len, ptr, &got) == 0);
	if (!want || json_is_null(v)) {
		CHECK(!got);
	} else if (json_is_real(v)) {
		CHECK(got && strtod(got, NULL) == json_real_value(v));
	} else if (json_is_integer(v) && strcmp(got ? got : "", "-0") == 0) {
		CHECK(json_integer_value(v) == 0);
	} else {
		CHECK(got && strcmp(got, want) == 0);
	}
	free(got);
}

/* json_scan_each(): each value it gives is itself one JSON value jansson reads. */
static int each_value(void *userdata, const char *key, const void *value, size_t len)
{
	json_t *v = json_loadb(value, len, JSON_DECODE_ANY, NULL);
	size_t *n = userdata;

	CHECK(v != NULL);
	json_decref(v);
	(*n)++;
	return 0;
}

/* json_scan_array_next() against jansson: an array's elements one call at a time, each one
 * value, as many as jansson reads, then the end again; an object is refused at once. */
static void compare_array_next(const struct body *b, const json_t *root)
{
	size_t n = 0, pos = 0, len;
	const void *v;
	int r;

	while ((r = json_scan_array_next(b->buf, b->len, &pos, &v, &len)) > 0) {
		json_t *e = json_loadb(v, len, JSON_DECODE_ANY, NULL);
		CHECK(e != NULL);
		json_decref(e);
		n++;
	}
	if (json_is_object(root)) {
		CHECK(r == -EBADMSG && n == 0);
		return;
	}
	CHECK(r == 0 && n == json_array_size(root));
	CHECK(json_scan_array_next(b->buf, b->len, &pos, &v, &len) == 0);
}

/* json_scan_each() against jansson: as many values as the array has elements (an object at
 * least as many as its distinct keys: jansson keeps the last of a repeated one). */
static void compare_each(const struct body *b, const json_t *root)
{
	size_t n = 0;

	CHECK(json_scan_each(b->buf, b->len, each_value, &n) == 0);
	CHECK(json_is_array(root) ? n == json_array_size(root) : n >= json_object_size(root));
	compare_array_next(b, root);
}

/* FNV-1a of the input, the seed for derived pointers. */
static uint64_t input_hash(const uint8_t *data, size_t size)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	return h;
}

/* Compare the verdicts on size bytes at data (no NUL bytes), then a few pointer lookups. */
static void compare(const uint8_t *data, size_t size, uint64_t rng)
{
	struct body in = {xmemdup(size ? (const void *)data : "", size ? size : 1), size};
	struct body b;
	json_auto_t *root = NULL;
	struct json_error e;
	char *got = NULL;
	int ours, theirs;
	bool replaced;

	if (replace_jsonb_overflows(&in))
		CHECK(json_scan_check(data, size, NULL) == -EBADMSG);
	ours = json_scan_check(in.buf, in.len, &e);
	CHECK(ours == 0 || ours == -EBADMSG);
	CHECK(ours == 0 || strncmp(e.text, "malformed JSON at line ", 23) == 0);
	CHECK(json_scan_check(in.buf, in.len, NULL) == ours);
	/* The lookup applies the same rules to the whole body. */
	CHECK(json_scan_pointer(in.buf, in.len, "/0", &got) == ours);
	free(got);
	b = (struct body){xmemdup(in.buf, in.len ? in.len : 1), in.len};
	replaced = jansson_load(&b, &root);
	theirs = root ? 0 : -EBADMSG;
	if (ours != theirs)
		fprintf(stderr, "json_scan %d, jansson %d%s\n", ours, theirs,
		        replaced ? " (numbers replaced)" : "");
	CHECK(ours == theirs);
	CHECK(!replaced || json_scan_check(b.buf, b.len, NULL) == ours);
	if (root)
		compare_each(&b, root);
	for (int i = 0; root && i < 4; i++) {
		_cleanup_free_ char *ptr = pointer_derive(root, &rng);

		compare_pointer(&b, root, ptr);
	}
	free(b.buf);
	free(in.buf);
}

/* A body with NUL bytes is never JSON. jansson accepts some, as it drops a NUL it pushes back
 * (after a number or literal: "[1\0]"), so it is compared on the body without them. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ uint8_t *stripped = NULL;
	size_t n = 0;

	if (!memchr(data, '\0', size)) {
		compare(data, size, input_hash(data, size));
		return 0;
	}
	CHECK(json_scan_check(data, size, NULL) == -EBADMSG);
	stripped = xmalloc(size);
	for (size_t i = 0; i < size; i++)
		if (data[i])
			stripped[n++] = data[i];
	compare(stripped, n, input_hash(data, size));
	return 0;
}
