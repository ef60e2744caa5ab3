/* Allocation helpers that abort on out-of-memory, and scope-bound cleanup.
 * Used by every process; never blocks. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#define _cleanup_(f)         __attribute__((cleanup(f)))
#define _cleanup_free_       _cleanup_(freep)
#define _printf_(a, b)       __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _unused_             __attribute__((unused))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand a cleanup-owned pointer to someone else: returns it and clears the variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp_ = (p);                                                          \
		(p) = NULL;                                                                        \
		_tp_;                                                                              \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);
