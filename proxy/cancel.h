/*
 * cancel: every cancel pgsift handles, in one place. Each client gets its own BackendKeyData
 * (cancel_register), so a CancelRequest names a client, never a server; cancel_request finds
 * the client and sends PostgreSQL a CancelRequest for the backend of the server the client
 * has now, on a connection of its own. query_timeout (server.c) and a client that leaves while
 * its server is busy (pool.c) cancel through cancel_server.
 *
 * A cancel must never hit a statement other than the one it was meant for: while one is on its
 * way to a server's backend (cancel_is_pending), the server neither changes hands (pool.c) nor
 * gets its client's next frames (client.c waits).
 */
#ifndef PGSIFT_CANCEL_H
#define PGSIFT_CANCEL_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/conn.h"
#include "proxy/server.h"
#include "proxy/types.h"

/* Sets up the cancel-key table (proxy_init). */
void cancel_init(void);

/* Gives a logged-in client (c->cancel_key set) the pid half of a cancel key no other client
 * has (with peering, it names this process), and makes it findable; cancel_unregister when it
 * leaves (cancel_pid is 0 after). */
void cancel_register(Client *c);
void cancel_unregister(Client *c);
/* The client a (pid, key) pair from a CancelRequest names, or NULL. */
Client *cancel_find(uint32_t pid, uint32_t key);

/*
 * A CancelRequest packet, arriving as the first frame of a new connection c (hdr->code is
 * PQ_CANCEL_REQUEST_CODE). The cancel is sent on only while the named client's server still
 * runs one of that client's requests: a statement that already finished is not cancelled
 * (PostgreSQL ignores a cancel that reaches an idle backend), so the cancel can never hit the
 * client's next statement. When it was sent, c is closed once PostgreSQL has acted on it, so
 * that a driver that waits for that close (libpq, asyncpg) goes on only when its cancel can no
 * longer hit its next statement (PA_CONSUMED); otherwise c is closed now (PA_CLOSED).
 */
PktAction cancel_request(Client *c, const PktHdr *hdr, const uint8_t *pkt);

/* A CancelRequest that a newer pgsift passed back after taking the listeners over
 * (proxy/takeover.h): as cancel_request, without a requester connection. */
void cancel_passed_back(uint32_t pid, uint32_t key);

/* Sends a CancelRequest for this server's backend on a new connection (query_timeout, a
 * client gone while its statement runs). */
void cancel_server(Server *s);

/* Whether a cancel is on its way to this server's backend: nothing new may be sent to it, and
 * it may not change hands, before the cancel arrives, or the cancel could hit that instead. */
static inline bool cancel_is_pending(const Server *s)
{
	return s->cancels_in_flight > 0;
}

/* A client whose CancelRequest is on its way (Client.cancel_req) is leaving first. */
void cancel_forget_requester(Client *requester);
/* A server is being freed: the cancels on their way to its backend forget it. */
void cancel_forget_server(Server *s);

#endif
