/* The worker's loads and settlements of items, batched: every load that arrives while a load
 * statement is in flight goes into the next one, and so does every settlement, each kind on a
 * connection of its own (hookrun.load_items, hookrun.finish_items). A busy worker thus
 * commits, and waits for the disk, once per batch rather than once per item: group commit,
 * as the ingress does for deliveries. Runs on the worker's loop; never blocks. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

struct db_async_options;
struct event_base;
struct item_store;

/* Most items in one statement. */
#define ITEM_STORE_BATCH_MAX 256

/* A new store for worker (its name in leases); its two connections (and their reconnects)
 * use o's url and limits, with their own statements. */
struct item_store *item_store_new(struct event_base *base, const struct db_async_options *o,
                                  const char *worker);
/* Close the connections; callbacks of what is queued or in flight are not called. */
void item_store_free(struct item_store *s);
/* Whether both connections are usable. */
bool item_store_connected(const struct item_store *s);

/* res is hookrun.load_items()'s result and row the item's row in it (both borrowed for the
 * call), or res is NULL: the item is not the caller's (its lease is gone) or, with r < 0, the
 * load failed (-ECONNRESET, -EIO) and the lease will decide. */
typedef void (*item_store_loaded_fn)(void *userdata, const PGresult *res, int row, int r);
/* Load item under token. */
void item_store_load(struct item_store *s, uint64_t item, uint64_t token, item_store_loaded_fn done,
                     void *userdata);

/* held is 1 when the lease still held and the item is settled, 0 when it no longer did (the
 * calls are recorded all the same), -1 when the settlement failed for good (logged; the
 * lease brings the item back). */
typedef void (*item_store_settled_fn)(void *userdata, int held);
/* What an item is settled with. */
struct item_settlement {
	uint64_t item, token;
	const char *state;    /* "succeeded", "failed" or "queued" */
	const json_t *result; /* or NULL */
	const char *error;    /* or NULL */
	const char *run_at;   /* a retry's (ISO 8601), or NULL */
	const char *calls;    /* the JSON array text of the call records, calls_len bytes */
	size_t calls_len;
};
/* Settle an item (everything in st borrowed for the call): it is written out at once as the
 * object hookrun.finish_items() reads, naming this worker, and waits as text for its batch. */
void item_store_settle(struct item_store *s, const struct item_settlement *st,
                       item_store_settled_fn done, void *userdata);
