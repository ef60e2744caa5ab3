/* JSON-Schema subset: a compile-time pass rejects anything outside the subset and compiles
 * every regular expression ("pattern" values, "patternProperties" names) with PCRE2, then
 * validation walks the (kept) schema document directly. The only module including pcre2.h. */
#include "schema.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* 8-bit code units: jansson strings are UTF-8. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "xalloc.h"

/* ECMA-262 (JSON Schema's regex dialect, draft 7 §4.3) as closely as PCRE2 10.42 gets:
 * - UTF: patterns and strings are sequences of code points; "." is one code point.
 * - No UCP: \d, \w and \b stay ASCII, as in ECMA-262 ([0-9], [A-Za-z0-9_]).
 * - DOLLAR_ENDONLY: "$" matches only at the very end (not before a final newline).
 * - ALT_BSUX + EXTRA_ALT_BSUX: \uhhhh and \u{h...} are code points, \x needs two hex digits.
 * - ALLOW_EMPTY_CLASS: "[]" matches nothing and "[^]" any code point.
 * - MATCH_UNSET_BACKREF: a backreference to a group that did not take part matches "".
 * - newline convention ANYCRLF: "." matches neither \r nor \n.
 * - NEVER_BACKSLASH_C: \C (one byte of a UTF-8 sequence) is refused.
 * Differences that remain are listed in docs/versori-sim.md (Variable schemas). */
#define PATTERN_OPTIONS                                                                            \
	(PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS |             \
	 PCRE2_MATCH_UNSET_BACKREF | PCRE2_NEVER_BACKSLASH_C)
/* Limits of one pattern and of one match: a hostile pattern fails its compilation or the
 * validation instead of hanging the caller. */
#define PATTERN_MAX_LENGTH     4096   /* code units */
#define PATTERN_MATCH_LIMIT    100000 /* calls of PCRE2's internal match(): backtracking steps */
#define PATTERN_DEPTH_LIMIT    10000  /* nested backtracking depth */
#define PATTERN_HEAP_LIMIT_KIB 8192   /* backtracking memory */

/* One compiled regular expression. */
struct pattern {
	pcre2_code *code;
};

struct schema {
	json_t *doc;              /* one reference, taken by schema_compile() */
	json_t *pattern_index;    /* pattern source -> its index in patterns (JSON integer) */
	struct pattern *patterns; /* every distinct regular expression of doc, compiled */
	size_t n_patterns;
	pcre2_match_context *limits; /* match, depth and heap limits of every match */
};

/* A schema pointer or instance path being built while descending; truncated when too long. */
struct path {
	char buf[256];
	size_t len;
};

/* Compilation in progress: the pointer, the error to fill, and where patterns go. */
struct cwalk {
	struct path p;
	struct schema_error *e;
	struct schema *s;
	pcre2_compile_context *ctx;
};

/* Validation in progress: the instance path, the error to fill, the compiled patterns and the
 * match data their matches share. */
struct vwalk {
	struct path p;
	struct schema_error *e;
	const struct schema *s;
	pcre2_match_data *md;
	const json_t *no_required; /* the schema node whose "required" is not enforced, or NULL */
};

typedef int (*keyword_check_fn)(const json_t *v, struct cwalk *w);
typedef int (*validate_fn)(const json_t *s, const json_t *inst, struct vwalk *w);

static int check_schema(const json_t *s, struct cwalk *w);
static int validate(const json_t *s, const json_t *inst, struct vwalk *w);

/* Append formatted text to p and return the previous length, for path_pop(). */
_printf_(2, 3) static size_t path_push(struct path *p, const char *fmt, ...)
{
	size_t old = p->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p->buf + p->len, sizeof(p->buf) - p->len, fmt, ap);
	va_end(ap);
	/* vsnprintf() returns the untruncated length: clamp to what was stored. */
	if (n > 0)
		p->len = (size_t)n < sizeof(p->buf) - old ? old + (size_t)n : sizeof(p->buf) - 1;
	return old;
}

