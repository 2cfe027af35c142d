/*
 * cancel: cancel keys, CancelRequests and the connections that carry them to PostgreSQL. See
 * cancel.h.
 *
 * A cancel travels on a connection of its own (CancelConn) to the server's address, and is
 * delivered when PostgreSQL closes that connection, having signalled the backend. Until then the
 * server counts it in cancels_in_flight; when the last one is delivered, the client's frames that
 * waited go on, or a server the pool held back (pool_server_ready) goes back to the pool. When
 * the server's own connection is TLS, so is the cancel's (SSLRequest, handshake, then the
 * CancelRequest inside TLS), so that the cancel key never crosses the network in plaintext.
 */
#include "proxy/cancel.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "config/log.h"
#include "proxy/client.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/takeover.h"

#define CANCEL_BUCKETS 4096

typedef struct CancelConn CancelConn;

static CancelConn *cancel_conn_open(Server *s);
static void cancel_close_cb(uv_handle_t *h);
static void cancel_connect_cb(uv_connect_t *req, int status);
static PktAction cancel_to_peer(Client *c, int peer, uint32_t pid, uint32_t key);

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
	Tls *tls;	   /* when the server's connection is TLS (owned) */
	uint8_t phase;	   /* CANCEL_* below */
	TlsMode mode;
};

enum { CANCEL_PLAIN = 0, CANCEL_SSL_ANSWER, CANCEL_HANDSHAKE, CANCEL_SENT };

/* TLS records of a cancel connection land here (read callbacks never nest). */
static char cancel_tls_buf[16384];

/* Every CancelConn not yet closed (owned; freed in cancel_close_cb). */
static List cancel_conns = {{&cancel_conns.head, &cancel_conns.head}, 0};

void cancel_init(void)
{
	for (int i = 0; i < CANCEL_BUCKETS; i++)
		list_init(&cancel_buckets[i]);
}

/* ---- cancel keys ---- */

/*
 * Peering (peer_id set): the pid half of a key carries, from the top, a 2-bit hop limit (3 in
 * the keys this process hands out), the 14-bit peer_id of the process the client is on, and 16
 * random bits; the other 32 bits stay random. Any process of the group can then tell whose
 * client a CancelRequest names, and pass it on to that peer with the hop limit lowered, so that
 * a [peers] section that points in a circle cannot pass a cancel around for ever.
 */
#define PEER_HOPS_SHIFT 30
#define PEER_HOPS_MAX 3u
#define PEER_ID_SHIFT 16
#define PEER_ID_MASK 0x3fffu

static uint32_t cancel_new_pid(void)
{
	uint32_t r = proxy_random_u32();
	if (!G.cfg->peer_id)
		return r;
	return PEER_HOPS_MAX << PEER_HOPS_SHIFT | (uint32_t)G.cfg->peer_id << PEER_ID_SHIFT |
	       (r & 0xffffu);
}

void cancel_register(Client *c)
{
	/* a pid nobody uses yet, so that a cancel can never reach the wrong client */
	do
		c->cancel_pid = cancel_new_pid();
	while (c->cancel_pid == 0 || cancel_find(c->cancel_pid, c->cancel_key));
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

/* The server to cancel for the client that (pid, key) names, or NULL (logged) when there is
 * none or its statement already finished. */
static Server *cancel_target(uint32_t pid, uint32_t key, bool *known)
{
	if (G.cfg->peer_id) /* the key as this process gave it: a peer lowered the hops */
		pid |= PEER_HOPS_MAX << PEER_HOPS_SHIFT;
	Client *target = cancel_find(pid, key);
	*known = target != NULL;
	Server *s = target ? target->server : NULL;
	if (!s) {
		log_debug("cancel request for %s: nothing to cancel",
			  target ? "a client without a server" : "an unknown key");
		return NULL;
	}
	log_info("cancel request for client %s:%d", target->addr, target->port);
	if (!server_runs_client_request(s)) {
		log_debug("server pid %u: cancel request dropped, the statement had already "
			  "finished",
			  s->be_pid);
		return NULL;
	}
	return s;
}

PktAction cancel_request(Client *c, const PktHdr *hdr, const uint8_t *pkt)
{
	if (hdr->len == 16) {
		uint32_t pid = pkt_be32(pkt + 8), key = pkt_be32(pkt + 12);
		int peer = (int)(pid >> PEER_ID_SHIFT & PEER_ID_MASK);
		if (G.cfg->peer_id && peer != G.cfg->peer_id)
			return cancel_to_peer(c, peer, pid, key);
		bool known;
		Server *s = cancel_target(pid, key, &known);
		CancelConn *cc = s ? cancel_conn_open(s) : NULL;
		if (cc) {
			cc->requester = c;
			c->cancel_req = cc;
			return PA_CONSUMED; /* closed when delivered */
		}
		/* a client of the pgsift this one took the sockets over from */
		if (!known && takeover_has_predecessor())
			takeover_forward_cancel(pid, key);
	}
	client_close(c, "cancel request served");
	return PA_CLOSED;
}

void cancel_passed_back(uint32_t pid, uint32_t key)
{
	bool known;
	Server *s = cancel_target(pid, key, &known);
	if (s)
		(void)cancel_conn_open(s);
	else if (!known && takeover_has_predecessor())
		takeover_forward_cancel(pid, key);
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
	tls_free(cc->tls);
	if (cc->requester) {
		cc->requester->cancel_req = NULL;
		client_close(cc->requester, "cancel request delivered");
	}
	free(cc);
	if (!s || --s->cancels_in_flight > 0)
		return;
	conn_tick(); /* the frames resumed below are timed from now */
	if (s->client)
		conn_resume(&s->client->conn); /* its next frames waited for the cancel */
	else if (s->state == SV_USED && server_is_quiet(s) && s->tx_state == PQ_TX_IDLE)
		pool_server_ready(s->pool, s);
}

static void cancel_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	CancelConn *cc = h->data;
	(void)suggested;
	if (cc->phase == CANCEL_SSL_ANSWER || cc->phase == CANCEL_HANDSHAKE || cc->tls)
		*buf = uv_buf_init(cancel_tls_buf, sizeof(cancel_tls_buf));
	else
		*buf = uv_buf_init(cc->scratch, sizeof(cc->scratch));
}

