/*
 * proxy: process-wide state and the event loop. See proxy.h.
 *
 * Timeouts are enforced by one janitor timer (every 100 ms) that walks clients and pools, as
 * PgBouncer's janitor does: cheaper and simpler than a timer per connection, and precise enough
 * for timeouts that are configured in seconds or hundreds of milliseconds.
 */
#include "proxy/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config/log.h"
#include "proxy/authquery.h"
#include "proxy/cancel.h"
#include "proxy/client.h"
#include "proxy/conn.h"
#include "proxy/metrics.h"
#include "proxy/pool.h"
#include "proxy/server.h"
#include "proxy/tls.h"
#include "proxy/sockopt.h"
#include "proxy/takeover.h"
#include "stats/stats.h"

#define JANITOR_MS 100
#define MAX_LISTENERS 16

ProxyGlobals G;

typedef struct Listener {
	ConnHandle h;
	bool is_pipe;
	bool active;
	char name[300];
} Listener;

/* Every slot up to n_listeners holds an initialised handle (closed or closing when !active):
 * a handle that failed to bind is still being closed by libuv, so its memory is never reused. */
static Listener listeners[MAX_LISTENERS];
static int n_listeners;
static char unix_path[300];
static uv_signal_t sig_hup, sig_term, sig_int;
static uv_timer_t janitor;
static Config *config_history[64]; /* every Config loaded, freed at exit */
static PoolStats stats_prev;	   /* the totals at the last stats line */
static uint64_t stats_prev_ms;	   /* when that was */
static int n_configs;
static int exit_code;

static int proxy_listen_all(void);
static void proxy_stop_listening(void);
static int proxy_listen_adopted(Listener *l, int fd, bool is_pipe);
static void proxy_janitor_cb(uv_timer_t *t);
static void proxy_signal_cb(uv_signal_t *h, int signum);
static void proxy_close_walk_cb(uv_handle_t *h, void *arg);
static void proxy_finish(void);
static int proxy_fail_start(void);

uint64_t proxy_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* getrandom(2) through libuv: a CSPRNG without waking OpenSSL's, whose initialisation costs
 * megabytes of resident memory that a trust-only proxy never needs otherwise. */