/* Append one RFC 6901 reference token ("/" plus key with ~ and / escaped). */
static size_t path_push_token(struct path *p, const char *key)
{
	size_t old = path_push(p, "/");

	for (; *key; key++) {
		if (*key == '~')
			(void)path_push(p, "~0");
		else if (*key == '/')
			(void)path_push(p, "~1");
		else
			(void)path_push(p, "%c", *key);
	}
	return old;
}

/* Append an object member to an instance path: "name" at the root, ".name" below. */
static size_t path_push_field(struct path *p, const char *key)
{
	return p->len == 0 ? path_push(p, "%s", key) : path_push(p, ".%s", key);
}

/* Cut p back to a length returned by a path_push*(). */
static void path_pop(struct path *p, size_t old)
{
	p->len = old;
	p->buf[old] = '\0';
}

/* The length of an object key from json_object_foreach() (keys may hold NUL bytes). */
static size_t key_length(const char *key)
{
	return json_object_iter_key_len(json_object_key_to_iter(key));
}

/* Cut an incomplete UTF-8 sequence off the end of buf (left there by a truncating snprintf()),
 * so that the error texts stay valid UTF-8 for JSON bodies. */
static void utf8_trim_partial(char *buf)
{
	size_t len = strlen(buf), start = len, need;
	unsigned char lead;

	while (start > 0 && len - start < 4 && ((unsigned char)buf[start - 1] & 0xC0) == 0x80)
		start--;
	if (start == 0)
		return;
	lead = (unsigned char)buf[start - 1];
	if (lead < 0x80)
		return;
	need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
	if (len - (start - 1) < need)
		buf[start - 1] = '\0';
}

/* Fill *e (if any) with path, keyword and a formatted message; returns r. */
_printf_(5, 6) static int fail(struct schema_error *e, int r, const struct path *p,
                               const char *keyword, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return r;
	(void)snprintf(e->path, sizeof(e->path), "%s", p->buf);
	(void)snprintf(e->keyword, sizeof(e->keyword), "%s", keyword);
	va_start(ap, fmt);
	(void)vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	utf8_trim_partial(e->path);
	utf8_trim_partial(e->keyword);
	utf8_trim_partial(e->message);
	return r;
}

/* The keyword a checker is looking at: the last token of the pointer p. */
static const char *path_last_token(const struct path *p)
{
	const char *slash = strrchr(p->buf, '/');

	return slash ? slash + 1 : p->buf;
}

/* Whether v is a JSON number with no fractional part (1 and 1.0 both are). */
static bool number_is_integral(const json_t *v)
{
	double d;

	if (json_is_integer(v))
		return true;
	if (!json_is_real(v))
		return false;
	d = json_real_value(v);
	return isfinite(d) && d == trunc(d);
}

