/* The simulator's response shapes: entities of the state rendered as the Versori API returns
 * them (EndUser, Activation, Connection, ...), secrets left out. Used by versori-sim's handlers;
 * pure. Every function returns a new reference; org and entities are borrowed. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

/* EndUser {id, externalId, displayName, organisationId, createdAt, updatedAt}. */
json_t *sim_json_user(const json_t *org, const json_t *user);
/* ProjectEnvironment {id, name, status, createdAt, updatedAt, publicUrl, executionPool,
 * files: [], labels: {}, config: {}}. */
json_t *sim_json_environment(const json_t *env);
/* Connection {id, name, credentials: [{id, authSchemeConfig?}], baseUrl, createdAt, updatedAt,
 * systemId?, connectionTemplateId}; credential data is never included. */
json_t *sim_json_connection(const json_t *conn);
/* Activation {id, user, environment, connections, dynamicVariables}; a user with its
 * activations is always in the store (deleting a user deletes them). */
json_t *sim_json_activation(const json_t *org, const json_t *act);
/* The implicit static activation of an environment (its static variables). */
json_t *sim_json_static_activation(const json_t *org, const json_t *env);
/* ConnectionTemplate {id: system id, connectionTemplateId, name, domain, dynamic, ...}. */
json_t *sim_json_template(const json_t *org, const json_t *tpl);
/* System {id, name, domain, templateBaseUrl, authSchemeConfigs}. */
json_t *sim_json_system(const json_t *sys);
/* Project (full: with currentFiles {files: [], labels: {}}, settings, metadata and the
 * variables schema when set) or ProjectSummary, with its environments. */
json_t *sim_json_project(const json_t *org, const json_t *project, bool full);
/* Scheduler {id, name, schedule, url, environment_id}. */
json_t *sim_json_scheduler(const json_t *sched);
/* Embedded Activation {id, user: {..., hubId, primaryConnection}, hubId, integration,
 * dynamicVariables}; the user has a primaryConnection (sim_store_user_primary_connection()). */
json_t *sim_json_embedded_activation(const json_t *org, const json_t *act);
/* An entry of the end user's activation page (ListEndUserActivations). */
json_t *sim_json_embedded_activation_summary(const json_t *org, const json_t *act);
/* PublicKey {id, name, publicKey, createdAt}. */
json_t *sim_json_public_key(const json_t *key);
