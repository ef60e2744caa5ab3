/* A JSON-Schema subset validator (draft 7 keywords) for Versori dynamic variables.
 * Used by the worker and the simulator; pure, never blocks, never logs.
 * Unsupported keywords fail schema_compile(), they are never silently ignored. Regular
 * expressions ("pattern", "patternProperties") are compiled once, by schema_compile(), with
 * PCRE2 set up for ECMA-262 semantics, and every match runs under a backtracking limit. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "xalloc.h"

/* A compiled schema: owns one reference to the schema document. */
struct schema;

/* Where and why compilation or validation failed; caller storage, always NUL-terminated.
 * Compilation: path is the RFC 6901 pointer of the offending schema ("/properties/a/allOf"),
 * message starts with "unsupported keyword" when the keyword is outside the subset.
 * Validation: path is the instance field path ("locations[1].ref", "" for the root). */
struct schema_error {
	char path[256];
	char keyword[32];
	char message[200];
};

/* Check that doc (object or boolean) uses only supported, well-formed keywords and that its
 * regular expressions compile; on success *ret is a new schema holding a reference to doc
 * (free with schema_free(); doc must not change while it lives). -EINVAL fills *reterr (may
 * be NULL), e.g. path "/properties/zip/pattern", message "malformed: regular expression does
 * not compile at offset 2: missing closing parenthesis"; -ENOMEM. */
_warn_unused_result_ int schema_compile(const json_t *doc, struct schema **ret,
                                        struct schema_error *reterr);
/* Release a compiled schema; takes NULL. */
void schema_free(struct schema *s);
/* 0 when instance is valid; -EBADMSG fills *reterr (may be NULL) with the first problem (an
 * expression that needs more than the match limit to decide is one); -ENOMEM. */
_warn_unused_result_ int schema_validate(const struct schema *s, const json_t *instance,
                                         struct schema_error *reterr);
/* schema_validate() for a partial update: the root schema's "required" is not enforced, since
 * the instance holds only the members being changed. */
_warn_unused_result_ int schema_validate_partial(const struct schema *s, const json_t *instance,
                                                 struct schema_error *reterr);
/* Whether the root schema gives a member called name a subschema of its own: name is in its
 * "properties" or matches one of its "patternProperties" expressions. */
bool schema_names_property(const struct schema *s, const char *name);
/* The document s was compiled from (borrowed; lives as long as s). */
const json_t *schema_document(const struct schema *s);