/* Whether name is one of the seven JSON-Schema type names. */
static bool type_name_valid(const char *name)
{
	static const char *const names[] = {"null",   "boolean", "object", "array",
	                                    "number", "string",  "integer"};

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Annotation keywords and const: any value is accepted and has no validation effect. */
static int check_any(const json_t *v, struct cwalk *w)
{
	return 0;
}

/* "type": one type name or an array of them. */
static int check_type(const json_t *v, struct cwalk *w)
{
	size_t i;
	json_t *t;

	if (json_is_string(v) && type_name_valid(json_string_value(v)))
		return 0;
	if (!json_is_array(v) || json_array_size(v) == 0)
		return fail(w->e, -EINVAL, &w->p, "type",
		            "malformed: must be a type name or an array of them");
	json_array_foreach (v, i, t)
		if (!json_is_string(t) || !type_name_valid(json_string_value(t)))
			return fail(w->e, -EINVAL, &w->p, "type",
			            "malformed: unknown type at index %zu", i);
	return 0;
}

/* "properties": an object mapping names to schemas. */
static int check_properties(const json_t *v, struct cwalk *w)
{
	const char *key;
	json_t *sub;

	if (!json_is_object(v))
		return fail(w->e, -EINVAL, &w->p, "properties", "malformed: must be an object");
	json_object_foreach ((json_t *)v, key, sub) {
		size_t old = path_push_token(&w->p, key);
		int r = check_schema(sub, w);

		path_pop(&w->p, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "required": an array of property names. */
static int check_required(const json_t *v, struct cwalk *w)
{
	size_t i;
	json_t *name;

	if (!json_is_array(v))
		return fail(w->e, -EINVAL, &w->p, "required",
		            "malformed: must be an array of strings");
	json_array_foreach (v, i, name)
		if (!json_is_string(name))
			return fail(w->e, -EINVAL, &w->p, "required",
			            "malformed: index %zu is not a string", i);
	return 0;
}

/* "additionalProperties": a schema. */
static int check_subschema(const json_t *v, struct cwalk *w)
{
	return check_schema(v, w);
}

/* "items": the single-schema form only; the array (tuple) form is outside the subset. */
static int check_items(const json_t *v, struct cwalk *w)
{
	if (json_is_array(v))
		return fail(w->e, -EINVAL, &w->p, "items",
		            "unsupported keyword form: items as an array");
	return check_schema(v, w);
}

/* "enum": an array of allowed values. */
static int check_enum(const json_t *v, struct cwalk *w)
{
	if (!json_is_array(v))
		return fail(w->e, -EINVAL, &w->p, "enum", "malformed: must be an array");
	return 0;
}

/* "minimum", "maximum" and the draft 6+ numeric "exclusiveMinimum"/"exclusiveMaximum". */
static int check_number(const json_t *v, struct cwalk *w)
{
	const char *keyword = path_last_token(&w->p);

	if (json_is_boolean(v))
		return fail(w->e, -EINVAL, &w->p, keyword,
		            "unsupported keyword form: draft 4 boolean %s", keyword);
	if (!json_is_number(v))
		return fail(w->e, -EINVAL, &w->p, keyword, "malformed: must be a number");
	return 0;
}

/* "minLength", "maxLength", "minItems", "maxItems": a non-negative integer. */
static int check_count(const json_t *v, struct cwalk *w)
{
	if (!number_is_integral(v) || json_number_value(v) < 0)
		return fail(w->e, -EINVAL, &w->p, path_last_token(&w->p),
		            "malformed: must be a non-negative integer");
	return 0;
}

/* "uniqueItems": a boolean. */
static int check_boolean(const json_t *v, struct cwalk *w)
{
	if (!json_is_boolean(v))
		return fail(w->e, -EINVAL, &w->p, path_last_token(&w->p),
		            "malformed: must be a boolean");
	return 0;
}

/* Compile regular expression src (len bytes) into w->s unless the same source already is;
 * keyword names it in errors. */
static int pattern_add(const char *src, size_t len, const char *keyword, struct cwalk *w)
{
	PCRE2_UCHAR msg[120];
	PCRE2_SIZE offset;
	pcre2_code *code;
	int code_err;

	if (json_object_getn(w->s->pattern_index, src, len))
		return 0;
	code = pcre2_compile((PCRE2_SPTR)src, len, PATTERN_OPTIONS, &code_err, &offset, w->ctx);
	if (!code) {
		if (code_err == PCRE2_ERROR_NOMEMORY)
			return -ENOMEM;
		(void)pcre2_get_error_message(code_err, msg, sizeof(msg));
		return fail(w->e, -EINVAL, &w->p, keyword,
		            "malformed: regular expression does not compile at offset %zu: %s",
		            (size_t)offset, (const char *)msg);
	}
	w->s->patterns =
	    xreallocarray(w->s->patterns, w->s->n_patterns + 1, sizeof(*w->s->patterns));
	w->s->patterns[w->s->n_patterns].code = code;
	json_object_setn_new(w->s->pattern_index, src, len,
	                     json_integer((json_int_t)w->s->n_patterns++));
	return 0;
}

/* "pattern": a regular expression (ECMA-262 dialect, see PATTERN_OPTIONS). */
static int check_pattern(const json_t *v, struct cwalk *w)
{
	if (!json_is_string(v))
		return fail(w->e, -EINVAL, &w->p, "pattern", "malformed: must be a string");
	return pattern_add(json_string_value(v), json_string_length(v), "pattern", w);
}

/* "patternProperties": an object mapping regular expressions to schemas. */
static int check_pattern_properties(const json_t *v, struct cwalk *w)
{
	const char *key;
	json_t *sub;

	if (!json_is_object(v))
		return fail(w->e, -EINVAL, &w->p, "patternProperties",
		            "malformed: must be an object");
	json_object_foreach ((json_t *)v, key, sub) {
		size_t old = path_push_token(&w->p, key);
		int r = pattern_add(key, key_length(key), "patternProperties", w);

		if (r == 0)
			r = check_schema(sub, w);
		path_pop(&w->p, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The supported keywords; anything else fails compilation. */
static const struct {
	const char *name;
	keyword_check_fn check;
} keywords[] = {
    {"$comment", check_any},
    {"$id", check_any},
    {"$schema", check_any},
    {"additionalProperties", check_subschema},
    {"const", check_any},
    {"default", check_any},
    {"description", check_any},
    {"enum", check_enum},
    {"examples", check_any},
    {"exclusiveMaximum", check_number},
    {"exclusiveMinimum", check_number},
    {"format", check_any},
    {"items", check_items},
    {"maxItems", check_count},
    {"maxLength", check_count},
    {"maximum", check_number},
    {"minItems", check_count},
    {"minLength", check_count},
    {"minimum", check_number},
    {"pattern", check_pattern},
    {"patternProperties", check_pattern_properties},
    {"properties", check_properties},
    {"required", check_required},
    {"title", check_any},
    {"type", check_type},
    {"uniqueItems", check_boolean},
};

/* Check one schema (object or boolean) at pointer p. */
static int check_schema(const json_t *s, struct cwalk *w)
{
	const char *key;
	json_t *v;

	if (json_is_boolean(s))
		return 0;
	if (!json_is_object(s))
		return fail(w->e, -EINVAL, &w->p, "",
		            "malformed: a schema must be an object or a boolean");
	json_object_foreach ((json_t *)s, key, v) {
		size_t old = path_push_token(&w->p, key);
		int r = fail(w->e, -EINVAL, &w->p, key, "unsupported keyword \"%s\"", key);

		for (size_t i = 0; i < ELEMENTSOF(keywords); i++)
			if (strcmp(key, keywords[i].name) == 0) {
				r = keywords[i].check(v, w);
				break;
			}
		path_pop(&w->p, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The compile context of every pattern: ECMA-262 extras, newlines, a length limit. */
static pcre2_compile_context *pattern_context_new(void)
{
	pcre2_compile_context *ctx = pcre2_compile_context_create(NULL);

	if (!ctx)
		return NULL;
	(void)pcre2_set_compile_extra_options(ctx, PCRE2_EXTRA_ALT_BSUX);
	(void)pcre2_set_newline(ctx, PCRE2_NEWLINE_ANYCRLF);
	(void)pcre2_set_max_pattern_length(ctx, PATTERN_MAX_LENGTH);
	return ctx;
}

/* The limits every match runs under. */
static pcre2_match_context *pattern_limits_new(void)
{
	pcre2_match_context *m = pcre2_match_context_create(NULL);

	if (!m)
		return NULL;
	(void)pcre2_set_match_limit(m, PATTERN_MATCH_LIMIT);
	(void)pcre2_set_depth_limit(m, PATTERN_DEPTH_LIMIT);
	(void)pcre2_set_heap_limit(m, PATTERN_HEAP_LIMIT_KIB);
	return m;
}

/* Check doc, compiling its patterns once, into a new struct schema holding one reference. */
int schema_compile(const json_t *doc, struct schema **ret, struct schema_error *reterr)
{
	struct cwalk w = {.p = {.buf = "", .len = 0}, .e = reterr};
	int r = -ENOMEM;

	assert(doc);
	assert(ret);
	w.s = xcalloc(1, sizeof(*w.s));
	w.s->doc = json_incref((json_t *)doc);
	w.s->pattern_index = json_object();
	w.s->limits = pattern_limits_new();
	w.ctx = pattern_context_new();
	if (!w.s->pattern_index || !w.s->limits || !w.ctx)
		goto out;
	r = check_schema(doc, &w);
out:
	pcre2_compile_context_free(w.ctx);
	if (r < 0) {
		schema_free(w.s);
		return r;
	}
	*ret = w.s;
	return 0;
}

/* Drop the compiled patterns, the document reference and the wrapper. */
void schema_free(struct schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_patterns; i++)
		pcre2_code_free(s->patterns[i].code);
	free(s->patterns);
	pcre2_match_context_free(s->limits);
	json_decref(s->pattern_index);
	json_decref(s->doc);
	free(s);
}

/* Order two JSON numbers (-1, 0, 1); integers exactly, mixed via long double. */
static int number_cmp(const json_t *a, const json_t *b)
{
	long double x, y;

	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t i = json_integer_value(a), j = json_integer_value(b);

		return (i > j) - (i < j);
	}
	x = json_is_integer(a) ? (long double)json_integer_value(a) : json_real_value(a);
	y = json_is_integer(b) ? (long double)json_integer_value(b) : json_real_value(b);
	return (x > y) - (x < y);
}

/* JSON equality: 1 equals 1.0, member order is irrelevant, true never equals 1. Recursion depth
 * is bounded by jansson's parser nesting limit, like every walk in this file. */
static bool value_equal(const json_t *a, const json_t *b) /* NOLINT(misc-no-recursion) */
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_number(a) && json_is_number(b))
		return number_cmp(a, b) == 0;
	if (json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) ==
		           0;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return false;
		json_array_foreach (a, i, v)
			if (!value_equal(v, json_array_get(b, i)))
				return false;
		return true;
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach ((json_t *)a, key, v) {
			const json_t *w = json_object_get(b, key);

			if (!w || !value_equal(v, w))
				return false;
		}
		return true;
	default:
		return true;
	}
}

/* The JSON-Schema type name of an instance ("integer" for JSON integers). */
static const char *instance_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}

/* Whether inst is of the named type (integer: any number without a fractional part). */
static bool type_matches(const char *name, const json_t *inst)
{
	if (strcmp(name, "integer") == 0)
		return number_is_integral(inst);
	if (strcmp(name, "number") == 0)
		return json_is_number(inst);
	return strcmp(name, instance_type_name(inst)) == 0;
}

/* "type": report "expected a or b, got c". */
static int validate_type(const json_t *s, const json_t *inst, struct vwalk *w)
{
	const json_t *t = json_object_get(s, "type");
	char want[128] = "";
	size_t i, len = 0;
	json_t *name;

	if (!t || (json_is_string(t) && type_matches(json_string_value(t), inst)))
		return 0;
	if (json_is_string(t))
		return fail(w->e, -EBADMSG, &w->p, "type", "expected %s, got %s",
		            json_string_value(t), instance_type_name(inst));
	json_array_foreach (t, i, name) {
		if (type_matches(json_string_value(name), inst))
			return 0;
		if (len < sizeof(want))
			len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%s",
			                        i ? " or " : "", json_string_value(name));
	}
	return fail(w->e, -EBADMSG, &w->p, "type", "expected %s, got %s", want,
	            instance_type_name(inst));
}

/* "enum" and "const": the instance must equal one listed value. */
static int validate_enum(const json_t *s, const json_t *inst, struct vwalk *w)
{
	const json_t *list = json_object_get(s, "enum");
	const json_t *c = json_object_get(s, "const");
	size_t i;
	json_t *v;

	if (c && !value_equal(c, inst))
		return fail(w->e, -EBADMSG, &w->p, "const",
		            "value does not equal the required constant");
	if (!list)
		return 0;
	json_array_foreach (list, i, v)
		if (value_equal(v, inst))
			return 0;
	return fail(w->e, -EBADMSG, &w->p, "enum", "value is not one of the allowed values");
}

/* "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum" on numbers. */
static int validate_number(const json_t *s, const json_t *inst, struct vwalk *w)
{
	static const struct {
		const char *name, *op;
		int lo, hi; /* allowed range of number_cmp(instance, limit) */
	} bounds[] = {
	    {"minimum", ">=", 0, 1},
	    {"maximum", "<=", -1, 0},
	    {"exclusiveMinimum", ">", 1, 1},
	    {"exclusiveMaximum", "<", -1, -1},
	};

	if (!json_is_number(inst))
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(bounds); i++) {
		const json_t *limit = json_object_get(s, bounds[i].name);
		int c;

		if (!limit)
			continue;
		c = number_cmp(inst, limit);
		if (c >= bounds[i].lo && c <= bounds[i].hi)
			continue;
		if (json_is_integer(limit))
			return fail(w->e, -EBADMSG, &w->p, bounds[i].name,
			            "must be %s %" JSON_INTEGER_FORMAT, bounds[i].op,
			            json_integer_value(limit));
		return fail(w->e, -EBADMSG, &w->p, bounds[i].name, "must be %s %.17g", bounds[i].op,
		            json_real_value(limit));
	}
	return 0;
}

/* Read a count keyword ("minLength" ...) from s into *ret; false when absent. */
static bool count_get(const json_t *s, const char *name, double *ret)
{
	const json_t *v = json_object_get(s, name);

	if (!v)
		return false;
	*ret = json_number_value(v);
	return true;
}

/* The number of Unicode code points in a (valid UTF-8) jansson string. */
static size_t utf8_length(const json_t *str)
{
	const unsigned char *c = (const unsigned char *)json_string_value(str);
	size_t n = 0;

	for (size_t i = 0; i < json_string_length(str); i++)
		if ((c[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* Search subject for the compiled regular expression src, unanchored (JSON Schema: a pattern
 * matches anywhere unless it anchors itself): 1 when found, 0 when not, -E2BIG when a match
 * limit stopped the search, -ENOMEM. */
static int pattern_search(struct vwalk *w, const char *src, size_t src_len, const char *subject,
                          size_t subject_len)
{
	const json_t *index = json_object_getn(w->s->pattern_index, src, src_len);
	int r;

	assert(index); /* schema_compile() compiled every pattern of the document */
	r = pcre2_match(w->s->patterns[json_integer_value(index)].code, (PCRE2_SPTR)subject,
	                subject_len, 0, 0, w->md, w->s->limits);
	if (r >= 0)
		return 1;
	if (r == PCRE2_ERROR_NOMATCH)
		return 0;
	return r == PCRE2_ERROR_NOMEMORY ? -ENOMEM : -E2BIG;
}

/* The failure of a search that could not finish (pattern_search() < 0) for keyword. */
static int pattern_search_fail(struct vwalk *w, int r, const char *keyword)
{
	if (r == -ENOMEM)
		return r;
	return fail(w->e, -EBADMSG, &w->p, keyword,
	            "the regular expression needs more than the match limit to decide");
}

/* "pattern" on strings: the expression must match somewhere in the string. */
static int validate_pattern(const json_t *s, const json_t *inst, struct vwalk *w)
{
	const json_t *pat = json_object_get(s, "pattern");
	int r;

	if (!pat)
		return 0;
	r = pattern_search(w, json_string_value(pat), json_string_length(pat),
	                   json_string_value(inst), json_string_length(inst));
	if (r < 0)
		return pattern_search_fail(w, r, "pattern");
	if (r > 0)
		return 0;
	if (json_string_length(pat) <= 64)
		return fail(w->e, -EBADMSG, &w->p, "pattern", "does not match the pattern %s",
		            json_string_value(pat));
	return fail(w->e, -EBADMSG, &w->p, "pattern", "does not match the pattern");
}

/* "minLength", "maxLength" and "pattern" on strings, lengths in code points. */
static int validate_string(const json_t *s, const json_t *inst, struct vwalk *w)
{
	double limit;
	size_t n;

	if (!json_is_string(inst))
		return 0;
	n = utf8_length(inst);
	if (count_get(s, "minLength", &limit) && (double)n < limit)
		return fail(w->e, -EBADMSG, &w->p, "minLength",
		            "must be at least %.0f characters long", limit);
	if (count_get(s, "maxLength", &limit) && (double)n > limit)
		return fail(w->e, -EBADMSG, &w->p, "maxLength",
		            "must be at most %.0f characters long", limit);
	return validate_pattern(s, inst, w);
}

/* "uniqueItems": no two elements may be equal. */
static int validate_unique(const json_t *s, const json_t *inst, struct vwalk *w)
{
	size_t n = json_array_size(inst);

	if (!json_is_true(json_object_get(s, "uniqueItems")))
		return 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (value_equal(json_array_get(inst, i), json_array_get(inst, j)))
				return fail(w->e, -EBADMSG, &w->p, "uniqueItems",
				            "items [%zu] and [%zu] are equal", i, j);
	return 0;
}

/* "minItems", "maxItems", "uniqueItems", "items" on arrays. */
static int validate_array(const json_t *s, const json_t *inst, struct vwalk *w)
{
	const json_t *items = json_object_get(s, "items");
	double limit;
	size_t i;
	json_t *v;
	int r;

	if (!json_is_array(inst))
		return 0;
	if (count_get(s, "minItems", &limit) && (double)json_array_size(inst) < limit)
		return fail(w->e, -EBADMSG, &w->p, "minItems", "must have at least %.0f items",
		            limit);
	if (count_get(s, "maxItems", &limit) && (double)json_array_size(inst) > limit)
		return fail(w->e, -EBADMSG, &w->p, "maxItems", "must have at most %.0f items",
		            limit);
	r = validate_unique(s, inst, w);
	if (r < 0 || !items)
		return r;
	json_array_foreach (inst, i, v) {
		size_t old = path_push(&w->p, "[%zu]", i);

		r = validate(items, v, w);
		path_pop(&w->p, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Validate member value v against every "patternProperties" schema whose expression matches
 * its name key; returns how many matched, or the first failure. */
static int validate_pattern_members(const json_t *s, const char *key, size_t key_len,
                                    const json_t *v, struct vwalk *w)
{
	const char *pat;
	json_t *sub;
	int n = 0;

	json_object_foreach (json_object_get(s, "patternProperties"), pat, sub) {
		int r = pattern_search(w, pat, key_length(pat), key, key_len);

		if (r < 0)
			return pattern_search_fail(w, r, "patternProperties");
		if (r == 0)
			continue;
		n++;
		if ((r = validate(sub, v, w)) < 0)
			return r;
	}
	return n;
}

/* One member of an object instance: its "properties" schema and every matching
 * "patternProperties" schema; "additionalProperties" only when neither applies. */
static int validate_member(const json_t *s, const char *key, size_t key_len, const json_t *v,
                           struct vwalk *w)
{
	const json_t *sub = json_object_getn(json_object_get(s, "properties"), key, key_len);
	const json_t *extra = json_object_get(s, "additionalProperties");
	int r;

	if (sub && (r = validate(sub, v, w)) < 0)
		return r;
	if ((r = validate_pattern_members(s, key, key_len, v, w)) != 0 || sub)
		return r < 0 ? r : 0;
	if (json_is_false(extra))
		return fail(w->e, -EBADMSG, &w->p, "additionalProperties", "is not allowed");
	return extra ? validate(extra, v, w) : 0;
}

/* "required", "properties", "patternProperties", "additionalProperties" on objects, in
 * instance member order. */
static int validate_object(const json_t *s, const json_t *inst, struct vwalk *w)
{
	const char *key;
	size_t i;
	json_t *v;

	if (!json_is_object(inst))
		return 0;
	json_array_foreach (s == w->no_required ? NULL : json_object_get(s, "required"), i, v) {
		if (!json_object_get(inst, json_string_value(v))) {
			(void)path_push_field(&w->p, json_string_value(v));
			return fail(w->e, -EBADMSG, &w->p, "required", "is required");
		}
	}
	json_object_foreach ((json_t *)inst, key, v) {
		size_t old = path_push_field(&w->p, key);
		int r = validate_member(s, key, key_length(key), v, w);

		path_pop(&w->p, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Validate inst against the (already checked) schema s at instance path p. */
static int validate(const json_t *s, const json_t *inst, struct vwalk *w)
{
	static const validate_fn steps[] = {validate_type,   validate_enum,  validate_number,
	                                    validate_string, validate_array, validate_object};

	if (json_is_true(s))
		return 0;
	if (json_is_false(s))
		return fail(w->e, -EBADMSG, &w->p, "false", "no value is allowed here");
	for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
		int r = steps[i](s, inst, w);

		if (r < 0)
			return r;
	}
	return 0;
}

/* Validate instance against s, the root's "required" skipped when partial; the patterns'
 * matches share one match data block (a yes/no answer needs one offset pair). */
static int validate_root(const struct schema *s, const json_t *instance, bool partial,
                         struct schema_error *reterr)
{
	struct vwalk w = {.p = {.buf = "", .len = 0}, .e = reterr, .s = s};
	int r;

	assert(s);
	assert(instance);
	if (partial)
		w.no_required = s->doc;
	if (s->n_patterns > 0 && !(w.md = pcre2_match_data_create(1, NULL)))
		return -ENOMEM;
	r = validate(s->doc, instance, &w);
	pcre2_match_data_free(w.md);
	return r;
}

/* Validate instance against the compiled schema. */
int schema_validate(const struct schema *s, const json_t *instance, struct schema_error *reterr)
{
	return validate_root(s, instance, false, reterr);
}

/* Validate a partial update: no "required" at the root. */
int schema_validate_partial(const struct schema *s, const json_t *instance,
                            struct schema_error *reterr)
{
	return validate_root(s, instance, true, reterr);
}

/* Whether the root's properties or patternProperties cover name. */
bool schema_names_property(const struct schema *s, const char *name)
{
	struct vwalk w = {.p = {.buf = "", .len = 0}, .s = s};
	const char *pat;
	json_t *sub;
	bool found = false;

	assert(s);
	if (json_object_get(json_object_get(s->doc, "properties"), name))
		return true;
	if (s->n_patterns == 0 || !(w.md = pcre2_match_data_create(1, NULL)))
		return false;
	json_object_foreach (json_object_get(s->doc, "patternProperties"), pat, sub)
		if (!found && pattern_search(&w, pat, key_length(pat), name, strlen(name)) > 0)
			found = true;
	pcre2_match_data_free(w.md);
	return found;
}

/* The document of a compiled schema. */
const json_t *schema_document(const struct schema *s)
{
	return s->doc;
}
