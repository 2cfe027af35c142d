/*
 * admin: the admin console. See admin.h. Each command builds its whole answer (RowDescription,
 * DataRows, CommandComplete, ReadyForQuery) into one PktBuf and sends it with one write.
 */
#include "proxy/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/log.h"
#include "proxy/client.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "proxy/server.h"

#define PGSIFT_VERSION_STRING "pgsift 0.1.0"

static bool admin_is_admin(const Client *c)
{
	return config_list_has(G.cfg->admin_users, c->user);
}

bool admin_login(Client *c)
{
	bool stats_only = config_list_has(G.cfg->stats_users, c->user);
	if (!admin_is_admin(c) && !stats_only) {
		client_fail(c, "28000", "not allowed to use the admin console: \"%s\" is not in "
					"admin_users or stats_users",
			    c->user);
		return false;
	}
	c->state = CL_ADMIN;
	PktBuf b;
	pktbuf_init(&b);
	pq_write_auth(&b, PQ_AUTH_OK, NULL, 0);
	pq_write_parameter_status(&b, "server_version", "15.0 (" PGSIFT_VERSION_STRING ")");
	pq_write_parameter_status(&b, "client_encoding", "UTF8");
	pq_write_parameter_status(&b, "server_encoding", "UTF8");
	pq_write_parameter_status(&b, "DateStyle", "ISO, MDY");
	pq_write_parameter_status(&b, "standard_conforming_strings", "on");
	pq_write_parameter_status(&b, "application_name", c->app_name ? c->app_name : "");
	pq_write_backend_key(&b, c->cancel_pid, c->cancel_key);
	pq_write_ready(&b, PQ_TX_IDLE);
	(void)conn_send_pktbuf(&c->conn, &b);
	pktbuf_free(&b);
	return true;
}

static void admin_rows_begin(PktBuf *b, const char *const *names, const uint32_t *types, size_t n)
{
	pq_write_row_description(b, names, types, n);
}

static void admin_show_version(PktBuf *b)
{
	static const char *const names[] = { "version" };
	static const uint32_t types[] = { 25 };
	const char *vals[] = { PGSIFT_VERSION_STRING };
	admin_rows_begin(b, names, types, 1);
	pq_write_data_row(b, vals, 1);
	pq_write_command_complete(b, "SHOW");
}

static void admin_show_pools(PktBuf *b)
{
	static const char *const names[] = { "database",   "user",	   "cl_active", "cl_waiting",
					     "cl_active_cancel_req", "cl_waiting_cancel_req",
					     "sv_active", "sv_active_cancel", "sv_being_canceled",
					     "sv_idle",	 "sv_used",   "sv_tested", "sv_login",
					     "maxwait",	 "maxwait_us", "pool_mode" };
	static const uint32_t types[] = { 25, 25, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 25 };
	admin_rows_begin(b, names, types, 16);
	ListNode *n;
	uint64_t now = proxy_now_ms();
	for (n = G.pools.head.next; n != &G.pools.head; n = n->next) {
		Pool *p = list_entry(n, Pool, node);
		char v[16][32];
		uint64_t maxwait_ms = 0;
		ListNode *w = list_first(&p->waiting_clients);
		if (w) {
			Client *wc = list_entry(w, Client, pool_node);
			maxwait_ms = now - wc->wait_start_ms;
		}
		snprintf(v[2], 32, "%zu", p->active_clients.count + p->login_clients.count);
		snprintf(v[3], 32, "%zu", p->waiting_clients.count);
		snprintf(v[4], 32, "0");
		snprintf(v[5], 32, "0");
		snprintf(v[6], 32, "%zu", p->active_servers.count);
		snprintf(v[7], 32, "0");
		snprintf(v[8], 32, "0");
		snprintf(v[9], 32, "%zu", p->idle_servers.count);
		snprintf(v[10], 32, "%zu", p->used_servers.count);
		snprintf(v[11], 32, "0");
		snprintf(v[12], 32, "%zu", p->login_servers.count);
		snprintf(v[13], 32, "%llu", (unsigned long long)(maxwait_ms / 1000));
		snprintf(v[14], 32, "%llu", (unsigned long long)(maxwait_ms % 1000) * 1000);
		const char *vals[16] = { p->dbname, p->user, v[2], v[3], v[4], v[5], v[6], v[7],
					 v[8], v[9], v[10], v[11], v[12], v[13], v[14],
					 pool_mode_str(p->mode) };
		pq_write_data_row(b, vals, 16);
	}
	pq_write_command_complete(b, "SHOW");
}

static void admin_simple_ok(PktBuf *b, const char *tag)
{
	pq_write_command_complete(b, tag);
}

/* Runs one console command; false when the client was closed (SHUTDOWN...). */
static void admin_command(Client *c, const char *sql, PktBuf *b)
{
	char cmd[256];
	size_t n = 0;
	for (const char *p = sql; *p && n < sizeof(cmd) - 1; p++) {
		if (*p == ';')
			break;
		cmd[n++] = *p;
	}
	while (n > 0 && (cmd[n - 1] == ' ' || cmd[n - 1] == '\n' || cmd[n - 1] == '\t'))
		n--;
	cmd[n] = '\0';
	const char *s = cmd;
	while (*s == ' ' || *s == '\n' || *s == '\t')
		s++;
	if (strcasecmp(s, "SHOW VERSION") == 0) {
		admin_show_version(b);
	} else if (strcasecmp(s, "SHOW POOLS") == 0) {
		admin_show_pools(b);
	} else if (*s == '\0') {
		pq_write_empty_query(b);
	} else if (!admin_is_admin(c) && strncasecmp(s, "SHOW", 4) != 0) {
		pq_write_error(b, "ERROR", "42501", "admin access needed", NULL, NULL);
	} else if (strcasecmp(s, "PAUSE") == 0) {
		G.paused = true;
		admin_simple_ok(b, "PAUSE");
	} else if (strcasecmp(s, "RESUME") == 0) {
		G.paused = false;
		admin_simple_ok(b, "RESUME");
	} else {
		char msg[400];
		snprintf(msg, sizeof(msg), "unsupported admin command: %s", s);
		pq_write_error(b, "ERROR", "42601", msg, NULL, NULL);
	}
}

PktAction admin_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt)
{
	if (hdr->type == PQ_MSG_TERMINATE) {
		client_close(c, "admin client terminated");
		return PA_CLOSED;
	}
	if (hdr->type != PQ_MSG_QUERY) {
		client_fail(c, "08P01", "the admin console supports only the simple query protocol");
		return PA_CLOSED;
	}
	const char *sql;
	PktReader r;
	pkt_reader_init(&r, pkt + 5, hdr->len - 5);
	if (!pkt_get_cstring(&r, &sql, NULL)) {
		client_fail(c, "08P01", "invalid Query message");
		return PA_CLOSED;
	}
	PktBuf b;
	pktbuf_init(&b);
	admin_command(c, sql, &b);
	pq_write_ready(&b, PQ_TX_IDLE);
	int rc = conn_send_pktbuf(&c->conn, &b);
	pktbuf_free(&b);
	if (rc != 0) {
		client_close(c, "write failed");
		return PA_CLOSED;
	}
	return PA_CONSUMED;
}