uint32_t proxy_random_u32(void)
{
	uint32_t v = 0;
	if (uv_random(NULL, NULL, &v, sizeof(v), 0, NULL) != 0 &&
	    RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		log_error("no random source for a cancel key");
	return v;
}

/* ---- listening ---- */

static void proxy_accept_cb(uv_stream_t *server, int status)
{
	Listener *l = server->data;
	if (status < 0) {
		log_warn("accept on %s failed: %s", l->name, uv_strerror(status));
		return;
	}
	ListNode *before = list_last(&G.clients);
	client_accept(server, l->is_pipe);
	/* client_accept appends the new client to G.clients; a TCP one gets the tcp_* options
	 * (unless the accept failed and it is already closing) */
	ListNode *n = list_last(&G.clients);
	if (!l->is_pipe && n && n != before) {
		Client *c = list_entry(n, Client, all_node);
		if (!uv_is_closing(&c->conn.h.handle))
			sockopt_apply_tcp(&c->conn.h.tcp, G.cfg);
	}
}

/* A listener the previous pgsift handed over (proxy/takeover.h): the same socket, so the
 * connections waiting in its queue are accepted here. l->name is set. */
static int proxy_listen_adopted(Listener *l, int fd, bool is_pipe)
{
	int r;
	if (is_pipe) {
		uv_pipe_init(G.loop, &l->h.pipe, 0);
		r = uv_pipe_open(&l->h.pipe, fd);
	} else {
		uv_tcp_init(G.loop, &l->h.tcp);
		r = uv_tcp_open(&l->h.tcp, fd);
	}
	l->h.handle.data = l;
	l->is_pipe = is_pipe;
	n_listeners++;
	if (r == 0)
		r = uv_listen(&l->h.stream, G.cfg->listen_backlog, proxy_accept_cb);
	if (r != 0) {
		uv_close(&l->h.handle, NULL);
		if (r == UV_EBADF || r == UV_ENOTSOCK)
			close(fd);
		return r;
	}
	l->active = true;
	log_info("listening on %s%s (taken over)", is_pipe ? "unix:" : "", l->name);
	return 0;
}

static int proxy_listen_tcp(const char *host, int port)
{
	if (n_listeners == MAX_LISTENERS)
		return UV_ENOSPC;
	Listener *l = &listeners[n_listeners];
	struct sockaddr_storage ss;
	int r;
	if (strchr(host, ':'))
		r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
	else
		r = uv_ip4_addr(strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, port,
				(struct sockaddr_in *)&ss);
	if (r != 0)
		return r;
	snprintf(l->name, sizeof(l->name), "%s:%d", host, port);
	int fd = takeover_claim(l->name);
	if (fd >= 0)
		return proxy_listen_adopted(l, fd, false);
	/* the socket exists before bind, for so_reuseport */
	r = uv_tcp_init_ex(G.loop, &l->h.tcp, ss.ss_family);
	if (r != 0)
		return r;
	l->h.handle.data = l;
	l->is_pipe = false;
	unsigned flags = strchr(host, ':') ? UV_TCP_IPV6ONLY : 0;
	n_listeners++;
	r = sockopt_apply_listener(&l->h.tcp, G.cfg);
	if (r == 0)
		r = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss, flags);
	if (r == 0)
		r = uv_listen(&l->h.stream, G.cfg->listen_backlog, proxy_accept_cb);
	if (r != 0) {
		uv_close(&l->h.handle, NULL);
		return r;
	}
	l->active = true;
	log_info("listening on %s", l->name);
	return 0;
}

/* Whether something accepts connections on the Unix socket at path. A socket file nobody
 * listens on is what a killed pgsift or PostgreSQL leaves behind, and may be replaced; a live
 * one belongs to another server, whose socket must not be taken away from it. */
static bool proxy_unix_in_use(const char *path)
{
	struct sockaddr_un sa;
	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN;
	close(fd);
	return live;
}

/* unix_socket_group: the socket's group, so that with unix_socket_mode 0770 only that group's
 * members can connect. Returns 0 or a negative error (pgsift then does not start). */
static int proxy_chgrp_socket(const char *path, const char *group)
{
	if (!group)
		return 0;
	errno = 0;
	struct group *gr = getgrnam(group);
	if (!gr)
		return errno ? -errno : UV_EINVAL;
	if (chown(path, (uid_t)-1, gr->gr_gid) != 0)
		return -errno;
	return 0;
}

/* Binds p to a Unix socket at path. Not uv_pipe_bind: libuv removes the file of a socket it
 * bound when the handle closes, and after a takeover the file belongs to the new process,
 * which listens on the same socket; proxy_stop_listening removes it when it is still ours. */
static int proxy_bind_unix(uv_pipe_t *p, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return UV_ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	int r = uv_pipe_open(p, fd);
	if (r != 0) {
		close(fd);
		unlink(path);
	}
	return r;
}

