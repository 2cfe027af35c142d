/*
 * admin: the admin console. See admin.h, and admin_internal.h for the files it is written in.
 *
 * Every command is one row of admin_commands below: its words, whether it needs admin_users,
 * its handler and its line in SHOW HELP. Adding a command is adding a row (and its handler, in
 * admin_pgbouncer.c when PgBouncer has it, else in admin_pgsift.c).
 *
 * The PgBouncer-compatible answers copy PgBouncer 1.18 exactly in column names, order and type
 * OIDs (text 25, int4 23, int8 20, numeric 1700), checked side by side against Debian's
 * pgbouncer by tests/integration/test_admin.py. Like PgBouncer, the console itself shows up as
 * a pseudo database and pool (named `pgsift`) in SHOW POOLS, SHOW STATS and SHOW DATABASES.
 * What pgsift does not have (TLS, DNS cache, cancel-request lists) is rendered as PgBouncer
 * renders an idle instance: 0 or an empty string.
 */
#include "proxy/admin_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/log.h"
#include "proxy/client.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"

/* The console's own traffic, for its pseudo database's row in SHOW STATS. */
static uint64_t admin_queries;

static bool admin_command(Client *c, const char *sql, PktBuf *b);
static void admin_show_help(PktBuf *b);
static bool admin_word_is(const AdminCmd *cmd, size_t i, const char *kw);

/* One row per command, in SHOW HELP's order. */
const AdminCommand admin_commands[] = {
	{"SHOW", "HELP", 2, 2, false, admin_show_help, NULL,
	 "SHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION"},
	{"SHOW", "CONFIG", 2, 2, false, admin_show_config, NULL, NULL},
	{"SHOW", "DATABASES", 2, 2, false, admin_show_databases, NULL, NULL},
	{"SHOW", "POOLS", 2, 2, false, admin_show_pools, NULL, NULL},
	{"SHOW", "CLIENTS", 2, 2, false, admin_show_clients, NULL, NULL},
	{"SHOW", "SERVERS", 2, 2, false, admin_show_servers, NULL, NULL},
	{"SHOW", "USERS", 2, 2, false, admin_show_users, NULL, NULL},
	{"SHOW", "VERSION", 2, 2, false, admin_show_version, NULL, NULL},
	{"SHOW", "LISTS", 2, 2, false, admin_show_lists, NULL, "SHOW LISTS"},
	{"SHOW", "PEERS", 2, 2, false, admin_show_peers, NULL, "SHOW PEERS"},
	{"SHOW", "STATS", 2, 2, false, admin_show_stats, NULL,
	 "SHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS"},
	{"SHOW", "STATS_TOTALS", 2, 2, false, admin_show_stats_totals, NULL, NULL},
	{"SHOW", "STATS_AVERAGES", 2, 2, false, admin_show_stats_averages, NULL, NULL},
	{"SHOW", "TOTALS", 2, 2, false, admin_show_totals, NULL, NULL},
	{"SHOW", "QUERIES", 2, 2, false, admin_show_queries, NULL, "SHOW QUERIES|SLOW|SUGGESTIONS"},
	{"SHOW", "SLOW", 2, 2, false, admin_show_slow, NULL, NULL},
	{"SHOW", "SUGGESTIONS", 2, 2, false, NULL, admin_show_suggestions, NULL},
	{"RESET", "STATS", 2, 2, true, NULL, admin_reset_stats, "RESET STATS"},
	{"RELOAD", NULL, 1, 1, true, NULL, admin_reload, "RELOAD"},
	{"PAUSE", NULL, 1, 2, true, NULL, admin_pause, "PAUSE [<db>]"},
	{"RESUME", NULL, 1, 2, true, NULL, admin_resume, "RESUME [<db>]"},
	/* KILL says itself what is wrong with its arguments */
	{"KILL", NULL, 1, ADMIN_MAX_WORDS, true, NULL, admin_kill, "KILL <db>"},
	{"SHUTDOWN", NULL, 1, 1, true, NULL, admin_shutdown, "SHUTDOWN"},
	{NULL, NULL, 0, 0, false, NULL, NULL, NULL},
};

/* ---- public ---- */

