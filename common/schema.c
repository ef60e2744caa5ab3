/* JSON-Schema subset: a compile-time pass rejects anything outside the subset, then validation
 * walks the (kept) schema document directly. */
#include "schema.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "xalloc.h"

struct schema {
	json_t *doc; /* one reference, taken by schema_compile() */
};

/* A schema pointer or instance path being built while descending; truncated when too long. */
struct path {
	char buf[256];
	size_t len;
};

typedef int (*keyword_check_fn)(const json_t *v, struct path *p, struct schema_error *e);
typedef int (*validate_fn)(const json_t *s, const json_t *inst, struct path *p,
                           struct schema_error *e);

static int check_schema(const json_t *s, struct path *p, struct schema_error *e);
static int validate(const json_t *s, const json_t *inst, struct path *p, struct schema_error *e);

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
static int check_any(const json_t *v, struct path *p, struct schema_error *e)
{
	return 0;
}

/* "type": one type name or an array of them. */
static int check_type(const json_t *v, struct path *p, struct schema_error *e)
{
	size_t i;
	json_t *t;

	if (json_is_string(v) && type_name_valid(json_string_value(v)))
		return 0;
	if (!json_is_array(v) || json_array_size(v) == 0)
		return fail(e, -EINVAL, p, "type",
		            "malformed: must be a type name or an array of them");
	json_array_foreach (v, i, t)
		if (!json_is_string(t) || !type_name_valid(json_string_value(t)))
			return fail(e, -EINVAL, p, "type", "malformed: unknown type at index %zu",
			            i);
	return 0;
}