static int proxy_listen_unix(const char *dir, int port, int mode)
{
	if (n_listeners == MAX_LISTENERS)
		return UV_ENOSPC;
	Listener *l = &listeners[n_listeners];
	char path[sizeof(unix_path)];
	snprintf(path, sizeof(path), "%s/.s.PGSQL.%d", dir, port);
	int fd = takeover_claim(path);
	if (fd >= 0) {
		snprintf(l->name, sizeof(l->name), "%s", path);
		snprintf(unix_path, sizeof(unix_path), "%s", path);
		return proxy_listen_adopted(l, fd, true);
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		/* only a stale socket is removed: never a live one, never another kind of file */
		if (!S_ISSOCK(st.st_mode) || proxy_unix_in_use(path))
			return UV_EADDRINUSE;
		unlink(path);
	}
	uv_pipe_init(G.loop, &l->h.pipe, 0);
	l->h.handle.data = l;
	l->is_pipe = true;
	n_listeners++;
	int r = proxy_bind_unix(&l->h.pipe, path);
	if (r == 0) {
		/* ours from here on: proxy_stop_listening removes it */
		snprintf(unix_path, sizeof(unix_path), "%s", path);
		chmod(unix_path, (mode_t)mode);
		r = proxy_chgrp_socket(unix_path, G.cfg->unix_socket_group);
		if (r == 0)
			r = uv_listen(&l->h.stream, G.cfg->listen_backlog, proxy_accept_cb);
	}
	snprintf(l->name, sizeof(l->name), "%s", path);
	if (r != 0) {
		uv_close(&l->h.handle, NULL);
		if (unix_path[0])
			unlink(unix_path);
		unix_path[0] = '\0';
		return r;
	}
	l->active = true;
	log_info("listening on unix:%s", unix_path);
	return 0;
}

/* Opens every listener, stopping at the first that fails (logged as FATAL): pgsift does not
 * start half-listening. Returns 0 or -1; the caller closes whatever was opened. */
static int proxy_listen_all(void)
{
	const Config *cfg = G.cfg;
	char *addrs = strdup(cfg->listen_addr ? cfg->listen_addr : "");
	if (!addrs) {
		log_fatal("out of memory");
		return -1;
	}
	char *save = NULL;
	int r = 0;
	for (char *a = strtok_r(addrs, ", ", &save); a && r == 0; a = strtok_r(NULL, ", ", &save)) {
		if (strcmp(a, "*") == 0) {
			r = proxy_listen_tcp("0.0.0.0", cfg->listen_port);
			if (r == 0)
				(void)proxy_listen_tcp("::", cfg->listen_port);
		} else {
			r = proxy_listen_tcp(a, cfg->listen_port);
		}
		if (r != 0)
			log_fatal("could not listen on %s:%d: %s", a, cfg->listen_port,
				  uv_strerror(r));
	}
	free(addrs);
	if (r == 0 && cfg->unix_socket_dir && cfg->unix_socket_dir[0]) {
		r = proxy_listen_unix(cfg->unix_socket_dir, cfg->listen_port,
				      cfg->unix_socket_mode);
		if (r != 0)
			log_fatal("could not listen on unix:%s/.s.PGSQL.%d: %s",
				  cfg->unix_socket_dir, cfg->listen_port, uv_strerror(r));
	}
	if (r == 0 && n_listeners == 0) {
		log_fatal("nothing to listen on: set listen_addr or unix_socket_dir");
		r = -1;
	}
	return r == 0 ? 0 : -1;
}

static void proxy_stop_listening(void)
{
	for (int i = 0; i < n_listeners; i++) {
		if (listeners[i].active) {
			uv_close(&listeners[i].h.handle, NULL);
			listeners[i].active = false;
		}
	}
	if (unix_path[0]) {
		unlink(unix_path);
		unix_path[0] = '\0';
	}
}

/* ---- janitor ---- */

/* The timeouts that end a client: idle outside a transaction, idle inside one, too long a
 * transaction. Each says which setting ended it, to the client and in the log. */
