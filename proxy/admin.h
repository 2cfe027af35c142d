/*
 * admin: the admin console, reached by connecting to the database `pgsift` (or `pgbouncer`) as
 * one of admin_users (every command) or stats_users (read-only SHOW commands). Simple protocol
 * only. PgBouncer-compatible SHOW commands keep PgBouncer's column names, order and types so
 * that its exporters and dashboards work unchanged.
 */
#ifndef PGSIFT_ADMIN_H
#define PGSIFT_ADMIN_H

#include <stdbool.h>

#include "proxy/conn.h"
#include "proxy/types.h"

/* Checks that the user may use the console and greets it. False when the client was failed. */
bool admin_login(Client *c);

/* One frame from an admin client. */
PktAction admin_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt);

#endif
