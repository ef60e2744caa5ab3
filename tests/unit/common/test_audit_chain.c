/* Unit tests for audit_chain: digests and block hashes against values computed with Python's
 * hashlib from the format in migration 0020, and each finding of a block's check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit_chain.h"
#include "crypto.h"
#include "xalloc.h"

/* python3: hashlib.sha256(text.encode()) of the two texts digest_of() makes for ids 42 and 43. */
static const char event1_hex[] = "68257258f681cdca8be913391849d0d8f9a029fd83c3ab0b1c17e837b9ef60cc";
static const char event2_hex[] = "820e09c35759e66d893a9db0cd871640b3debe0c16f026bea501f751e6f8c1df";
/* python3: sha256(bytes(32) + struct.pack('>Q', 2) + d1 + d2) */
static const char block_hex[] = "4703608169c37ebe435ddeecd60cc31d95306104496c610e396b83381c36159a";

/* The digest of a test event's text (as PostgreSQL's json_build_array() prints it). */
static void digest_of(const char *id, const char *detail, unsigned char out[AUDIT_CHAIN_HASH_SIZE])
{
	_cleanup_free_ char *text =
	    xasprintf("[%s, \"2026-12-03T07:00:00.123456\", \"api.call\", \"worker-1\", null, "
	              "\"0190f3c4-0000-7000-8000-000000000001\", 7, null, %s]",
	              id, detail);

	assert_int_equal(audit_chain_event_digest(text, strlen(text), out), 0);
}

/* Assert raw equals the lowercase hex want. */
static void assert_hex(const unsigned char *raw, const char *want)
{
	_cleanup_free_ char *hex = crypto_hex_encode(raw, AUDIT_CHAIN_HASH_SIZE);

	assert_string_equal(hex, want);
}

/* Digests and the block hash match an independent implementation; no event, no bytes. */
static void test_known_answers(void **state)
{
	unsigned char d[2 * AUDIT_CHAIN_HASH_SIZE], h[AUDIT_CHAIN_HASH_SIZE], zero[32] = {0};

	digest_of("42", "{\"path\": \"/x\", \"status\": 200}", d);
	digest_of("43", "{}", d + AUDIT_CHAIN_HASH_SIZE);
	assert_hex(d, event1_hex);
	assert_hex(d + AUDIT_CHAIN_HASH_SIZE, event2_hex);
	assert_int_equal(audit_chain_block_hash(zero, 2, d, h), 0);
	assert_hex(h, block_hex);

	/* A block of no events still chains (the count is hashed). */
	assert_int_equal(audit_chain_block_hash(zero, 0, NULL, h), 0);
	assert_hex(h, "2c34ce1df23b838c5abf2a7f6437cca3d3067ed509ff25f11df6b11b582b51eb");
}

/* A block of three events (ids 10, 11, 13) sealed after prev. */
struct block {
	unsigned char prev[AUDIT_CHAIN_HASH_SIZE], hash[AUDIT_CHAIN_HASH_SIZE];
	int64_t ids[3];
	unsigned char digests[3 * AUDIT_CHAIN_HASH_SIZE];
	unsigned char shorts[3 * AUDIT_CHAIN_SHORT_SIZE];
	struct audit_chain_seal seal;
};

/* Seal the test block. */
static void block_init(struct block *b)
{
	static const char *const ids[] = {"10", "11", "13"};

	memset(b, 0, sizeof(*b));
	memset(b->prev, 0xab, sizeof(b->prev));
	for (size_t i = 0; i < 3; i++) {
		b->ids[i] = strtoll(ids[i], NULL, 10);
		digest_of(ids[i], "{}", b->digests + i * AUDIT_CHAIN_HASH_SIZE);
		memcpy(b->shorts + i * AUDIT_CHAIN_SHORT_SIZE,
		       b->digests + i * AUDIT_CHAIN_HASH_SIZE, AUDIT_CHAIN_SHORT_SIZE);
	}
	assert_int_equal(audit_chain_block_hash(b->prev, 3, b->digests, b->hash), 0);
	b->seal = (struct audit_chain_seal){
	    .prev_hash = b->prev, .hash = b->hash, .n = 3, .ids = b->ids, .shorts = b->shorts};
}

/* Each change is found and names its event: an intact block, an altered, a deleted and an
 * inserted event, a seal whose hash was changed, and a seal that does not follow. */
static void test_findings(void **state)
{
	struct block b;
	unsigned char d[4 * AUDIT_CHAIN_HASH_SIZE], other[AUDIT_CHAIN_HASH_SIZE];
	int64_t ids[4], event = -1;

	block_init(&b);
	assert_int_equal(audit_chain_check(&b.seal, b.prev, 3, b.ids, b.digests, &event),
	                 AUDIT_CHAIN_INTACT);
	assert_int_equal(event, 0);

	memcpy(d, b.digests, sizeof(b.digests));
	digest_of("11", "{\"changed\": true}", d + AUDIT_CHAIN_HASH_SIZE);
	assert_int_equal(audit_chain_check(&b.seal, b.prev, 3, b.ids, d, &event),
	                 AUDIT_CHAIN_ALTERED);
	assert_int_equal(event, 11);

	/* 11 deleted: events 10 and 13 remain. */
	ids[0] = 10;
	ids[1] = 13;
	memcpy(d, b.digests, AUDIT_CHAIN_HASH_SIZE);
	memcpy(d + AUDIT_CHAIN_HASH_SIZE, b.digests + 2 * AUDIT_CHAIN_HASH_SIZE,
	       AUDIT_CHAIN_HASH_SIZE);
	assert_int_equal(audit_chain_check(&b.seal, b.prev, 2, ids, d, &event),
	                 AUDIT_CHAIN_DELETED);
	assert_int_equal(event, 11);

	/* 12 inserted between 11 and 13; and the last one deleted. */
	memcpy(ids, (int64_t[]){10, 11, 12, 13}, sizeof(ids));
	memcpy(d, b.digests, 2 * AUDIT_CHAIN_HASH_SIZE);
	digest_of("12", "{}", d + 2 * AUDIT_CHAIN_HASH_SIZE);
	memcpy(d + 3 * AUDIT_CHAIN_HASH_SIZE, b.digests + 2 * AUDIT_CHAIN_HASH_SIZE,
	       AUDIT_CHAIN_HASH_SIZE);
	assert_int_equal(audit_chain_check(&b.seal, b.prev, 4, ids, d, &event),
	                 AUDIT_CHAIN_INSERTED);
	assert_int_equal(event, 12);
	assert_int_equal(audit_chain_check(&b.seal, b.prev, 2, b.ids, b.digests, &event),
	                 AUDIT_CHAIN_DELETED);
	assert_int_equal(event, 13);

	b.hash[5] ^= 1;
	assert_int_equal(audit_chain_check(&b.seal, b.prev, 3, b.ids, b.digests, &event),
	                 AUDIT_CHAIN_SEAL_ALTERED);
	b.hash[5] ^= 1;

	memset(other, 0xcd, sizeof(other));
	assert_int_equal(audit_chain_check(&b.seal, other, 3, b.ids, b.digests, &event),
	                 AUDIT_CHAIN_BROKEN);
	assert_string_equal(audit_chain_finding_to_string(AUDIT_CHAIN_INSERTED), "inserted");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_answers),
	    cmocka_unit_test(test_findings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
