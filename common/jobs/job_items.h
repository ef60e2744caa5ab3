/* A submission's items checked before anything is stored or any API call is made: each an
 * object with a non-empty externalId string (at most JOB_ITEMS_EXTERNAL_ID_MAX bytes, once per
 * job), "variables" an object and "variable" a {"name", "value"} object, both valid as an
 * update against the project's variable schema when there is one. Every problem names the
 * item (its index), the field and what is wrong. Pure; used by the jobs API. */
#pragma once

#include <stddef.h>

#include <jansson.h>

#define JOB_ITEMS_EXTERNAL_ID_MAX 1024

struct schema;

/* What job_items_check() found; owned by the caller, released with job_items_check_fini(). */
struct job_items_check {
	json_t *good;     /* the items without a problem, in order (a new array) */
	json_t *problems; /* [{"item", "field", "problem"}]: the first max_problems */
	size_t total;     /* problems in all */
	size_t refused;   /* items with at least one problem */
};

/* Check items (an array) against schema (NULL: shapes only); at most max_problems are listed.
 * 0 when every item is good, -EINVAL when some are not (ret still filled). */
int job_items_check(const json_t *items, const struct schema *schema, size_t max_problems,
                    struct job_items_check *ret);
void job_items_check_fini(struct job_items_check *c);

/* An item without a problem, in order: its index among the items (or the data rows of a CSV
 * body), from 0, and the item itself (borrowed for the call). */
typedef void (*job_items_good_fn)(void *userdata, size_t index, const json_t *item);

/* The same check fed one item at a time, the good items kept as text: what a large body needs
 * (never a tree of values for all of them). */
struct job_items;

/* A checker against schema (borrowed, must outlive it; NULL: shapes only). */
struct job_items *job_items_new(const struct schema *schema, size_t max_problems);
void job_items_free(struct job_items *k);
/* Hand each good item to fn instead of keeping it: job_items_finish() then gives an empty
 * text. Call before the first job_items_add(). */
void job_items_set_good(struct job_items *k, job_items_good_fn fn, void *userdata);
/* Check the next item (its index counts from 0); item NULL: it could not be read as JSON, for
 * the reason given. */
void job_items_add(struct job_items *k, const json_t *item, const char *unreadable);
/* The good items as the text of a JSON array (compact, new, *ret_len bytes plus a NUL) and
 * their number in *ret_n; ret gets the problems, their total and the items refused (its good
 * stays NULL). 0, or -EINVAL when an item had a problem. */
int job_items_finish(struct job_items *k, char **ret_text, size_t *ret_len, size_t *ret_n,
                     struct job_items_check *ret);
