/* Allocation helpers that abort on out-of-memory (tmux/PgBouncer style). */
#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Report an allocation failure and abort: there is no sane way to continue. */
static void __attribute__((noreturn)) xalloc_die(size_t size)
{
	fprintf(stderr, "hookrun: out of memory allocating %zu bytes\n", size);
	abort();
}

/* Allocate size bytes or abort. */
void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		xalloc_die(size);
	return p;
}

/* Allocate n zeroed elements or abort. */
void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		xalloc_die(n * size);
	return p;
}

/* Resize an allocation or abort. */
void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (!p)
		xalloc_die(size);
	return p;
}

/* Resize an array, checking the multiplication for overflow. */
void *xreallocarray(void *ptr, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		xalloc_die(SIZE_MAX);
	return xrealloc(ptr, n * size);
}

/* Duplicate a string or abort. */
char *xstrdup(const char *s)
{
	return xmemdup(s, strlen(s) + 1);
}

/* Duplicate at most n bytes of a string, always terminated. */
char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Duplicate a memory block or abort. */
void *xmemdup(const void *p, size_t n)
{
	void *q = xmalloc(n);

	if (n)
		memcpy(q, p, n);
	return q;
}

/* printf into a new string or abort. */
char *xvasprintf(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		xalloc_die(strlen(fmt));
	return s;
}

/* printf into a new string or abort. */
char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}
