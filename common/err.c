/* The one mapping from negative errno codes to HTTP statuses and retry decisions. */
#include "err.h"

#include <errno.h>

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

/* The reason phrase for the statuses this project answers with. */
const char *err_http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}
