/* hookrun deliveries: one stored delivery and its routings (show), and routing it again with
 * the route today's configuration gives its body (replay: a delivery that could not be routed
 * becomes work once the configuration is fixed). Straight from PostgreSQL; blocking. Used by
 * the hookrun CLI. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

struct config;

/* Print delivery id (a UUID) and every routing of it to out. 0; -ENOENT when there is no such
 * delivery; -EINVAL for an id that is not a UUID; -EIO after printing the database's error to
 * err. */
int cli_deliveries_show(PGconn *conn, const char *id, FILE *out, FILE *err);
/* Route delivery id again with the route its source's configuration in c gives its body
 * today (hookrun.replay_delivery(), requested by "cli"), and print the outcome to out. A
 * delivery whose latest routing made a job is refused unless force. 0 when a job was made;
 * -ENOMSG when the route could not be used (the reason printed); -ENOENT, -EINVAL as above;
 * -EEXIST (already routed), -ESRCH (its source is not configured), -EPERM (its source only
 * stores) and -EIO, each after printing why to err. */
int cli_deliveries_replay(PGconn *conn, const struct config *c, const char *id, bool force,
                          FILE *out, FILE *err);
