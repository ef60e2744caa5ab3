/* JSON helpers over jansson: body parsing, RFC 6901 pointers, scalars as text. */
#include "json.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse a body that must be a JSON object or array. */
int json_body_parse(const void *buf, size_t len, json_t **ret, struct json_error *reterr)
{
	json_error_t e;
	json_t *v;

	/* jansson refuses a NULL buffer even when empty; an empty body is simply malformed. */
	v = json_loadb(len ? buf : "", len, 0, &e);
	if (!v) {
		if (json_error_code(&e) == json_error_out_of_memory)
			return -ENOMEM;
		if (reterr && e.line > 0)
			snprintf(reterr->text, sizeof(reterr->text),
			         "malformed JSON at line %d column %d: %s", e.line, e.column,
			         e.text);
		else if (reterr)
			snprintf(reterr->text, sizeof(reterr->text), "malformed JSON: %s", e.text);
		return -EBADMSG;
	}
	/* Without JSON_DECODE_ANY jansson already rejects scalars; keep the contract explicit. */
	if (!json_is_object(v) && !json_is_array(v)) {
		json_decref(v);
		if (reterr)
			snprintf(reterr->text, sizeof(reterr->text),
			         "malformed JSON: top level must be an object or array");
		return -EBADMSG;
	}
	*ret = v;
	return 0;
}

/* Undo ~1 and ~0 in one reference token of n bytes into out; false on a stray '~'. */
static bool json_pointer_unescape(const char *tok, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (tok[i] != '~') {
			out[o++] = tok[i];
			continue;
		}
		if (i + 1 >= n || (tok[i + 1] != '0' && tok[i + 1] != '1'))
			return false;
		out[o++] = tok[i + 1] == '0' ? '~' : '/';
		i++;
	}
	out[o] = '\0';
	return true;
}

/* Parse an RFC 6901 array index: "0" or digits without a leading zero, no '-'. */
static bool json_pointer_index(const char *tok, size_t *ret)
{
	size_t idx = 0;

	if (!*tok || (tok[0] == '0' && tok[1]))
		return false;
	for (const char *p = tok; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		if (idx > (SIZE_MAX - 9) / 10)
			return false;
		idx = idx * 10 + (size_t)(*p - '0');
	}
	*ret = idx;
	return true;
}

/* Step from v to its child named by one unescaped reference token; NULL when absent. */
static const json_t *json_pointer_step(const json_t *v, const char *tok)
{
	size_t idx;

	if (json_is_object(v))
		return json_object_get(v, tok);
	if (json_is_array(v) && json_pointer_index(tok, &idx))
		return json_array_get(v, idx);
	return NULL;
}

/* RFC 6901: the value at pointer, borrowed from root; NULL when absent or malformed. */
const json_t *json_pointer_get(const json_t *root, const char *pointer)
{
	_cleanup_free_ char *tok = NULL;
	const json_t *v = root;
	const char *p = pointer;

	if (!root || !pointer)
		return NULL;
	if (!*pointer)
		return root;
	if (*pointer != '/')
		return NULL;
	/* One buffer for every token: unescaping never lengthens a token. */
	tok = xmalloc(strlen(pointer) + 1);
	while (v && *p == '/') {
		p++;
		size_t n = strcspn(p, "/");

		if (!json_pointer_unescape(p, n, tok))
			return NULL;
		v = json_pointer_step(v, tok);
		p += n;
	}
	return v;
}

/* Shortest text of a finite double that reads back exactly, marked as a real: fixed notation
 * for decimal exponents -4..16 ("100.0", "0.1"), otherwise "1e+17" (still valid JSON). */
static char *json_real_to_string(double d)
{
	char buf[64];
	int prec, exp;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	assert(strchr(buf, 'e'));
	exp = atoi(strchr(buf, 'e') + 1);
	if (exp >= -4 && exp < 17)
		snprintf(buf, sizeof(buf), "%.*f", prec - 1 > exp ? prec - 1 - exp : 0, d);
	/* Keep integral reals distinguishable from integers, as jansson's encoder does. */
	if (!strpbrk(buf, ".e"))
		return xasprintf("%s.0", buf);
	return xstrdup(buf);
}

/* A new string for an idempotency key; NULL for null, objects and arrays. */
char *json_scalar_to_string(const json_t *v)
{
	if (!v)
		return NULL;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return xstrdup(json_string_value(v));
	case JSON_INTEGER:
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return json_real_to_string(json_real_value(v));
	case JSON_TRUE:
		return xstrdup("true");
	case JSON_FALSE:
		return xstrdup("false");
	default:
		return NULL;
	}
}

/* json_dump_callback(): append size bytes to the array's text. */
static int array_text_write(const char *buffer, size_t size, void *data)
{
	struct json_array_text *a = data;

	if (a->len + size + 1 > a->cap) {
		a->cap = 2 * (a->len + size + 1);
		a->text = xrealloc(a->text, a->cap);
	}
	memcpy(a->text + a->len, buffer, size);
	a->len += size;
	a->text[a->len] = '\0';
	return 0;
}

void json_array_text_add(struct json_array_text *a, const json_t *v)
{
	(void)array_text_write(a->n ? "," : "[", 1, a);
	if (json_dump_callback(v, array_text_write, a, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
		abort(); /* only on out of memory */
	a->n++;
}

void json_array_text_add_raw(struct json_array_text *a, const char *json, size_t len)
{
	(void)array_text_write(a->n ? "," : "[", 1, a);
	(void)array_text_write(json, len, a);
	a->n++;
}

char *json_array_text_take(struct json_array_text *a, size_t *ret_len)
{
	char *text;

	(void)array_text_write(a->n ? "]" : "[]", a->n ? 1 : 2, a);
	text = a->text;
	*ret_len = a->len;
	*a = (struct json_array_text){0};
	return text;
}

void json_array_text_fini(struct json_array_text *a)
{
	free(a->text);
	*a = (struct json_array_text){0};
}

char *json_dumps_with_raw(const json_t *obj, const char *key, const char *raw, size_t raw_len,
                          size_t *ret_len)
{
	json_auto_t *k = json_string(key);
	_cleanup_free_ char *head = json_dumps(obj, JSON_COMPACT);
	_cleanup_free_ char *name = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
	size_t head_len, name_len, o;
	char *out;

	if (!head || !name)
		abort();             /* only on out of memory (obj is an object, key UTF-8) */
	head_len = strlen(head) - 1; /* "{...}" without its closing brace */
	name_len = strlen(name);
	assert(head_len >= 1 && head[head_len] == '}');
	out = xmalloc(head_len + 1 + name_len + 1 + raw_len + 2);
	memcpy(out, head, head_len);
	o = head_len;
	if (head_len > 1)
		out[o++] = ',';
	memcpy(out + o, name, name_len);
	o += name_len;
	out[o++] = ':';
	memcpy(out + o, raw, raw_len);
	o += raw_len;
	out[o++] = '}';
	out[o] = '\0';
	*ret_len = o;
	return out;
}