static void proxy_check_client_timeouts(Client *c, const Config *cfg, uint64_t now)
{
	Server *s = c->server;
	bool quiet = !s || server_is_quiet(s);
	bool in_tx = s && s->tx_state != PQ_TX_IDLE && s->tx_state != 0;
	if (in_tx && quiet && cfg->idle_transaction_timeout && c->tx_idle_since_ms &&
	    now - c->tx_idle_since_ms >= cfg->idle_transaction_timeout) {
		log_warn("client %s:%d %s/%s: idle_transaction_timeout (%llu ms)", c->addr, c->port,
			 c->dbname, c->user, (unsigned long long)cfg->idle_transaction_timeout);
		client_fail(c, "25P03",
			    "terminating connection due to idle-in-transaction timeout "
			    "(idle_transaction_timeout in pgsift)");
		return;
	}
	if (c->in_tx && cfg->transaction_timeout && c->tx_start_ms &&
	    now - c->tx_start_ms >= cfg->transaction_timeout) {
		log_warn("client %s:%d %s/%s: transaction_timeout (%llu ms)", c->addr, c->port,
			 c->dbname, c->user, (unsigned long long)cfg->transaction_timeout);
		client_fail(c, "25P04",
			    "terminating connection due to transaction timeout "
			    "(transaction_timeout in pgsift)");
		return;
	}
	if (!in_tx && quiet && cfg->client_idle_timeout &&
	    now - c->last_active_ms >= cfg->client_idle_timeout) {
		log_warn("client %s:%d %s/%s: client_idle_timeout (%llu ms)", c->addr, c->port,
			 c->dbname, c->user, (unsigned long long)cfg->client_idle_timeout);
		client_fail(c, "08P01", "client_idle_timeout: the connection was idle too long");
	}
}

/*
 * PgBouncer's log_stats line, every stats_period: the rates and mean times since the last line,
 * over every pool (the totals SHOW TOTALS reads; pools live as long as the process, so their
 * sum only grows). With print false (log_stats off) only the window moves on, so that a reload
 * turning it on starts from fresh numbers.
 */
static void proxy_log_stats(uint64_t now, bool print)
{
	PoolStats cur = {0};
	ListNode *n;
	for (n = G.pools.head.next; n != &G.pools.head; n = n->next)
		pool_stats_add(&cur, &list_entry(n, Pool, node)->stats);
	uint64_t secs_ms = now - stats_prev_ms;
	uint64_t xacts = cur.xact_count - stats_prev.xact_count;
	uint64_t queries = cur.query_count - stats_prev.query_count;
#define PER_SEC(field) ((cur.field - stats_prev.field) * 1000 / secs_ms)
#define MEAN(field, count) ((count) ? (cur.field - stats_prev.field) / (count) : 0)
	if (print && secs_ms > 0)
		log_info(
			"stats: %llu xacts/s, %llu queries/s, in %llu B/s, out %llu B/s, xact %llu "
			"us, query %llu us, wait %llu us",
			(unsigned long long)PER_SEC(xact_count),
			(unsigned long long)PER_SEC(query_count),
			(unsigned long long)PER_SEC(bytes_received),
			(unsigned long long)PER_SEC(bytes_sent),
			(unsigned long long)MEAN(xact_time_us, xacts),
			(unsigned long long)MEAN(query_time_us, queries),
			(unsigned long long)MEAN(wait_time_us, xacts));
#undef PER_SEC
#undef MEAN
	stats_prev = cur;
	stats_prev_ms = now;
}

/* server_fast_close: in session pooling, a server marked for closing (a RELOAD that changed its
 * database's settings, RECONNECT) goes as soon as its client is between transactions, and its
 * client with it, as PgBouncer does, instead of at the end of the session. */
static void proxy_fast_close_sessions(void)
{
	ListNode *n, *tmp;
	list_for_each_safe(n, tmp, &G.servers)
	{
		Server *s = list_entry(n, Server, all_node);
		if (s->state == SV_ACTIVE && s->close_needed && s->client &&
		    s->pool->mode == POOL_SESSION && s->tx_state == PQ_TX_IDLE &&
		    server_is_quiet(s))
			client_fail(s->client, "57P01",
				    "terminating connection: its server is being closed after a "
				    "configuration change (server_fast_close)");
	}
}

