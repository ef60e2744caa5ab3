/* A submission's items as the COPY stream that stores them, made a chunk at a time from the
 * request's body: `COPY hookrun.job_items (job_id, external_id, desired) FROM STDIN (FORMAT
 * csv)`, one line per item kept. The first pass over the body (job_items or job_csv, which
 * check every item) marks the items to keep; the stream reads the body again and writes only
 * those, so that neither the items nor the stream are ever held whole next to the body.
 * Pure; used by the ingress's jobs API. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Bytes of COPY data a chunk holds at least (but the last), at most this plus one line. */
#define JOB_COPY_CHUNK ((size_t)64 * 1024)

struct job_copy;
struct job_secrets;

/* A stream over items, the text of a JSON array (borrowed: must outlive the stream). */
struct job_copy *job_copy_new_json(const void *items, size_t len);
/* A stream over a CSV body (borrowed: must outlive the stream) whose cells are typed by schema
 * (a JSON Schema object, or NULL), as job_csv reads them. */
struct job_copy *job_copy_new_csv(const void *body, size_t len, const json_t *schema);
void job_copy_free(struct job_copy *c);

/* Keep the item of this index (from 0: its place among the items, or the CSV's data rows);
 * what job_items_set_good() and job_csv_set_good() call, with the stream as userdata. */
void job_copy_keep(void *c, size_t index, const json_t *item);
/* Seal the secret values of every item written (job_secrets_seal()) under s (borrowed: must
 * outlive the stream); the first pass has made sure a key is there when one is needed. */
void job_copy_set_secrets(struct job_copy *c, const struct job_secrets *s);
/* Items marked to keep. */
size_t job_copy_kept(const struct job_copy *c);

/* The job the lines name (a UUID; copied); before the first job_copy_next(). */
void job_copy_start(struct job_copy *c, const char *job_id);
/* The next chunk of the stream, in [*ret_data, *ret_data + *ret_len) (valid until the next
 * call or job_copy_free()): 1; 0 once the stream is complete; -EBADMSG when the body no
 * longer reads as it did in the first pass (a programming error: the body must not change);
 * -EIO when a secret value could not be sealed. */
int job_copy_next(struct job_copy *c, const void **ret_data, size_t *ret_len);
/* Lines written so far. */
size_t job_copy_lines(const struct job_copy *c);