bool admin_login(Client *c)
{
	bool stats_only = config_list_has(G.cfg->stats_users, c->user);
	if (!admin_is_admin(c) && !stats_only) {
		client_fail(c, "28000",
			    "not allowed to use the admin console: \"%s\" is not in "
			    "admin_users or stats_users",
			    c->user);
		return false;
	}
	pool_change_client_state(c, CL_ADMIN);
	PktBuf b;
	pktbuf_init(&b);
	pq_write_auth(&b, PQ_AUTH_OK, NULL, 0);
	pq_write_parameter_status(&b, "server_version", "15.0 (" PGSIFT_VERSION_STRING ")");
	pq_write_parameter_status(&b, "client_encoding", "UTF8");
	pq_write_parameter_status(&b, "server_encoding", "UTF8");
	pq_write_parameter_status(&b, "DateStyle", "ISO, MDY");
	pq_write_parameter_status(&b, "integer_datetimes", "on");
	pq_write_parameter_status(&b, "standard_conforming_strings", "on");
	pq_write_parameter_status(&b, "application_name", c->app_name ? c->app_name : "");
	pq_write_backend_key(&b, c->cancel_pid, c->cancel_key);
	pq_write_ready(&b, PQ_TX_IDLE);
	if (!client_send(c, &b))
		return false;
	if (G.cfg->log_connections)
		log_info("client %s:%d login to the admin console as %s%s", c->addr, c->port,
			 c->user, stats_only && !admin_is_admin(c) ? " (stats_users)" : "");
	return true;
}

PktAction admin_frame(Client *c, const PktHdr *hdr, const uint8_t *pkt)
{
	if (hdr->type == PQ_MSG_TERMINATE) {
		client_close(c, "admin client terminated");
		return PA_CLOSED;
	}
	if (hdr->type != PQ_MSG_QUERY) {
		client_fail(c, "08P01",
			    "the admin console supports only the simple query protocol");
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
	if (!admin_command(c, sql, &b)) {
		/* SHOW SUGGESTIONS is being computed: this frame comes back at conn_resume */
		pktbuf_free(&b);
		return PA_WAIT;
	}
	admin_queries++;
	pq_write_ready(&b, PQ_TX_IDLE);
	if (pktbuf_failed(&b)) {
		pktbuf_free(&b);
		client_fail(c, "53200", "out of memory building the admin console's answer");
		return PA_CLOSED;
	}
	return client_send(c, &b) ? PA_CONSUMED : PA_CLOSED;
}

/* ---- helpers ---- */

bool admin_is_admin(const Client *c)
{
	return config_list_has(G.cfg->admin_users, c->user);
}

void admin_describe(PktBuf *b, const AdminCol *cols, size_t n)
{
	const char *names[ADMIN_MAX_COLS];
	uint32_t oids[ADMIN_MAX_COLS];
	for (size_t i = 0; i < n && i < ADMIN_MAX_COLS; i++) {
		names[i] = cols[i].name;
		oids[i] = cols[i].oid;
	}
	pq_write_row_description(b, names, oids, n);
}

void admin_row_str(AdminRow *r, const char *s)
{
	r->v[r->n++] = s;
}

void admin_row_fmt(AdminRow *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->buf[r->n], ADMIN_VAL_MAX, fmt, ap);
	va_end(ap);
	r->v[r->n] = r->buf[r->n];
	r->n++;
}

void admin_row_u64(AdminRow *r, uint64_t v)
{
	admin_row_fmt(r, "%llu", (unsigned long long)v);
}

void admin_row_ms(AdminRow *r, double v)
{
	admin_row_fmt(r, "%.3f", v);
}

void admin_row_send(PktBuf *b, AdminRow *r)
{
	pq_write_data_row(b, r->v, r->n);
	r->n = 0;
}

