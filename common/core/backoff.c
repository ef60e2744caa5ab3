/* Capped exponential backoff with jitter; pure, randomness injected. */
#include "backoff.h"

#include <assert.h>
#include <limits.h>

/* The un-jittered delay min(cap, base << attempt), without ever shifting out bits. */
static unsigned backoff_raw_ms(const struct backoff *b)
{
	if (b->base_ms == 0)
		return 0;
	/* Shifting by >= the width is undefined, and any lost high bit means "above the cap". */
	if (b->attempt >= sizeof(unsigned) * CHAR_BIT || b->base_ms > (UINT_MAX >> b->attempt))
		return b->cap_ms;
	unsigned d = b->base_ms << b->attempt;
	return d < b->cap_ms ? d : b->cap_ms;
}

/* Delay for the current attempt with the configured jitter, then count the attempt. */
unsigned backoff_next_ms(struct backoff *b, uint32_t random)
{
	unsigned d = backoff_raw_ms(b);
	unsigned delay;

	assert(b->jitter < _BACKOFF_JITTER_MAX);
	switch (b->jitter) {
	case BACKOFF_JITTER_FULL:
		/* 64-bit so that d + 1 cannot wrap to zero when d == UINT_MAX. */
		delay = (unsigned)(random % ((uint64_t)d + 1));
		break;
	case BACKOFF_JITTER_NONE:
		delay = d;
		break;
	default:
		delay = d / 2 + random % (d / 2 + 1);
		break;
	}
	if (b->attempt < UINT_MAX)
		b->attempt++;
	return delay;
}

/* Start over from attempt 0. */
void backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}
