/* Identifiers: RFC 9562 UUIDv7 strings (time-ordered to the millisecond) for deliveries, jobs
 * and requests. Used by every process. id_uuid7_format() is pure; id_uuid7_new() reads the
 * clock and getrandom(2), which never blocks once the kernel entropy pool is initialised. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "xalloc.h"

#define ID_UUID_STRING_MAX 37 /* 36 characters plus NUL */

/* Lowercase "xxxxxxxx-xxxx-7xxx-Vxxx-xxxxxxxxxxxx" (V in 8..b) from a 48-bit Unix millisecond
 * timestamp and 74 of the 80 random bits (rnd[0] and rnd[2] lose their top nibble / 2 bits). */
void id_uuid7_format(char out[static ID_UUID_STRING_MAX], uint64_t unix_ms,
                     const uint8_t rnd[static 10]);
/* A fresh UUIDv7 from the real-time clock and getrandom(2); 0 or negative errno.
 * Two ids from the same millisecond are unique but not ordered between themselves. */
_warn_unused_result_ int id_uuid7_new(char out[static ID_UUID_STRING_MAX]);

/* Whether s has the text form of a UUID: 36 characters, hex digits with dashes at 8, 13, 18
 * and 23 (any version, either case). */
bool id_uuid_is_valid(const char *s);