static void proxy_janitor_cb(uv_timer_t *t)
{
	(void)t;
	conn_tick(); /* the callback clock is never more than a janitor period old */
	conn_sync_wall();
	const Config *cfg = G.cfg;
	uint64_t now = proxy_now_ms();
	G.now_ms = now;
	ListNode *n, *tmp;
	list_for_each_safe(n, tmp, &G.clients)
	{
		Client *c = list_entry(n, Client, all_node);
		if ((c->state == CL_STARTUP || c->state == CL_AUTH) && cfg->client_login_timeout &&
		    now - c->connect_ms >= cfg->client_login_timeout) {
			client_fail(c, "08P01", "client_login_timeout: login took too long");
		} else if (c->state == CL_IDLE || c->state == CL_ACTIVE) {
			proxy_check_client_timeouts(c, cfg, uv_now(G.loop));
		} else if (c->state == CL_WAITING && cfg->query_wait_notify && !c->wait_notified &&
			   c->wait_start_ms && now - c->wait_start_ms >= cfg->query_wait_notify) {
			client_notify_queued(c);
		}
	}
	if (cfg->server_fast_close)
		proxy_fast_close_sessions();
	if (cfg->query_timeout) {
		uint64_t now_ns = proxy_now_ns();
		list_for_each_safe(n, tmp, &G.servers)
		{
			Server *s = list_entry(n, Server, all_node);
			if (s->state == SV_ACTIVE)
				server_check_timeout(s, now_ns, cfg->query_timeout * 1000000u);
		}
	}
	list_for_each_safe(n, tmp, &G.pools)
	{
		pool_janitor(list_entry(n, Pool, node), now);
	}
	conn_module_trim(now);
	if (now - stats_prev_ms >= cfg->stats_period)
		proxy_log_stats(now, cfg->log_stats);
	if (G.shutting_down)
		proxy_check_shutdown();
}

/* ---- signals ---- */

void proxy_check_shutdown(void)
{
	if (!G.shutting_down)
		return;
	size_t busy = 0;
	ListNode *n;
	for (n = G.clients.head.next; n != &G.clients.head; n = n->next)
		busy++;
	if (busy == 0)
		proxy_finish();
}

static void proxy_finish(void)
{
	static bool finished;
	if (finished)
		return;
	finished = true;
	proxy_close_connections();
	proxy_stop_listening();
	takeover_stop();
	metrics_stop();
	uv_timer_stop(&janitor);
	uv_close((uv_handle_t *)&janitor, NULL);
	uv_close((uv_handle_t *)&sig_hup, NULL);
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
}

void proxy_reload(void)
{
	if (!G.cfg->config_file) {
		log_info("SIGHUP: no configuration file to reload; reopening logs");
	} else {
		char err[1024];
		ConfigArgs args;
		memset(&args, 0, sizeof(args));
		args.config_file = G.cfg->config_file;
		Config *cfg = config_load(&args, err, sizeof(err));
		if (!cfg) {
			log_error("reload failed, keeping the running configuration: %s", err);
		} else if (n_configs == (int)(sizeof(config_history) / sizeof(config_history[0]))) {
			log_error("reload refused: too many reloads in one run; restart pgsift");
			config_free(cfg);
		} else {
			config_history[n_configs++] = cfg;
			G.cfg = cfg;
			log_set_level(cfg->log_level);
			(void)log_set_syslog(cfg->syslog, cfg->syslog_ident, cfg->syslog_facility);
			pool_reload_all();
			stats_reload(cfg);
			if (!tls_refresh(cfg, err, sizeof(err)))
				log_error("TLS keeps its previous settings: %s", err);
			log_info("configuration reloaded from %s", cfg->config_file);
		}
	}
	if (log_reopen() != 0)
		log_warn("could not reopen the log file");
}

/* SIGTERM, or a takeover done: no new clients; exit when the last one leaves. */
static void proxy_drain(void)
{
	G.shutting_down = true;
	proxy_stop_listening();
	takeover_stop_offering();
	proxy_check_shutdown();
}

