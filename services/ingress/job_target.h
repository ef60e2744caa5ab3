/* What a submitted job needs from the Versori API before its items can be checked: the
 * project's variable schema (compiled, kept per organisation and project for
 * JOB_TARGET_SCHEMA_TTL_MS, one fetch for all submissions waiting on it) and the id of an
 * environment given by name. Read-only calls, each recorded for the audit trail by the caller.
 * Runs on the ingress's event loop; never blocks. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#define JOB_TARGET_SCHEMA_TTL_MS      60000
/* Attempts of one call the API answered with 5xx, 429 or not at all: a brief fault does not
 * fail a submission; waits of 100 and then 400 ms between them, or the Retry-After when it
 * is at most JOB_TARGET_RETRY_AFTER_MAX_MS (a longer one answers at once). */
#define JOB_TARGET_TRIES              3
#define JOB_TARGET_RETRY_AFTER_MAX_MS 2000

struct config;
struct event_base;
struct job_target;
struct job_target_ask;
struct metrics;
struct schema;

/* The answer to one ask; everything is borrowed for the duration of the callback. */
struct job_target_answer {
	int r;               /* 0; -ENOENT: no such project or environment; -EAGAIN: the API did
	                      * not answer (5xx, 429, timeout); -EACCES: it refused the credential;
	                      * -EPROTO: another answer; -ECANCELED: the ingress is stopping */
	const char *message; /* why, when r < 0 */
	const struct schema *schema; /* the project's schema; NULL: none asked, none set, or one
	                              * this validator cannot use (the API then checks alone) */
	const char *environment_id;  /* the id of the environment asked by name, or NULL */
	json_t *calls; /* the API attempts made for this ask, as audit records (an array) */
};
typedef void (*job_target_fn)(const struct job_target_answer *a, void *userdata);

/* Clients for the organisations of c that have a credential, counting calls in m. */
struct job_target *job_target_new(struct event_base *base, const struct config *c,
                                  struct metrics *m);
/* Free it: asks still waiting are answered -ECANCELED first. NULL is ignored. */
void job_target_free(struct job_target *t);
/* Whether organisation (a [versori.NAME] name) has a credential to ask with: an API key, a
 * static JWT, or a signing key with a jwt_subject for calls that act for no end user. */
bool job_target_can_ask(const struct job_target *t, const char *organisation);
/* Ask for the schema of project (a ULID; NULL: no schema) and the id of the environment called
 * environment_name in project (a ULID or a project's name; NULL: none) for organisation, which
 * must have a credential; done is called once, later, on the loop. The ask is freed after done
 * returns; job_target_cancel() drops it before. */
struct job_target_ask *job_target_get(struct job_target *t, const char *organisation,
                                      const char *project, const char *environment_name,
                                      job_target_fn done, void *userdata);
/* Drop an ask whose done has not been called: it never will be. */
void job_target_cancel(struct job_target_ask *a);
