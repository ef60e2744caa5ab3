/* Job items from CSV (RFC 4180, through libcsv, the one module that includes csv.h): a header
 * row names the columns, `externalId` (required), `displayName`, and `var.<name>` for each
 * variable; each data row becomes one item {"externalId", "displayName"?, "variables"?}.
 * Variable values are typed by a JSON Schema's properties (the project's variable schema):
 * integer, number and boolean cells are converted, object and array cells parsed as JSON,
 * the rest kept as strings; an empty cell leaves the variable out. Fed incrementally, so a
 * body never has to be held whole. Every problem names its row (the header is row 1), its
 * column and what is wrong. Pure; used by the jobs API and the CLI. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "job_items.h"

struct job_csv;
struct schema;

struct job_csv_problem {
	size_t row;    /* 1: the header */
	char *column;  /* the header's name of the column, or NULL for the whole row */
	char *message; /* what is wrong */
};

/* A parser for items typed by schema (a JSON Schema object; the parser keeps a reference to
 * its "properties"; NULL: every variable a string); at most max_problems are kept (the count
 * goes on). */
struct job_csv *job_csv_new(const json_t *schema, size_t max_problems);
void job_csv_free(struct job_csv *p);
/* Also check each row's variables as an update against compiled (borrowed, must outlive the
 * parser); a row whose variables it refuses is a problem named by the variable's column. Call
 * before the first job_csv_feed(). */
void job_csv_validate_with(struct job_csv *p, const struct schema *compiled);
/* Hand each good row's item to fn (its index: the data row's, from 0) instead of keeping it:
 * job_csv_finish_text() then gives an empty text. Call before the first job_csv_feed(). */
void job_csv_set_good(struct job_csv *p, job_items_good_fn fn, void *userdata);
/* Feed the next len bytes. 0, or -EINVAL once the text cannot be CSV (a stray quote, bytes
 * that are not UTF-8, a NUL): the problem is recorded and further input is ignored. */
int job_csv_feed(struct job_csv *p, const void *data, size_t len);
/* The input is complete: 0 and *ret_items (a new array, one item per data row that had no
 * problem) when there was no problem, else -EINVAL (and *ret_items still holds the good
 * rows, for callers that skip invalid ones). */
int job_csv_finish(struct job_csv *p, json_t **ret_items);
/* job_csv_finish() with the good items as the text of a JSON array (compact, new, *ret_len
 * bytes plus a NUL) and their number: what a large body needs, never a tree of values. */
int job_csv_finish_text(struct job_csv *p, char **ret_text, size_t *ret_len, size_t *ret_items);
/* The problems so far (borrowed), and how many there were in all. */
const struct job_csv_problem *job_csv_problems(const struct job_csv *p, size_t *ret_n,
                                               size_t *ret_total);
/* Whether a problem concerns the whole text (its header, or text that is not CSV), so that no
 * row can be trusted: skipping bad rows does not help. */
bool job_csv_fatal(const struct job_csv *p);
/* Data rows seen (the header not counted). */
size_t job_csv_rows(const struct job_csv *p);
