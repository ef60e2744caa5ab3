/* RFC 9562 UUIDv7 identifiers. */
#include "id.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Lay out the 16 UUIDv7 bytes and print them as lowercase hex with dashes. */
void id_uuid7_format(char out[static ID_UUID_STRING_MAX], uint64_t unix_ms,
                     const uint8_t rnd[static 10])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	size_t o = 0;

	for (int i = 0; i < 6; i++)
		b[i] = (uint8_t)(unix_ms >> (8 * (5 - i)));
	b[6] = (uint8_t)(0x70 | (rnd[0] & 0x0f)); /* version 7, then rand_a */
	b[7] = rnd[1];
	b[8] = (uint8_t)(0x80 | (rnd[2] & 0x3f)); /* variant 0b10, then rand_b */
	for (int i = 9; i < 16; i++)
		b[i] = rnd[i - 6];

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
}

/* Fill buf with len random bytes from getrandom(2), retrying on EINTR and short reads. */
static int id_random_fill(uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

/* A fresh UUIDv7 from the real-time clock and getrandom(2). */
int id_uuid7_new(char out[static ID_UUID_STRING_MAX])
{
	struct timespec ts;
	uint8_t rnd[10];
	int r;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return -errno;
	r = id_random_fill(rnd, sizeof(rnd));
	if (r < 0)
		return r;
	id_uuid7_format(out, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, rnd);
	return 0;
}

/* 36 characters, dashes in place, hex elsewhere. */
bool id_uuid_is_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	}
	return true;
}
