/* Versori API responses classified into outcomes; Retry-After parsing. */
#include "versori_outcome.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_client.h"
#include "json_scan.h"
#include "xalloc.h"

static const char *const class_names[_VERSORI_OUTCOME_CLASS_MAX] = {
    [VERSORI_OUTCOME_SUCCESS] = "success",
    [VERSORI_OUTCOME_RETRYABLE] = "retryable",
    [VERSORI_OUTCOME_PERMANENT] = "permanent",
};

static const char *const request_id_headers[] = {"X-Request-Id", "X-Versori-Request-Id",
                                                 "Request-Id"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const weekdays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const weekdays_long[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                            "Friday", "Saturday", "Sunday"};

/* The name of a class, or NULL when out of range. */
const char *versori_outcome_class_to_string(enum versori_outcome_class c)
{
	return (unsigned)c < _VERSORI_OUTCOME_CLASS_MAX ? class_names[c] : NULL;
}

/* Release an outcome's owned parts and zero it. */
void versori_outcome_fini(struct versori_outcome *o)
{
	if (!o)
		return;
	json_decref(o->body);
	json_decref(o->error_fields);
	free(o->error_code);
	free(o->error_message);
	free(o->error_details);
	free(o->request_id);
	*o = (struct versori_outcome){.retry_after_s = -1};
}

/* Read exactly n decimal digits at s into *ret. */
static bool digits_parse(const char *s, size_t n, int *ret)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

/* Index of the word at s (of length n) in a table, or -1. */
static int word_index(const char *s, size_t n, const char *const *table, size_t size)
{
	for (size_t i = 0; i < size; i++)
		if (strlen(table[i]) == n && strncmp(s, table[i], n) == 0)
			return (int)i;
	return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Epoch seconds of a validated date and "HH:MM:SS" time at t; -EINVAL when out of range. */
static int date_to_epoch(int year, int month, int day, const char *t, int64_t *ret)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	int hh, mm, ss;

	if (month < 1 || month > 12 || day < 1 || day > mdays[month - 1] ||
	    (month == 2 && day == 29 && !leap))
		return -EINVAL;
	if (!digits_parse(t, 2, &hh) || t[2] != ':' || !digits_parse(t + 3, 2, &mm) ||
	    t[5] != ':' || !digits_parse(t + 6, 2, &ss) || hh > 23 || mm > 59 || ss > 60)
		return -EINVAL;
	*ret =
	    days_from_civil(year, month, day) * 86400 + (int64_t)hh * 3600 + (int64_t)mm * 60 + ss;
	return 0;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (exactly 29 characters). */
static int imf_fixdate_parse(const char *s, int64_t *ret)
{
	int day, year, mon;

	if (strlen(s) != 29 || word_index(s, 3, weekdays, 7) < 0 || memcmp(s + 3, ", ", 2) != 0 ||
	    !digits_parse(s + 5, 2, &day) || s[7] != ' ' || s[11] != ' ' ||
	    !digits_parse(s + 12, 4, &year) || s[16] != ' ' || strcmp(s + 25, " GMT") != 0)
		return -EINVAL;
	mon = word_index(s + 8, 3, months, 12);
	if (mon < 0)
		return -EINVAL;
	return date_to_epoch(year, mon + 1, day, s + 17, ret);
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year more than 50 years ahead of
 * now_s means the century before (RFC 9110 §5.6.7). */
static int rfc850_parse(const char *s, int64_t now_s, int64_t *ret)
{
	const char *comma = strchr(s, ',');
	time_t now = (time_t)now_s;
	struct tm tm;
	int day, yy, mon, year;

	if (!comma || word_index(s, (size_t)(comma - s), weekdays_long, 7) < 0)
		return -EINVAL;
	s = comma;
	if (strlen(s) != 24 || s[1] != ' ' || !digits_parse(s + 2, 2, &day) || s[4] != '-' ||
	    s[8] != '-' || !digits_parse(s + 9, 2, &yy) || s[11] != ' ' ||
	    strcmp(s + 20, " GMT") != 0)
		return -EINVAL;
	mon = word_index(s + 5, 3, months, 12);
	if (mon < 0 || !gmtime_r(&now, &tm))
		return -EINVAL;
	year = (tm.tm_year + 1900) / 100 * 100 + yy;
	if (year > tm.tm_year + 1900 + 50)
		year -= 100;
	return date_to_epoch(year, mon + 1, day, s + 12, ret);
}

/* asctime: "Sun Nov  6 08:49:37 1994" (day padded with a space, exactly 24 characters). */
static int asctime_parse(const char *s, int64_t *ret)
{
	int day, year, mon;

	if (strlen(s) != 24 || word_index(s, 3, weekdays, 7) < 0 || s[3] != ' ' || s[7] != ' ' ||
	    s[10] != ' ' || s[19] != ' ' || !digits_parse(s + 20, 4, &year))
		return -EINVAL;
	mon = word_index(s + 4, 3, months, 12);
	if (mon < 0)
		return -EINVAL;
	if (s[8] == ' ' ? !digits_parse(s + 9, 1, &day) : !digits_parse(s + 8, 2, &day))
		return -EINVAL;
	return date_to_epoch(year, mon + 1, day, s + 11, ret);
}

/* delta-seconds: one or more digits, capped rather than overflowing. */
static int delta_seconds_parse(const char *s, int64_t *ret)
{
	int64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v <= VERSORI_RETRY_AFTER_MAX_S)
			v = v * 10 + (*s - '0');
	}
	*ret = v > VERSORI_RETRY_AFTER_MAX_S ? VERSORI_RETRY_AFTER_MAX_S : v;
	return 0;
}

/* Parse a Retry-After value into seconds from now_s. */
int versori_retry_after_parse(const char *value, int64_t now_s, int64_t *ret_s)
{
	char buf[64];
	size_t len;
	int64_t when = 0;
	int r;

	if (!value)
		return -EINVAL;
	/* Optional whitespace around the field value is not part of it. */
	value += strspn(value, " \t");
	len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, len);
	buf[len] = '\0';
	if (buf[0] >= '0' && buf[0] <= '9')
		return delta_seconds_parse(buf, ret_s);
	r = imf_fixdate_parse(buf, &when);
	if (r < 0)
		r = rfc850_parse(buf, now_s, &when);
	if (r < 0)
		r = asctime_parse(buf, &when);
	if (r < 0)
		return r;
	when -= now_s;
	*ret_s = when < 0 ? 0 : when > VERSORI_RETRY_AFTER_MAX_S ? VERSORI_RETRY_AFTER_MAX_S : when;
	return 0;
}

