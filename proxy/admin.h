/*
 * admin: the admin console, reached by connecting to the database `pgsift` (or `pgbouncer`) as
 * one of admin_users (every command) or stats_users (read-only SHOW commands). Simple protocol
 * only. PgBouncer-compatible SHOW commands keep PgBouncer 1.18's column names, order and type
 * OIDs so that its exporters and dashboards work unchanged; pgsift's own commands (SHOW QUERIES,
 * SHOW SLOW, RESET STATS, SHOW SUGGESTIONS) read the stats module.
 *
 * Each command builds its whole answer (RowDescription, DataRows, CommandComplete,
 * ReadyForQuery) into one PktBuf that goes out with one write; nothing here blocks the loop.
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
