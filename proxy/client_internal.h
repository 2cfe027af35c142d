/*
 * client_internal: what the files of the client module share and nobody else may use. The
 * client is one object (client.h is its whole API) written in five files, one per job:
 *
 *   client.c          the connection's life: accept, errors, close, and client_on_frame, which
 *                     hands each frame to the job the client's state calls for
 *   client_login.c    startup packet, SSLRequest/GSSENCRequest, CancelRequest, authentication,
 *                     the greeting
 *   client_frame.c    a logged-in client's frames on their way to its server: what each one
 *                     records in the server's queue of outstanding requests
 *   client_prepared.c protocol-level prepared statements in transaction pooling: Parse, Bind,
 *                     Describe and Close rewritten to pgsift's names on the server (prepared.h)
 *   client_session.c  session state: startup parameters and `options`, SET/RESET/DISCARD,
 *                     SQL-level PREPARE, pins, and applying them to a server
 */
#ifndef PGSIFT_CLIENT_INTERNAL_H
#define PGSIFT_CLIENT_INTERNAL_H

#include "parser/parser.h"
#include "proxy/client.h"

/* A parameter value kept in SQL form (from a client's SET), re-applied with `SET name TO value`;
 * other values are raw strings, re-applied with set_config(). */
#define SQL_VALUE_MARK '\x01'

/* ---- client_login.c ---- */

/* A frame before the startup packet is done (CL_STARTUP), and during authentication (CL_AUTH). */
PktAction client_startup(Client *c, const PktHdr *hdr, const uint8_t *pkt);
/* A client's TLS handshake ended (conn.h's ConnTlsFn). */
void client_tls_done(Conn *conn, bool ok);
PktAction client_auth_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt);

/* ---- client_frame.c ---- */

/* A frame of a client linked to a server (CL_ACTIVE, or CL_IDLE once the pool gave it one). */
PktAction client_active_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt, bool full);
/* A simple query pgsift answers or refuses without a server (transaction pooling); PA_FORWARD
 * when it needs one. */
PktAction client_query_without_server(Client *c, const char *text, size_t len);

/* ---- client_prepared.c ---- */

/* Parse, Close, Flush or Sync answered without a server (transaction pooling); PA_FORWARD when
 * the frame needs one. */
PktAction client_extended_without_server(Client *c, const PktHdr *hdr, const uint8_t *pkt);
/* Parse of a named statement in transaction pooling. */
PktAction client_parse_named(Client *c, Server *s, const char *name, const char *query, size_t qlen,
			     const uint8_t *types, size_t tlen);
/* A Parse too large to hold of a named statement in transaction pooling: refused (54000). */
PktAction client_refuse_long_parse(Client *c, Server *s);
/* Bind or Describe (type) naming a client's statement: rewritten to pgsift's name. */
PktAction client_rewrite_named(Client *c, Server *s, const PktHdr *hdr, const uint8_t *pkt,
			       const char *name, uint8_t type);
/* The same for a Bind too large to hold: only its head is rewritten. */
PktAction client_rewrite_streamed_bind(Client *c, Server *s, const PktHdr *hdr, const uint8_t *pkt,
				       const char *name);
/* A Parse that fails on the server, standing for a refusal (flags PF_*; see there). */
PktAction client_send_failing_parse(Client *c, Server *s, uint16_t flags, const char *name);
/* Whether cmds is a SQL DEALLOCATE of one of the client's protocol-level names. */
bool client_is_local_deallocate(Client *c, const SessionCommands *cmds);

/* ---- client_session.c ---- */

/* Splits the startup packet's `options` into c->params. False when out of memory. */
bool client_parse_options(Client *c, const char *opts);
/* Makes server s's session match the client's (parameters, SQL-level prepared statements).
 * False when out of memory. */
bool client_apply_params(Client *c, Server *s);
/* Whether a parameter is the server's alone (server_version...), never carried over. */
bool client_is_server_only_param(const char *name);
/* The session commands (SET, RESET, PREPARE...) in a statement text, or NULL when there are
 * none (the common case, decided by a keyword check) or memory ran out. */
SessionCommands *client_parse_session(const char *text, size_t len);
/* The same for a text a client sends again and again (an unnamed Parse before each execution, a
 * named statement's text at each Execute): a text once found to change no session state is
 * not looked at again (a per-client memo of its hash). */
SessionCommands *client_parse_session_quiet(Client *c, const char *text, size_t len);
bool client_has_kind(const SessionCommands *cmds, SessionCommandKind kind);
void client_free_cmds(SessionCommands *cmds);

#endif
