/* The one mapping from negative errno codes to HTTP statuses and retry decisions. */
#include "err.h"

#include <errno.h>

#include "xalloc.h"

/* Map a negative errno from the project's vocabulary to the HTTP status it answers. */
int err_to_http_status(int r)
{
	switch (r) {
	case -EINVAL:
	case -EBADMSG:
		return 400;
	case -EACCES:
		return 401;
	case -EPERM:
		return 403;
	case -ENOENT:
		return 404;
	case -EOPNOTSUPP:
		return 405;
	case -EEXIST:
		return 409;
	case -EFBIG:
	case -EMSGSIZE:
		return 413;
	case -EPROTONOSUPPORT:
		return 415;
	case -EAGAIN:
	case -EBUSY:
	case -ECONNREFUSED:
	case -ETIMEDOUT:
		return 503;
	case -EPROTO:
		return 502;
	default:
		return 500;
	}
}

/* Whether an operation that failed with r may succeed if tried again unchanged. */
bool err_is_retryable(int r)
{
	switch (r) {
	case -EAGAIN:
	case -EBUSY:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ETIMEDOUT:
	case -EPIPE:
		return true;
	default:
		return false;
	}
}

/* The reason phrase of an HTTP status (RFC 9110), or a generic one for its class. */
const char *err_http_reason(int status)
{
	static const struct {
		int status;
		const char *reason;
	} reasons[] = {
	    {200, "OK"},
	    {201, "Created"},
	    {202, "Accepted"},
	    {204, "No Content"},
	    {400, "Bad Request"},
	    {401, "Unauthorized"},
	    {403, "Forbidden"},
	    {404, "Not Found"},
	    {405, "Method Not Allowed"},
	    {408, "Request Timeout"},
	    {409, "Conflict"},
	    {413, "Content Too Large"},
	    {414, "URI Too Long"},
	    {415, "Unsupported Media Type"},
	    {417, "Expectation Failed"},
	    {422, "Unprocessable Content"},
	    {425, "Too Early"},
	    {429, "Too Many Requests"},
	    {431, "Request Header Fields Too Large"},
	    {500, "Internal Server Error"},
	    {501, "Not Implemented"},
	    {502, "Bad Gateway"},
	    {503, "Service Unavailable"},
	    {504, "Gateway Timeout"},
	};

	for (size_t i = 0; i < ELEMENTSOF(reasons); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	if (status >= 200 && status < 300)
		return "OK";
	if (status >= 400 && status < 500)
		return "Client Error";
	return "Server Error";
}