/* Result and class of a complete HTTP response's status. */
static int status_classify(long status, enum versori_outcome_class *ret_class)
{
	*ret_class = VERSORI_OUTCOME_PERMANENT;
	if (status >= 200 && status <= 299) {
		*ret_class = VERSORI_OUTCOME_SUCCESS;
		return 0;
	}
	if (status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599)) {
		*ret_class = VERSORI_OUTCOME_RETRYABLE;
		return -EAGAIN;
	}
	switch (status) {
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	default:
		return status >= 400 && status <= 499 ? -EINVAL : -EPROTO;
	}
}

/* Copy the API's Error object {code, message, fields, details} out of an error body. */
static void error_body_decode(const struct http_client_response *resp, struct versori_outcome *o)
{
	json_auto_t *v = NULL;
	const json_t *code, *message, *fields, *details;

	if (!resp->body || resp->body_len == 0)
		return;
	v = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (!json_is_object(v))
		return;
	code = json_object_get(v, "code");
	message = json_object_get(v, "message");
	fields = json_object_get(v, "fields");
	details = json_object_get(v, "details");
	/* The code is documented as a string; tolerate a number rather than lose it. */
	if (json_is_string(code))
		o->error_code = xstrdup(json_string_value(code));
	else if (json_is_integer(code))
		o->error_code = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(code));
	if (json_is_string(message))
		o->error_message = xstrdup(json_string_value(message));
	if (json_is_array(fields))
		o->error_fields = json_incref((json_t *)fields);
	if (json_is_string(details))
		o->error_details = xstrdup(json_string_value(details));
}

/* Decode a success body: empty (204 or no content) is NULL, otherwise any JSON value. */
static int success_body_decode(const struct http_client_response *resp, json_t **ret)
{
	json_t *v;

	*ret = NULL;
	if (resp->status == 204 || !resp->body || resp->body_len == 0)
		return 0;
	v = json_loadb(resp->body, resp->body_len, JSON_DECODE_ANY, NULL);
	if (!v)
		return -EPROTO;
	*ret = v;
	return 0;
}

/* Fill the parts every response has: request id and Retry-After. A request id that is not
 * UTF-8 is passed over (it would be named in error texts and audit rows, both JSON). */
static void headers_decode(const struct http_client_response *resp, int64_t now_s,
                           struct versori_outcome *o)
{
	const char *retry_after = http_client_response_header(resp, "Retry-After");
	int64_t secs;

	for (size_t i = 0; i < ELEMENTSOF(request_id_headers) && !o->request_id; i++) {
		const char *id = http_client_response_header(resp, request_id_headers[i]);

		if (id && *id && json_scan_utf8_valid(id, strlen(id)))
			o->request_id = xstrdup(id);
	}
	if (retry_after && versori_retry_after_parse(retry_after, now_s, &secs) >= 0)
		o->retry_after_s = secs;
}

/* Classify one response into *ret. */
int versori_outcome_classify(const struct http_client_response *resp, int64_t now_s,
                             struct versori_outcome *ret)
{
	*ret = (struct versori_outcome){.retry_after_s = -1, .total_ms = resp->total_ms};
	if (resp->transport_error != 0) {
		ret->transport_error = resp->transport_error;
		/* A garbled or oversized reply comes back the same way on a retry (-EPROTO, the
		 * upstream broke our contract); every other transport failure may pass. */
		ret->result = resp->transport_error == -EPROTO || resp->transport_error == -EFBIG
		                  ? -EPROTO
		                  : -EAGAIN;
		ret->class =
		    ret->result == -EAGAIN ? VERSORI_OUTCOME_RETRYABLE : VERSORI_OUTCOME_PERMANENT;
		return ret->result;
	}
	ret->status = resp->status;
	headers_decode(resp, now_s, ret);
	ret->result = status_classify(resp->status, &ret->class);
	if (ret->class != VERSORI_OUTCOME_SUCCESS) {
		error_body_decode(resp, ret);
		return ret->result;
	}
	if (success_body_decode(resp, &ret->body) < 0) {
		ret->result = -EPROTO;
		ret->class = VERSORI_OUTCOME_PERMANENT;
	}
	return ret->result;
}
