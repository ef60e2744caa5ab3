/* Capped exponential backoff with jitter, as a pure calculation over caller-owned state.
 * Used by the worker (API retries) and the ingress (database reconnects); never blocks.
 * Randomness is injected by the caller so sequences are reproducible in tests. */
#pragma once

#include <stdint.h>

enum backoff_jitter {
	BACKOFF_JITTER_EQUAL, /* d/2 + random % (d/2 + 1): the default (zero value) */
	BACKOFF_JITTER_FULL,  /* random % (d + 1) */
	BACKOFF_JITTER_NONE,  /* exactly d */
	_BACKOFF_JITTER_MAX,
};

/* Caller storage; zero-initialise, then set base_ms and cap_ms (and jitter if not EQUAL). */
struct backoff {
	unsigned base_ms; /* delay before jitter for attempt 0 */
	unsigned cap_ms;  /* upper bound of the un-jittered delay */
	unsigned attempt; /* attempts made so far; saturates at UINT_MAX */
	enum backoff_jitter jitter;
};

/* Delay for the current attempt, d = min(cap, base << attempt) jittered, then attempt++. */
unsigned backoff_next_ms(struct backoff *b, uint32_t random);
/* Start over from attempt 0 (after a success). */
void backoff_reset(struct backoff *b);