/* "properties": an object mapping names to schemas. */
static int check_properties(const json_t *v, struct path *p, struct schema_error *e)
{
	const char *key;
	json_t *sub;

	if (!json_is_object(v))
		return fail(e, -EINVAL, p, "properties", "malformed: must be an object");
	json_object_foreach ((json_t *)v, key, sub) {
		size_t old = path_push_token(p, key);
		int r = check_schema(sub, p, e);

		path_pop(p, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "required": an array of property names. */
static int check_required(const json_t *v, struct path *p, struct schema_error *e)
{
	size_t i;
	json_t *name;

	if (!json_is_array(v))
		return fail(e, -EINVAL, p, "required", "malformed: must be an array of strings");
	json_array_foreach (v, i, name)
		if (!json_is_string(name))
			return fail(e, -EINVAL, p, "required",
			            "malformed: index %zu is not a string", i);
	return 0;
}

/* "additionalProperties": a schema. */
static int check_subschema(const json_t *v, struct path *p, struct schema_error *e)
{
	return check_schema(v, p, e);
}

/* "items": the single-schema form only; the array (tuple) form is outside the subset. */
static int check_items(const json_t *v, struct path *p, struct schema_error *e)
{
	if (json_is_array(v))
		return fail(e, -EINVAL, p, "items", "unsupported keyword form: items as an array");
	return check_schema(v, p, e);
}

/* "enum": an array of allowed values. */
static int check_enum(const json_t *v, struct path *p, struct schema_error *e)
{
	if (!json_is_array(v))
		return fail(e, -EINVAL, p, "enum", "malformed: must be an array");
	return 0;
}

/* "minimum", "maximum" and the draft 6+ numeric "exclusiveMinimum"/"exclusiveMaximum". */
static int check_number(const json_t *v, struct path *p, struct schema_error *e)
{
	const char *keyword = path_last_token(p);

	if (json_is_boolean(v))
		return fail(e, -EINVAL, p, keyword, "unsupported keyword form: draft 4 boolean %s",
		            keyword);
	if (!json_is_number(v))
		return fail(e, -EINVAL, p, keyword, "malformed: must be a number");
	return 0;
}

/* "minLength", "maxLength", "minItems", "maxItems": a non-negative integer. */
static int check_count(const json_t *v, struct path *p, struct schema_error *e)
{
	if (!number_is_integral(v) || json_number_value(v) < 0)
		return fail(e, -EINVAL, p, path_last_token(p),
		            "malformed: must be a non-negative integer");
	return 0;
}

/* "uniqueItems": a boolean. */
static int check_boolean(const json_t *v, struct path *p, struct schema_error *e)
{
	if (!json_is_boolean(v))
		return fail(e, -EINVAL, p, path_last_token(p), "malformed: must be a boolean");
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
    {"properties", check_properties},
    {"required", check_required},
    {"title", check_any},
    {"type", check_type},
    {"uniqueItems", check_boolean},
};

/* Check one schema (object or boolean) at pointer p. */
static int check_schema(const json_t *s, struct path *p, struct schema_error *e)
{
	const char *key;
	json_t *v;

	if (json_is_boolean(s))
		return 0;
	if (!json_is_object(s))
		return fail(e, -EINVAL, p, "",
		            "malformed: a schema must be an object or a boolean");
	json_object_foreach ((json_t *)s, key, v) {
		size_t old = path_push_token(p, key);
		int r = fail(e, -EINVAL, p, key, "unsupported keyword \"%s\"", key);

		for (size_t i = 0; i < ELEMENTSOF(keywords); i++)
			if (strcmp(key, keywords[i].name) == 0) {
				r = keywords[i].check(v, p, e);
				break;
			}
		path_pop(p, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Check doc and wrap it in a new struct schema holding one reference. */
int schema_compile(const json_t *doc, struct schema **ret, struct schema_error *reterr)
{
	struct path p = {.buf = "", .len = 0};
	struct schema *s;
	int r;

	assert(doc);
	assert(ret);
	r = check_schema(doc, &p, reterr);
	if (r < 0)
		return r;
	s = xmalloc(sizeof(*s));
	s->doc = json_incref((json_t *)doc);
	*ret = s;
	return 0;
}

/* Drop the document reference and the wrapper. */
void schema_free(struct schema *s)
{
	if (!s)
		return;
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
static int validate_type(const json_t *s, const json_t *inst, struct path *p,
                         struct schema_error *e)
{
	const json_t *t = json_object_get(s, "type");
	char want[128] = "";
	size_t i, len = 0;
	json_t *name;

	if (!t || (json_is_string(t) && type_matches(json_string_value(t), inst)))
		return 0;
	if (json_is_string(t))
		return fail(e, -EBADMSG, p, "type", "expected %s, got %s", json_string_value(t),
		            instance_type_name(inst));
	json_array_foreach (t, i, name) {
		if (type_matches(json_string_value(name), inst))
			return 0;
		if (len < sizeof(want))
			len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%s",
			                        i ? " or " : "", json_string_value(name));
	}
	return fail(e, -EBADMSG, p, "type", "expected %s, got %s", want, instance_type_name(inst));
}

/* "enum" and "const": the instance must equal one listed value. */
static int validate_enum(const json_t *s, const json_t *inst, struct path *p,
                         struct schema_error *e)
{
	const json_t *list = json_object_get(s, "enum");
	const json_t *c = json_object_get(s, "const");
	size_t i;
	json_t *v;

	if (c && !value_equal(c, inst))
		return fail(e, -EBADMSG, p, "const", "value does not equal the required constant");
	if (!list)
		return 0;
	json_array_foreach (list, i, v)
		if (value_equal(v, inst))
			return 0;
	return fail(e, -EBADMSG, p, "enum", "value is not one of the allowed values");
}

/* "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum" on numbers. */
static int validate_number(const json_t *s, const json_t *inst, struct path *p,
                           struct schema_error *e)
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
			return fail(e, -EBADMSG, p, bounds[i].name,
			            "must be %s %" JSON_INTEGER_FORMAT, bounds[i].op,
			            json_integer_value(limit));
		return fail(e, -EBADMSG, p, bounds[i].name, "must be %s %.17g", bounds[i].op,
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

/* "minLength", "maxLength" on strings, in code points. */
static int validate_string(const json_t *s, const json_t *inst, struct path *p,
                           struct schema_error *e)
{
	double limit;
	size_t n;

	if (!json_is_string(inst))
		return 0;
	n = utf8_length(inst);
	if (count_get(s, "minLength", &limit) && (double)n < limit)
		return fail(e, -EBADMSG, p, "minLength", "must be at least %.0f characters long",
		            limit);
	if (count_get(s, "maxLength", &limit) && (double)n > limit)
		return fail(e, -EBADMSG, p, "maxLength", "must be at most %.0f characters long",
		            limit);
	return 0;
}

/* "uniqueItems": no two elements may be equal. */
static int validate_unique(const json_t *s, const json_t *inst, struct path *p,
                           struct schema_error *e)
{
	size_t n = json_array_size(inst);

	if (!json_is_true(json_object_get(s, "uniqueItems")))
		return 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (value_equal(json_array_get(inst, i), json_array_get(inst, j)))
				return fail(e, -EBADMSG, p, "uniqueItems",
				            "items [%zu] and [%zu] are equal", i, j);
	return 0;
}

/* "minItems", "maxItems", "uniqueItems", "items" on arrays. */
static int validate_array(const json_t *s, const json_t *inst, struct path *p,
                          struct schema_error *e)
{
	const json_t *items = json_object_get(s, "items");
	double limit;
	size_t i;
	json_t *v;
	int r;

	if (!json_is_array(inst))
		return 0;
	if (count_get(s, "minItems", &limit) && (double)json_array_size(inst) < limit)
		return fail(e, -EBADMSG, p, "minItems", "must have at least %.0f items", limit);
	if (count_get(s, "maxItems", &limit) && (double)json_array_size(inst) > limit)
		return fail(e, -EBADMSG, p, "maxItems", "must have at most %.0f items", limit);
	r = validate_unique(s, inst, p, e);
	if (r < 0 || !items)
		return r;
	json_array_foreach (inst, i, v) {
		size_t old = path_push(p, "[%zu]", i);

		r = validate(items, v, p, e);
		path_pop(p, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* One member of an object instance: its "properties" schema, else "additionalProperties". */
static int validate_member(const json_t *s, const char *key, const json_t *v, struct path *p,
                           struct schema_error *e)
{
	const json_t *sub = json_object_get(json_object_get(s, "properties"), key);
	const json_t *extra = json_object_get(s, "additionalProperties");

	if (sub)
		return validate(sub, v, p, e);
	if (json_is_false(extra))
		return fail(e, -EBADMSG, p, "additionalProperties", "is not allowed");
	return extra ? validate(extra, v, p, e) : 0;
}

/* "required", "properties", "additionalProperties" on objects, in instance member order. */
static int validate_object(const json_t *s, const json_t *inst, struct path *p,
                           struct schema_error *e)
{
	const char *key;
	size_t i;
	json_t *v;

	if (!json_is_object(inst))
		return 0;
	json_array_foreach (json_object_get(s, "required"), i, v) {
		if (!json_object_get(inst, json_string_value(v))) {
			(void)path_push_field(p, json_string_value(v));
			return fail(e, -EBADMSG, p, "required", "is required");
		}
	}
	json_object_foreach ((json_t *)inst, key, v) {
		size_t old = path_push_field(p, key);
		int r = validate_member(s, key, v, p, e);

		path_pop(p, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Validate inst against the (already checked) schema s at instance path p. */
static int validate(const json_t *s, const json_t *inst, struct path *p, struct schema_error *e)
{
	static const validate_fn steps[] = {validate_type,   validate_enum,  validate_number,
	                                    validate_string, validate_array, validate_object};

	if (json_is_true(s))
		return 0;
	if (json_is_false(s))
		return fail(e, -EBADMSG, p, "false", "no value is allowed here");
	for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
		int r = steps[i](s, inst, p, e);

		if (r < 0)
			return r;
	}
	return 0;
}

/* Validate instance against the compiled schema. */
int schema_validate(const struct schema *s, const json_t *instance, struct schema_error *reterr)
{
	struct path p = {.buf = "", .len = 0};

	assert(s);
	assert(instance);
	return validate(s->doc, instance, &p, reterr);
}