static void cancel_own_write_cb(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

/* Bytes of pgsift's own to the cancel connection (copied). */
static bool cancel_send(CancelConn *cc, const void *data, size_t len)
{
	uv_write_t *w = malloc(sizeof(*w) + len);
	if (!w)
		return false;
	memcpy(w + 1, data, len);
	uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
	if (uv_write(w, &cc->h.stream, &b, 1, cancel_own_write_cb) != 0) {
		free(w);
		return false;
	}
	return true;
}

static bool cancel_tls_send_out(CancelConn *cc)
{
	char chunk[4096];
	size_t n;
	while ((n = tls_take_out(cc->tls, chunk, sizeof(chunk))) > 0)
		if (!cancel_send(cc, chunk, n))
			return false;
	return true;
}

/* The server's answer to SSLRequest, then the handshake, then the CancelRequest inside TLS.
 * False when the cancel cannot go on (the connection is then closed). */
static bool cancel_tls_step(CancelConn *cc, const char *data, size_t len)
{
	if (cc->phase == CANCEL_SSL_ANSWER) {
		if (data[0] == 'N' && cc->mode < TLS_REQUIRE) {
			cc->phase = CANCEL_SENT; /* as the server's own login went: plaintext */
			return cancel_send(cc, cc->pkt, 16);
		}
		if (data[0] != 'S' || len != 1) {
			log_warn("cancel request not sent: the server refused TLS");
			return false;
		}
		const char *host = cc->server ? cc->server->pool->db->host : NULL;
		cc->tls = tls_new_connect(host, cc->mode);
		cc->phase = CANCEL_HANDSHAKE;
		return cc->tls && tls_handshake(cc->tls) != TLS_FAIL && cancel_tls_send_out(cc);
	}
	if (!tls_feed(cc->tls, data, len))
		return false;
	if (cc->phase == CANCEL_HANDSHAKE) {
		TlsStep st = tls_handshake(cc->tls);
		if (st == TLS_FAIL) {
			log_warn("cancel request not sent: %s", tls_error(cc->tls));
			return false;
		}
		if (st == TLS_DONE) {
			cc->phase = CANCEL_SENT;
			if (!tls_write(cc->tls, cc->pkt, 16))
				return false;
			log_debug("cancel request for backend %u sent over TLS",
				  cc->server ? cc->server->be_pid : 0);
		}
		return cancel_tls_send_out(cc);
	}
	/* after the cancel: whatever comes (a session ticket) is read and dropped */
	char sink[512];
	while (tls_read(cc->tls, sink, sizeof(sink)) > 0)
		;
	return cancel_tls_send_out(cc);
}

static void cancel_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	CancelConn *cc = stream->data;
	if (nread > 0 && cc->phase != CANCEL_PLAIN && (cc->phase != CANCEL_SENT || cc->tls) &&
	    !cancel_tls_step(cc, buf->base, (size_t)nread)) {
		uv_close(&cc->h.handle, cancel_close_cb);
		return;
	}
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
	if (cc->phase == CANCEL_SSL_ANSWER) {
		static const uint8_t ssl_request[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
		if (!cancel_send(cc, ssl_request, sizeof(ssl_request)) ||
		    uv_read_start(&cc->h.stream, cancel_alloc_cb, cancel_read_cb) != 0)
			uv_close(&cc->h.handle, cancel_close_cb);
		return;
	}
	cc->buf = uv_buf_init((char *)cc->pkt, 16);
	cc->wreq.data = cc;
	if (uv_write(&cc->wreq, &cc->h.stream, &cc->buf, 1, cancel_write_cb) != 0)
		uv_close(&cc->h.handle, cancel_close_cb);
}

/* A CancelConn that will carry CancelRequest(pid, key), in cancel_conns; NULL without memory. */
static CancelConn *cancel_conn_new(uint32_t pid, uint32_t key)
{
	CancelConn *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return NULL;
	uint32_t words[4] = {htonl(16), htonl(PQ_CANCEL_REQUEST_CODE), htonl(pid), htonl(key)};
	memcpy(cc->pkt, words, 16);
	list_append(&cancel_conns, &cc->node);
	cc->req.data = cc;
	return cc;
}

/* ---- forwarding to a peer ---- */

static void cancel_peer_resolved_cb(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
	CancelConn *cc = gai->data;
	free(gai);
	int r = status;
	if (r == 0)
		r = uv_tcp_connect(&cc->req, &cc->h.tcp, res->ai_addr, cancel_connect_cb);
	uv_freeaddrinfo(res);
	if (r != 0) {
		log_warn("could not forward a cancel request to a peer: %s", uv_strerror(r));
		uv_close(&cc->h.handle, cancel_close_cb);
	}
}

/* Connects cc to a peer: a Unix socket directory, an IP address, or a name resolved now (so
 * that a peer's address may change between cancels). Returns 0 or a libuv error (cc is then
 * being closed). */
static int cancel_peer_connect(CancelConn *cc, const PeerEntry *pe)
{
	if (pe->host[0] == '/') {
		uv_pipe_init(G.loop, &cc->h.pipe, 0);
		cc->h.handle.data = cc;
		char path[512];
		snprintf(path, sizeof(path), "%s/.s.PGSQL.%d", pe->host, pe->port);
		uv_pipe_connect(&cc->req, &cc->h.pipe, path, cancel_connect_cb);
		return 0;
	}
	uv_tcp_init(G.loop, &cc->h.tcp);
	cc->h.handle.data = cc;
	struct sockaddr_storage ss;
	int r;
	if (uv_ip4_addr(pe->host, pe->port, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(pe->host, pe->port, (struct sockaddr_in6 *)&ss) == 0) {
		r = uv_tcp_connect(&cc->req, &cc->h.tcp, (struct sockaddr *)&ss, cancel_connect_cb);
	} else {
		uv_getaddrinfo_t *gai = malloc(sizeof(*gai));
		char port[8];
		snprintf(port, sizeof(port), "%d", pe->port);
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
		r = gai ? 0 : UV_ENOMEM;
		if (gai) {
			gai->data = cc;
			r = uv_getaddrinfo(G.loop, gai, cancel_peer_resolved_cb, pe->host, port,
					   &hints);
			if (r != 0)
				free(gai);
		}
	}
	if (r != 0)
		uv_close(&cc->h.handle, cancel_close_cb);
	return r;
}

/*
 * A CancelRequest for a client of another process of the [peers] group: passed on to that
 * peer with one hop less, and c closed once the peer closes its connection (it does when the
 * cancel was delivered, or dropped), as for a cancel this process sends to PostgreSQL.
 */
static PktAction cancel_to_peer(Client *c, int peer, uint32_t pid, uint32_t key)
{
	const PeerEntry *pe = config_find_peer(G.cfg, peer);
	uint32_t hops = pid >> PEER_HOPS_SHIFT;
	if (!pe || hops == 0) {
		log_info("cancel request for peer %d dropped: %s", peer,
			 pe ? "too many hops (do the [peers] of the group agree?)" :
			      "no such peer in [peers]");
	} else {
		pid = (pid & ~(PEER_HOPS_MAX << PEER_HOPS_SHIFT)) | (hops - 1) << PEER_HOPS_SHIFT;
		CancelConn *cc = cancel_conn_new(pid, key);
		if (cc && cancel_peer_connect(cc, pe) == 0) {
			log_info("cancel request forwarded to peer %d (%s:%d)", peer, pe->host,
				 pe->port);
			cc->requester = c;
			c->cancel_req = cc;
			return PA_CONSUMED;
		}
		if (!cc)
			log_warn("cancel request for peer %d dropped: out of memory", peer);
	}
	client_close(c, "cancel request served");
	return PA_CLOSED;
}

/* Opens a connection to s's address that carries a CancelRequest for its backend. NULL when
 * the server has no backend yet, or the cancel could not be sent. */
static CancelConn *cancel_conn_open(Server *s)
{
	if (s->state == SV_CLOSING || s->state == SV_CONNECTING || s->state == SV_LOGIN)
		return NULL;
	CancelConn *cc = cancel_conn_new(s->be_pid, s->be_key);
	if (!cc)
		return NULL;
	cc->server = s;
	s->cancels_in_flight++;
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
	if (s->conn.tls) {
		int m = s->pool->db->sslmode;
		cc->mode = m >= 0 ? (TlsMode)m : G.cfg->server_tls_sslmode;
		cc->phase = CANCEL_SSL_ANSWER;
	}
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
