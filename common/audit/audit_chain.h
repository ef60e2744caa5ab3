/* The seal chain of the audit trail (migration 0020 defines it): one event's digest, one
 * block's hash, and the comparison of a block's events with its seal, computed here
 * independently of the SQL that sealed them. Used by the CLI (hookrun audit verify). Pure CPU
 * work; never blocks. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "xalloc.h"

#define AUDIT_CHAIN_HASH_SIZE  ((size_t)32) /* SHA-256 */
#define AUDIT_CHAIN_SHORT_SIZE ((size_t)8)  /* the part of each digest a seal keeps */

/* What a block's check found first. */
enum audit_chain_finding {
	AUDIT_CHAIN_INTACT,
	AUDIT_CHAIN_ALTERED,      /* an event's content differs from what was sealed */
	AUDIT_CHAIN_DELETED,      /* a sealed event is gone */
	AUDIT_CHAIN_INSERTED,     /* an event in the block's range was not sealed with it */
	AUDIT_CHAIN_SEAL_ALTERED, /* the seal's own hash does not match its events */
	AUDIT_CHAIN_BROKEN,       /* the seal does not follow the previous one */
	_AUDIT_CHAIN_FINDING_MAX,
};

/* One seal as stored (borrowed from the caller): ids and shorts hold n entries, shorts
 * AUDIT_CHAIN_SHORT_SIZE bytes each, in id order. */
struct audit_chain_seal {
	const unsigned char *prev_hash, *hash; /* AUDIT_CHAIN_HASH_SIZE bytes each */
	size_t n;
	const int64_t *ids;
	const unsigned char *shorts;
};

/* A stable word for a finding ("intact", "altered", ...). */
const char *audit_chain_finding_to_string(enum audit_chain_finding f);

/* The SQL (builtins only, schema-qualified, so that no function of the database can change
 * it) whose one column is an event's text, for the events of table alias e: a JSON array of
 * its columns (migration 0020). */
#define AUDIT_CHAIN_EVENT_TEXT_SQL                                                                 \
	"pg_catalog.json_build_array(e.id, e.at AT TIME ZONE 'UTC', e.kind, e.actor, "             \
	"e.organisation, e.job_id, e.item_id, e.delivery_id, e.detail)::text"

/* SHA-256 of one event's text (len bytes of UTF-8, as AUDIT_CHAIN_EVENT_TEXT_SQL prints it).
 * Returns 0 or -ENOMEM. */
int audit_chain_event_digest(const char *text, size_t len,
                             unsigned char out[static AUDIT_CHAIN_HASH_SIZE]) _warn_unused_result_;

/* SHA-256 of a block: the previous block's hash, n as 8 bytes big-endian, and the n digests
 * (AUDIT_CHAIN_HASH_SIZE bytes each, in id order). Returns 0 or -ENOMEM. */
int audit_chain_block_hash(const unsigned char prev[static AUDIT_CHAIN_HASH_SIZE], size_t n,
                           const unsigned char *digests,
                           unsigned char out[static AUDIT_CHAIN_HASH_SIZE]) _warn_unused_result_;

/* Compare a block's events as they are now (n events: their ids and full digests, in id
 * order) with its seal, which must follow prev (the previous seal's hash, or the anchor a
 * check starts from). The first finding in id order, with the event it concerns in
 * *ret_event (0 when it concerns the seal); AUDIT_CHAIN_INTACT when all hold. Returns a
 * negative errno only when hashing fails. */
int audit_chain_check(const struct audit_chain_seal *seal,
                      const unsigned char prev[static AUDIT_CHAIN_HASH_SIZE], size_t n,
                      const int64_t *ids, const unsigned char *digests,
                      int64_t *ret_event) _warn_unused_result_;