static void proxy_signal_cb(uv_signal_t *h, int signum)
{
	(void)h;
	switch (signum) {
	case SIGHUP:
		proxy_reload();
		break;
	case SIGTERM:
		if (G.shutting_down)
			break;
		log_info("SIGTERM: no new connections; exiting when the clients are gone");
		proxy_drain();
		break;
	case SIGINT:
		log_info("SIGINT: exiting");
		G.shutting_down = true;
		proxy_finish();
		break;
	}
}

static void proxy_close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void proxy_write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		log_warn("could not write pidfile %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
}

/*
 * PgBouncer's `user`: once the listeners (a port below 1024, a socket in a root-owned directory)
 * and the pidfile are open, the process becomes that user, with its group and supplementary
 * groups, for good. Nothing to do when it already runs as that user. Returns 0 or -1 (logged as
 * FATAL: pgsift must not go on as root when told not to).
 */
static int proxy_change_user(const char *name)
{
	errno = 0;
	struct passwd *pw = getpwnam(name);
	if (!pw) {
		log_fatal("user = %s: no such user", name);
		return -1;
	}
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
		return 0;
	if (setgid(pw->pw_gid) != 0 || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		log_fatal("could not change to user %s: %s", name, strerror(errno));
		return -1;
	}
	log_info("running as user %s", name);
	return 0;
}

void proxy_init(Config *cfg, uv_loop_t *loop)
{
	memset(&G, 0, sizeof(G));
	G.loop = loop;
	G.cfg = cfg;
	list_init(&G.pools);
	list_init(&G.clients);
	list_init(&G.servers);
	cancel_init();
	G.started_ms = G.now_ms = proxy_now_ms();
	signal(SIGPIPE, SIG_IGN);
	conn_module_init(G.loop, cfg->pkt_buf > 16384 ? (uint32_t)cfg->pkt_buf : 16384);
}

void proxy_close_connections(void)
{
	ListNode *n, *tmp;
	list_for_each_safe(n, tmp, &G.clients)
	{
		client_close(list_entry(n, Client, all_node), "shutdown");
	}
	list_for_each_safe(n, tmp, &G.servers)
	{
		server_close(list_entry(n, Server, all_node), "shutdown");
	}
}

void proxy_free_pools(void)
{
	ListNode *n, *tmp;
	list_for_each_safe(n, tmp, &G.pools)
	{
		Pool *p = list_entry(n, Pool, node);
		list_remove(&G.pools, &p->node);
		varcache_free(&p->welcome);
		free(p->dbname);
		free(p->user);
		free(p->server_user);
		free(p->server_dbname);
		free(p->auth_secret);
		free(p);
	}
}

/* Start-up failed after the loop got handles: every handle is closed and the loop run until
 * the closes are done, so that the process exits 1 with nothing left behind (no socket file,
 * no pidfile, no libuv assertion at exit). */
static int proxy_fail_start(void)
{
	proxy_stop_listening();
	metrics_stop();
	stats_stop();
	uv_walk(G.loop, proxy_close_walk_cb, NULL);
	uv_run(G.loop, UV_RUN_DEFAULT);
	conn_module_cleanup();
	(void)uv_loop_close(G.loop);
	for (int i = 0; i < n_configs; i++)
		config_free(config_history[i]);
	n_configs = 0;
	return 1;
}

/* ---- online restart (proxy/takeover.h) ---- */

static size_t proxy_takeover_collect(int *fds, const char **names, size_t max)
{
	size_t n = 0;
	for (int i = 0; i < n_listeners && n < max; i++) {
		Listener *l = &listeners[i];
		if (l->active && uv_fileno(&l->h.handle, &fds[n]) == 0)
			names[n++] = l->name;
	}
	if (n < max && metrics_listener_fd(&fds[n], &names[n]))
		n++;
	return n;
}

static void proxy_takeover_release(void)
{
	unix_path[0] = '\0'; /* the socket file is the new process's now */
	metrics_stop_listening();
	proxy_drain();
}

