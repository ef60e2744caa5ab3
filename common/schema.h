/* A JSON-Schema subset validator (draft 7 keywords) for Versori dynamic variables.
 * Used by the worker and the simulator; pure, never blocks, never logs.
 * Unsupported keywords fail schema_compile(), they are never silently ignored. */
#pragma once

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

/* Check that doc (object or boolean) uses only supported, well-formed keywords; on success
 * *ret is a new schema (free with schema_free()). -EINVAL fills *reterr (may be NULL). */
_warn_unused_result_ int schema_compile(const json_t *doc, struct schema **ret,
                                        struct schema_error *reterr);
/* Release a compiled schema; takes NULL. */
void schema_free(struct schema *s);
/* 0 when instance is valid; -EBADMSG fills *reterr (may be NULL) with the first problem. */
_warn_unused_result_ int schema_validate(const struct schema *s, const json_t *instance,
                                         struct schema_error *reterr);
