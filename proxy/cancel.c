/*
 * cancel: cancel keys, CancelRequests and the connections that carry them to PostgreSQL. See
 * cancel.h.
 *
 * A cancel travels on a connection of its own (CancelConn) to the server's address, and is
 * delivered when PostgreSQL closes that connection, having signalled the backend. Until then the
 * server counts it in cancels_in_flight; when the last one is delivered, the client's frames that
 * waited go on, or a server the pool held back (pool_server_ready) goes back to the pool.
 */
#include "proxy/cancel.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "config/log.h"
#include "proxy/client.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"

#define CANCEL_BUCKETS 4096

typedef struct CancelConn CancelConn;

static CancelConn *cancel_conn_open(Server *s);
static void cancel_close_cb(uv_handle_t *h);

/* The cancel-key table: clients by cancel_pid (Client.cancel_node). */
static List cancel_buckets[CANCEL_BUCKETS];

struct CancelConn {
	ListNode node;	/* in cancel_conns */
	Server *server; /* whose cancel this is; NULL once the server is gone */
	ConnHandle h;
	uv_connect_t req;
	uint8_t pkt[16];
	uv_buf_t buf;
	uv_write_t wreq;
	Client *requester; /* the client connection whose CancelRequest this is: it is closed once
			    * PostgreSQL has acted on it (not owned; NULL if it left first) */
	char scratch[16];  /* PostgreSQL sends nothing back: reads go here until EOF */
};

/* Every CancelConn not yet closed (owned; freed in cancel_close_cb). */
static List cancel_conns = {{&cancel_conns.head, &cancel_conns.head}, 0};

void cancel_init(void)
{
	for (int i = 0; i < CANCEL_BUCKETS; i++)
		list_init(&cancel_buckets[i]);
}

/* ---- cancel keys ---- */

void cancel_register(Client *c)
{
	/* a pid nobody uses yet, so that a cancel can never reach the wrong client */
	while (c->cancel_pid == 0 || cancel_find(c->cancel_pid, c->cancel_key))
		c->cancel_pid = proxy_random_u32();
	list_append(&cancel_buckets[c->cancel_pid % CANCEL_BUCKETS], &c->cancel_node);
}

void cancel_unregister(Client *c)
{
	list_remove(&cancel_buckets[c->cancel_pid % CANCEL_BUCKETS], &c->cancel_node);
	c->cancel_pid = 0;
}

Client *cancel_find(uint32_t pid, uint32_t key)
{
	List *l = &cancel_buckets[pid % CANCEL_BUCKETS];
	ListNode *n;
	for (n = l->head.next; n != &l->head; n = n->next) {
		Client *c = list_entry(n, Client, cancel_node);
		if (c->cancel_pid == pid && c->cancel_key == key)
			return c;
	}
	return NULL;
}

/* ---- requests ---- */

PktAction cancel_request(Client *c, const PktHdr *hdr, const uint8_t *pkt)
{
	if (hdr->len == 16) {
		Client *target = cancel_find(pkt_be32(pkt + 8), pkt_be32(pkt + 12));
		Server *s = target ? target->server : NULL;
		if (s) {
			log_info("cancel request for client %s:%d", target->addr, target->port);
			if (server_runs_client_request(s)) {
				CancelConn *cc = cancel_conn_open(s);
				if (cc) {
					cc->requester = c;
					c->cancel_req = cc;
					return PA_CONSUMED; /* closed when delivered */
				}
			} else {
				log_debug(
					"server pid %u: cancel request dropped, the statement had "
					"already finished",
					s->be_pid);
			}
		}
	}
	client_close(c, "cancel request served");
	return PA_CLOSED;
}

void cancel_server(Server *s)
{
	(void)cancel_conn_open(s);
}

void cancel_forget_requester(Client *requester)
{
	((CancelConn *)requester->cancel_req)->requester = NULL;
	requester->cancel_req = NULL;
}

