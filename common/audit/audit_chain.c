/* The audit trail's seal chain (audit_chain.h). */
#include "audit_chain.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

static const char *const finding_names[_AUDIT_CHAIN_FINDING_MAX] = {
    [AUDIT_CHAIN_INTACT] = "intact",
    [AUDIT_CHAIN_ALTERED] = "altered",
    [AUDIT_CHAIN_DELETED] = "deleted",
    [AUDIT_CHAIN_INSERTED] = "inserted",
    [AUDIT_CHAIN_SEAL_ALTERED] = "seal_altered",
    [AUDIT_CHAIN_BROKEN] = "broken",
};

const char *audit_chain_finding_to_string(enum audit_chain_finding f)
{
	return f >= 0 && f < _AUDIT_CHAIN_FINDING_MAX ? finding_names[f] : "unknown";
}

int audit_chain_event_digest(const char *text, size_t len,
                             unsigned char out[static AUDIT_CHAIN_HASH_SIZE])
{
	return crypto_sha256(text, len, out);
}

int audit_chain_block_hash(const unsigned char prev[static AUDIT_CHAIN_HASH_SIZE], size_t n,
                           const unsigned char *digests,
                           unsigned char out[static AUDIT_CHAIN_HASH_SIZE])
{
	size_t len = AUDIT_CHAIN_HASH_SIZE + 8 + n * AUDIT_CHAIN_HASH_SIZE;
	_cleanup_free_ unsigned char *buf = xmalloc(len);
	uint64_t v = n;

	memcpy(buf, prev, AUDIT_CHAIN_HASH_SIZE);
	for (int i = 7; i >= 0; i--, v >>= 8)
		buf[AUDIT_CHAIN_HASH_SIZE + i] = (unsigned char)(v & 0xff);
	if (n > 0)
		memcpy(buf + AUDIT_CHAIN_HASH_SIZE + 8, digests, n * AUDIT_CHAIN_HASH_SIZE);
	return crypto_sha256(buf, len, out);
}

/* Walk the seal's ids and the events' ids together (both ascending): the first event that
 * was deleted, inserted or altered, or AUDIT_CHAIN_INTACT. */
static enum audit_chain_finding compare_events(const struct audit_chain_seal *seal, size_t n,
                                               const int64_t *ids, const unsigned char *digests,
                                               int64_t *ret_event)
{
	size_t i = 0, j = 0;

	while (i < seal->n || j < n) {
		if (j == n || (i < seal->n && seal->ids[i] < ids[j])) {
			*ret_event = seal->ids[i];
			return AUDIT_CHAIN_DELETED;
		}
		if (i == seal->n || ids[j] < seal->ids[i]) {
			*ret_event = ids[j];
			return AUDIT_CHAIN_INSERTED;
		}
		if (memcmp(seal->shorts + i * AUDIT_CHAIN_SHORT_SIZE,
		           digests + j * AUDIT_CHAIN_HASH_SIZE, AUDIT_CHAIN_SHORT_SIZE) != 0) {
			*ret_event = ids[j];
			return AUDIT_CHAIN_ALTERED;
		}
		i++;
		j++;
	}
	return AUDIT_CHAIN_INTACT;
}

int audit_chain_check(const struct audit_chain_seal *seal,
                      const unsigned char prev[static AUDIT_CHAIN_HASH_SIZE], size_t n,
                      const int64_t *ids, const unsigned char *digests, int64_t *ret_event)
{
	unsigned char hash[AUDIT_CHAIN_HASH_SIZE];
	enum audit_chain_finding f;
	int64_t event = 0;
	int r;

	if (memcmp(seal->prev_hash, prev, AUDIT_CHAIN_HASH_SIZE) != 0) {
		*ret_event = 0;
		return AUDIT_CHAIN_BROKEN;
	}
	f = compare_events(seal, n, ids, digests, &event);
	if (f != AUDIT_CHAIN_INTACT) {
		*ret_event = event;
		return (int)f;
	}
	r = audit_chain_block_hash(prev, n, digests, hash);
	if (r < 0)
		return r;
	*ret_event = 0;
	return memcmp(hash, seal->hash, AUDIT_CHAIN_HASH_SIZE) == 0 ? AUDIT_CHAIN_INTACT
	                                                            : AUDIT_CHAIN_SEAL_ALTERED;
}