/* Wall-clock microseconds now. */
static int64_t admin_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void admin_row_mono_time(AdminRow *r, uint64_t mono_ms)
{
	if (mono_ms == 0) {
		admin_row_str(r, "");
		return;
	}
	uint64_t now = proxy_now_ms();
	int64_t wall_us = admin_wall_us() - (int64_t)(now > mono_ms ? now - mono_ms : 0) * 1000;
	time_t t = (time_t)(wall_us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(r->buf[r->n], ADMIN_VAL_MAX, "%Y-%m-%d %H:%M:%S UTC", &tm);
	r->v[r->n] = r->buf[r->n];
	r->n++;
}

void admin_row_iso_time(AdminRow *r, int64_t wall_us)
{
	if (wall_us <= 0) {
		r->v[r->n++] = NULL;
		return;
	}
	time_t t = (time_t)(wall_us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char date[40];
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	admin_row_fmt(r, "%s.%06lld+00", date, (long long)(wall_us % 1000000));
}

void admin_error(PktBuf *b, const char *sqlstate, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pq_write_error(b, "ERROR", sqlstate, msg, NULL, NULL);
}

/* Splits a command into words. Returns false when it is empty. */
bool admin_parse(const char *sql, AdminCmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	const char *p = sql;
	while (isspace((unsigned char)*p))
		p++;
	size_t tl = strlen(p);
	while (tl > 0 && (isspace((unsigned char)p[tl - 1]) || p[tl - 1] == ';'))
		tl--;
	if (tl >= sizeof(cmd->text))
		tl = sizeof(cmd->text) - 1;
	memcpy(cmd->text, p, tl);
	cmd->text[tl] = '\0';
	const char *s = cmd->text;
	while (*s) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		if (cmd->n == ADMIN_MAX_WORDS) {
			cmd->too_many = true;
			break;
		}
		char *w = cmd->words[cmd->n++];
		size_t wl = 0;
		if (*s == '"') {
			s++;
			while (*s && !(*s == '"' && s[1] != '"')) {
				if (*s == '"')
					s++;
				if (wl < ADMIN_WORD_MAX - 1)
					w[wl++] = *s;
				s++;
			}
			if (*s == '"')
				s++;
		} else {
			while (*s && !isspace((unsigned char)*s)) {
				if (wl < ADMIN_WORD_MAX - 1)
					w[wl++] = *s;
				s++;
			}
		}
		w[wl] = '\0';
	}
	return cmd->n > 0;
}

static bool admin_word_is(const AdminCmd *cmd, size_t i, const char *kw)
{
	return i < cmd->n && strcasecmp(cmd->words[i], kw) == 0;
}

bool admin_db_known(const char *name, bool with_fallback)
{
	for (size_t i = 0; i < G.cfg->n_dbs; i++)
		if (strcmp(G.cfg->dbs[i].name, name) == 0 ||
		    (with_fallback && strcmp(G.cfg->dbs[i].name, "*") == 0))
			return true;
	for (ListNode *n = G.pools.head.next; n != &G.pools.head; n = n->next)
		if (strcmp(list_entry(n, Pool, node)->dbname, name) == 0)
			return true;
	return false;
}

bool admin_is_admin_db(const char *name)
{
	return strcmp(name, "pgsift") == 0 || strcmp(name, "pgbouncer") == 0;
}

const char **admin_db_names(size_t *count)
{
	size_t cap = G.cfg->n_dbs + G.pools.count + 1, n = 0;
	const char **names = calloc(cap, sizeof(*names));
	if (!names) {
		*count = 0;
		return NULL;
	}
	for (size_t i = 0; i < G.cfg->n_dbs; i++)
		if (strcmp(G.cfg->dbs[i].name, "*") != 0)
			names[n++] = G.cfg->dbs[i].name;
	for (ListNode *ln = G.pools.head.next; ln != &G.pools.head; ln = ln->next) {
		const char *d = list_entry(ln, Pool, node)->dbname;
		bool seen = false;
		for (size_t i = 0; i < n && !seen; i++)
			seen = strcmp(names[i], d) == 0;
		if (!seen && n < cap)
			names[n++] = d;
	}
	*count = n;
	return names;
}

/* ---- the command table ---- */

const AdminCommand *admin_find_verb(const AdminCmd *cmd)
{
	for (const AdminCommand *k = admin_commands; k->verb; k++)
		if (admin_word_is(cmd, 0, k->verb))
			return k;
	return NULL;
}

const AdminCommand *admin_find_command(const AdminCmd *cmd)
{
	for (const AdminCommand *k = admin_commands; k->verb; k++)
		if (admin_word_is(cmd, 0, k->verb) &&
		    (!k->object || admin_word_is(cmd, 1, k->object)) && cmd->n >= k->min_words &&
		    cmd->n <= k->max_words)
			return k;
	return NULL;
}

void admin_help_text(char *buf, size_t cap)
{
	size_t o = 0;
	buf[0] = '\0';
	for (const AdminCommand *k = admin_commands; k->verb && o < cap; k++)
		if (k->help)
			o += (size_t)snprintf(buf + o, cap - o, "\n\t%s", k->help);
}

static void admin_show_help(PktBuf *b)
{
	char text[512];
	admin_help_text(text, sizeof(text));
	pq_write_notice(b, "Console usage", text);
	pq_write_command_complete(b, "SHOW");
}

uint64_t admin_query_count(void)
{
	return admin_queries;
}

/*
 * Runs one console command, appending its answer (without ReadyForQuery) to b. Returns false
 * when the answer is not ready (SHOW SUGGESTIONS on its worker thread): nothing was appended,
 * and the caller must wait for the same command to come back. A command of a known verb that
 * needs admin_users is refused (42501) to anyone else before its words are looked at.
 */
static bool admin_command(Client *c, const char *sql, PktBuf *b)
{
	AdminCmd cmd;
	if (!admin_parse(sql, &cmd)) {
		pq_write_empty_query(b);
		return true;
	}
	const AdminCommand *verb = cmd.too_many ? NULL : admin_find_verb(&cmd);
	if (verb && verb->needs_admin && !admin_is_admin(c)) {
		admin_error(b, "42501", "admin access needed for %s: \"%s\" is only in stats_users",
			    cmd.words[0], c->user);
		return true;
	}
	const AdminCommand *k = verb ? admin_find_command(&cmd) : NULL;
	if (!k) {
		admin_error(b, "42601", "unsupported admin command: %s (try SHOW HELP)", cmd.text);
		return true;
	}
	if (k->show) {
		k->show(b);
		return true;
	}
	return k->run(c, &cmd, b);
}