static const TakeoverOps proxy_takeover_ops = {
	.collect = proxy_takeover_collect,
	.release = proxy_takeover_release,
	.cancel = cancel_passed_back,
};

/* -R: the running process's listeners, before anything binds. False (logged as FATAL) when it
 * cannot be asked; with nothing running there, pgsift starts as usual. */
static bool proxy_fetch_listeners(const char *ctl)
{
	if (!ctl) {
		log_fatal("--takeover needs unix_socket_dir: the running pgsift offers its "
			  "listeners on a Unix socket there");
		return false;
	}
	char err[512];
	int n = takeover_fetch(ctl, err, sizeof(err));
	if (n < 0) {
		log_fatal("takeover: %s", err);
		return false;
	}
	if (n == 0)
		log_info("takeover: no pgsift runs at %s; starting on new sockets", ctl);
	else
		log_info("takeover: received %d listening sockets from the running pgsift", n);
	return true;
}

int proxy_run(Config *cfg, bool takeover)
{
	proxy_init(cfg, uv_default_loop());
	config_history[n_configs++] = cfg;

	int r = stats_start(cfg);
	if (r != 0) {
		log_fatal("could not start the statistics worker: %s", strerror(-r));
		return proxy_fail_start();
	}
	/* the TLS files are read now: a bad one stops the start, not the first client */
	char tls_err[512];
	if (!tls_refresh(cfg, tls_err, sizeof(tls_err))) {
		log_fatal("TLS: %s", tls_err);
		return proxy_fail_start();
	}
	/* before the ready line: a signal sent right after it must find its handler */
	uv_signal_init(G.loop, &sig_hup);
	uv_signal_start(&sig_hup, proxy_signal_cb, SIGHUP);
	uv_signal_init(G.loop, &sig_term);
	uv_signal_start(&sig_term, proxy_signal_cb, SIGTERM);
	uv_signal_init(G.loop, &sig_int);
	uv_signal_start(&sig_int, proxy_signal_cb, SIGINT);
	char ctl[256];
	bool has_ctl = takeover_path(cfg->unix_socket_dir, cfg->listen_port, ctl, sizeof(ctl));
	if (takeover && !proxy_fetch_listeners(has_ctl ? ctl : NULL))
		return proxy_fail_start();
	r = metrics_start(cfg);
	if (r != 0) {
		log_fatal("could not serve metrics on %s: %s", cfg->metrics_listen, uv_strerror(r));
		return proxy_fail_start();
	}
	if (proxy_listen_all() != 0)
		return proxy_fail_start();
	if (cfg->pidfile)
		proxy_write_pidfile(cfg->pidfile);
	char err[512];
	if (takeover && takeover_finish(G.loop, err, sizeof(err)) != 0)
		log_error("takeover: %s", err);
	if (has_ctl) {
		r = takeover_serve(G.loop, ctl, &proxy_takeover_ops);
		if (r != 0)
			log_warn("%s: %s: online restart (-R) of this process will not be possible",
				 ctl, uv_strerror(r));
	}
	if (cfg->user && proxy_change_user(cfg->user) != 0)
		return proxy_fail_start();

	stats_prev_ms = proxy_now_ms();
	uv_timer_init(G.loop, &janitor);
	uv_timer_start(&janitor, proxy_janitor_cb, JANITOR_MS, JANITOR_MS);

	uv_run(G.loop, UV_RUN_DEFAULT);

	/* whatever is left (pools' resolvers...) */
	uv_walk(G.loop, proxy_close_walk_cb, NULL);
	uv_run(G.loop, UV_RUN_DEFAULT);
	stats_stop();
	proxy_free_pools();
	conn_module_cleanup();
	tls_module_cleanup();
	authquery_cleanup();
	uv_loop_close(G.loop);
	if (cfg->pidfile)
		unlink(G.cfg->pidfile);
	for (int i = 0; i < n_configs; i++)
		config_free(config_history[i]);
	log_info("pgsift stopped");
	return exit_code;
}