void cancel_forget_server(Server *s)
{
	if (!s->cancels_in_flight)
		return;
	ListNode *n;
	for (n = cancel_conns.head.next; n != &cancel_conns.head; n = n->next) {
		CancelConn *cc = list_entry(n, CancelConn, node);
		if (cc->server == s)
			cc->server = NULL;
	}
	s->cancels_in_flight = 0;
}

/* ---- the connection that carries a cancel ---- */

static void cancel_close_cb(uv_handle_t *h)
{
	CancelConn *cc = h->data;
	Server *s = cc->server;
	list_remove(&cancel_conns, &cc->node);
	if (cc->requester) {
		cc->requester->cancel_req = NULL;
		client_close(cc->requester, "cancel request delivered");
	}
	free(cc);
	if (!s || --s->cancels_in_flight > 0)
		return;
	if (s->client)
		conn_resume(&s->client->conn); /* its next frames waited for the cancel */
	else if (s->state == SV_USED && server_is_quiet(s) && s->tx_state == PQ_TX_IDLE)
		pool_server_ready(s->pool, s);
}

static void cancel_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	CancelConn *cc = h->data;
	(void)suggested;
	*buf = uv_buf_init(cc->scratch, sizeof(cc->scratch));
}

static void cancel_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	CancelConn *cc = stream->data;
	(void)buf;
	if (nread < 0)
		uv_close(&cc->h.handle, cancel_close_cb);
}

/* PostgreSQL closes the connection once it has signalled the backend: only then is the cancel
 * delivered (and the requester told, by its own connection closing, as PostgreSQL does). */
static void cancel_write_cb(uv_write_t *req, int status)
{
	CancelConn *cc = req->data;
	if (status != 0 || uv_read_start(&cc->h.stream, cancel_alloc_cb, cancel_read_cb) != 0)
		uv_close(&cc->h.handle, cancel_close_cb);
}

static void cancel_connect_cb(uv_connect_t *req, int status)
{
	CancelConn *cc = req->data;
	if (status != 0) {
		log_warn("could not send cancel request: %s", uv_strerror(status));
		uv_close(&cc->h.handle, cancel_close_cb);
		return;
	}
	cc->buf = uv_buf_init((char *)cc->pkt, 16);
	cc->wreq.data = cc;
	if (uv_write(&cc->wreq, &cc->h.stream, &cc->buf, 1, cancel_write_cb) != 0)
		uv_close(&cc->h.handle, cancel_close_cb);
}

/* Opens a connection to s's address that carries a CancelRequest for its backend. NULL when
 * the server has no backend yet, or the cancel could not be sent. */
static CancelConn *cancel_conn_open(Server *s)
{
	if (s->state == SV_CLOSING || s->state == SV_CONNECTING || s->state == SV_LOGIN)
		return NULL;
	CancelConn *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return NULL;
	uint32_t words[4] = {htonl(16), htonl(PQ_CANCEL_REQUEST_CODE), htonl(s->be_pid),
			     htonl(s->be_key)};
	memcpy(cc->pkt, words, 16);
	cc->server = s;
	s->cancels_in_flight++;
	list_append(&cancel_conns, &cc->node);
	cc->req.data = cc;
	int r;
	if (s->conn.is_pipe) {
		uv_pipe_init(G.loop, &cc->h.pipe, 0);
		cc->h.handle.data = cc;
		char path[512];
		snprintf(path, sizeof(path), "%s/.s.PGSQL.%d", s->addr_str, s->port);
		uv_pipe_connect(&cc->req, &cc->h.pipe, path, cancel_connect_cb);
		return cc;
	}
	uv_tcp_init(G.loop, &cc->h.tcp);
	cc->h.handle.data = cc;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	r = uv_tcp_getpeername(&s->conn.h.tcp, (struct sockaddr *)&ss, &len);
	if (r == 0)
		r = uv_tcp_connect(&cc->req, &cc->h.tcp, (struct sockaddr *)&ss, cancel_connect_cb);
	if (r != 0) {
		log_warn("could not send cancel request: %s", uv_strerror(r));
		uv_close(&cc->h.handle, cancel_close_cb);
		return NULL;
	}
	return cc;
}
