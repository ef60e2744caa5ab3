/* Unit tests for common/core/err.c: the errno to HTTP status and retry tables. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static const struct {
	int r;
	int status;
	bool retryable;
} err_table[] = {
    {-EINVAL, 400, false},      {-EBADMSG, 400, false},
    {-EACCES, 401, false},      {-EPERM, 403, false},
    {-ENOENT, 404, false},      {-EOPNOTSUPP, 405, false},
    {-EEXIST, 409, false},      {-EFBIG, 413, false},
    {-EMSGSIZE, 413, false},    {-EPROTONOSUPPORT, 415, false},
    {-EAGAIN, 503, true},       {-EBUSY, 503, true},
    {-ECONNREFUSED, 503, true}, {-ETIMEDOUT, 503, true},
    {-EPROTO, 502, false},      {-ECONNRESET, 500, true},
    {-EPIPE, 500, true},        {-ENOMEM, 500, false},
    {-EIO, 500, false},         {0, 500, false},
    {EINVAL, 500, false}, /* positive errno is not part of the vocabulary */
};

/* Every vocabulary code maps to its documented status and retry decision. */
static void test_table(void **state)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++) {
		int r = err_table[i].r;

		if (err_to_http_status(r) != err_table[i].status)
			fail_msg("%s: status %d, want %d", strerror(r < 0 ? -r : r),
			         err_to_http_status(r), err_table[i].status);
		if (err_is_retryable(r) != err_table[i].retryable)
			fail_msg("%s: retryable %d, want %d", strerror(r < 0 ? -r : r),
			         err_is_retryable(r), err_table[i].retryable);
	}
}

/* Every status err_to_http_status can produce has its own reason phrase. */
static void test_reason_phrases(void **state)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++) {
		int status = err_to_http_status(err_table[i].r);

		assert_non_null(err_http_reason(status));
		if (status != 500)
			assert_string_not_equal(err_http_reason(status), "Internal Server Error");
	}
	assert_string_equal(err_http_reason(202), "Accepted");
	assert_string_equal(err_http_reason(415), "Unsupported Media Type");
	assert_string_equal(err_http_reason(429), "Too Many Requests");
	assert_string_equal(err_http_reason(201), "Created");
	assert_string_equal(err_http_reason(204), "No Content");
	assert_string_equal(err_http_reason(501), "Not Implemented");
	assert_string_equal(err_http_reason(299), "OK");
	assert_string_equal(err_http_reason(418), "Client Error");
	assert_string_equal(err_http_reason(999), "Server Error");
}

/* Run the err tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_reason_phrases),
	};

	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
