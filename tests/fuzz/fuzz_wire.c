/*
 * fuzz_wire: the in-process harness behind fuzz_client and fuzz_server. See fuzz_wire.h for
 * the plumbing and the input formats.
 *
 * The fake clients and the fake server are plain non-blocking sockets that the harness reads
 * and writes itself between passes of the loop (uv_run UV_RUN_NOWAIT), so every byte pgsift
 * sees crossed a real socket and went through its own read callbacks, framing, backpressure
 * and close paths. Nothing here waits: a run ends when nothing moves any more.
 *
 * The scripted server of fuzz_client answers the way PostgreSQL does for the frames it gets
 * (login with the requested authentication, simple and extended protocol with the skip to
 * Sync after an error, transaction status, COPY in and out, FunctionCall, CancelRequest), with
 * a command tag taken from the statement's first word, so that pgsift's session tracking
 * (SET, PREPARE, DEALLOCATE, DISCARD, LISTEN, BEGIN/COMMIT...) sees what it would see.
 */
#include "fuzz_wire.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "config/config.h"
#include "config/log.h"
#include "proxy/auth_md5.h"
#include "proxy/client.h"
#include "proxy/conn.h"
#include "proxy/proto.h"
#include "proxy/proxy.h"
#include "proxy/scram.h"
#include "proxy/server.h"
#include "wire_scripts.h"

#define PROXY_PORT 6432
#define SERVER_PORT 5432
#define MAX_CLIENTS 2
#define MAX_CANCELS 4
#define MAX_SERVER_CONNS 16
#define MAX_PASSES 200000 /* a run that never goes quiet is a livelock: reported as a crash */
#define READ_CHUNK 65536

/* ---- byte queues ---- */

void buf_add(Buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		if (!q)
			abort();
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void buf_drop(Buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void buf_free(Buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void buf_add_pkt(Buf *b, PktBuf *pb)
{
	if (pktbuf_failed(pb))
		abort();
	buf_add(b, pb->data, pb->len);
	pktbuf_reset(pb);
}

/* ---- who logs in ---- */

typedef struct WireLogin {
	const char *user;
	const char *password;
	const char *dbname;
} WireLogin;

static const WireLogin logins[8] = {
	{"fuzzuser", "fuzzpass", "db"},	  {"fuzzuser", "fuzzpass", "pwdb"},
	{"md5user", "md5pass", "db"},	  {"scramuser", "scrampass", "db"},
	{"admin", "adminpass", "pgsift"}, {"stats", "statspass", "pgbouncer"},
	{"fuzzuser", "wrongpass", "db"},  {"fuzzuser", "fuzzpass", "otherdb"},
};

/* The fake server's passwords (what PostgreSQL would have stored for each role). */
static const char *server_password(const char *user)
{
	for (size_t i = 0; i < sizeof(logins) / sizeof(logins[0]); i++)
		if (strcmp(logins[i].user, user) == 0)
			return logins[i].password;
	if (strcmp(user, "srvuser") == 0)
		return "srvpass";
	return "fuzzpass";
}

/* The same as a SCRAM secret of 16 iterations: what PostgreSQL stores, and cheap enough that
 * a SCRAM login does not cost a fuzzer run 4096 rounds of PBKDF2 on each side. Built once per
 * password (a handful). */
static const char *server_scram_secret(const char *user)
{
	static struct {
		const char *password;
		char secret[SCRAM_SECRET_MAX];
	} cache[16];
	static const uint8_t salt[] = "fuzz-salt-16byte"; /* as auth_file: pass-through works */
	const char *pw = server_password(user);
	for (size_t i = 0; i < sizeof(cache) / sizeof(cache[0]); i++) {
		if (cache[i].password == pw)
			return cache[i].secret;
		if (!cache[i].password) {
			if (!scram_secret_build(pw, salt, 16, 16, cache[i].secret,
						sizeof(cache[i].secret)))
				abort();
			cache[i].password = pw;
			return cache[i].secret;
		}
	}
	return pw;
}

/* ---- state of the process and of one run ---- */

typedef struct FakeClient {
	int fd; /* -1: not connected */
	Buf in, out;
	bool harness_login; /* the harness answers the authentication requests */
	bool logged_in;
	const WireLogin *who;
	ScramClient *scram;
	uint32_t pid, key;
	unsigned n_ready, n_complete; /* ReadyForQuery and CommandComplete seen (the bystander) */
} FakeClient;

typedef enum { FS_STARTUP, FS_PASSWORD, FS_SASL_INIT, FS_SASL_FINAL, FS_READY, FS_RAW } FsPhase;

typedef struct FakeServerConn {
	int fd; /* -1: free slot */
	Buf in, out;
	FsPhase phase;
	char user[64];
	ScramServer *scram;
	uint8_t tx;	   /* 'I', 'T' or 'E' */
	bool skip_to_sync; /* an error in the extended protocol */
	bool copy_in;	   /* COPY FROM STDIN in progress */
	bool close_after_flush;
	unsigned answered;  /* frames answered, for the crash knob */
	uint32_t raw_left;  /* raw server: bytes of the current frame still to come */
	uint8_t raw_hdr[5]; /* raw server: a frame header being collected */
	int raw_hdr_len;
	char unnamed[128]; /* the unnamed statement's text, for Execute's tag */
} FakeServerConn;

static struct {
	bool ready;
	char dir[64];
	char proxy_path[128];
	char server_path[128];
	uv_loop_t loop;
	uv_pipe_t listener;
	int server_fd;
	Config *cfgs[16];    /* [auth_type | pool_mode << 2] for fuzz_client */
	Config *raw_cfgs[4]; /* fuzz_server: [pool mode | md5 << 1] */
	LogLevel level;
} W;

static struct {
	WireServerKind kind;
	uint8_t srv;	       /* fuzz_client's server byte */
	const uint8_t *chunks; /* fuzz_server: the server's chunks still to send */
	size_t chunks_len;
	bool chunks_done;
	FakeClient clients[MAX_CLIENTS];
	int cancel_fds[MAX_CANCELS];
	int n_cancels;
	FakeServerConn sconns[MAX_SERVER_CONNS];
	size_t last_clients, last_servers;
	WirePassFn hook; /* fuzz_tls: its own client's sockets, served in every pass */
	void *hook_arg;
} R;

/* ---- set-up, once per process ---- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "fuzz_wire: cannot write %s\n", path);
		abort();
	}
}

static Config *load_config(const char *auth, const char *mode)
{
	char ini[4096], path[256], err[1024];
	snprintf(path, sizeof(path), "%s/pgsift-%s-%s.ini", W.dir, auth, mode);
	snprintf(ini, sizeof(ini),
		 "[pgsift]\n"
		 "listen_addr = 127.0.0.1\n"
		 "listen_port = %d\n"
		 "unix_socket_dir = %s\n"
		 "auth_type = %s\n"
		 "auth_file = %s/userlist.txt\n"
		 "pool_mode = %s\n"
		 "default_pool_size = 1\n"
		 "max_client_conn = 8\n"
		 "max_packet_size = 65536\n"
		 "admin_users = admin\n"
		 "stats_users = stats\n"
		 "log_level = fatal\n"
		 "\n[databases]\n"
		 "db = host=%s port=%d dbname=realdb\n"
		 "pwdb = host=%s port=%d user=srvuser password=srvpass\n"
		 "* = host=%s port=%d\n",
		 PROXY_PORT, W.dir, auth, W.dir, mode, W.dir, SERVER_PORT, W.dir, SERVER_PORT,
		 W.dir, SERVER_PORT);
	write_file(path, ini);
	ConfigArgs args;
	memset(&args, 0, sizeof(args));
	args.config_file = path;
	Config *cfg = config_load(&args, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "fuzz_wire: %s\n", err);
		abort();
	}
	return cfg;
}

/* The temporary directory goes with the process (libFuzzer's normal exits run atexit). */
static void wire_remove_dir(void)
{
	DIR *d = opendir(W.dir);
	if (!d)
		return;
	struct dirent *e;
	char path[512];
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", W.dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(W.dir);
}

static void wire_accept_cb(uv_stream_t *listener, int status)
{
	if (status == 0)
		client_accept(listener, true);
}

static void wire_setup(void)
{
	if (W.ready)
		return;
	/* the admin console's SHUTDOWN raises SIGINT: it must not stop the fuzzer */
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	snprintf(W.dir, sizeof(W.dir), "/tmp/pgsift-fuzz-XXXXXX");
	if (!mkdtemp(W.dir))
		abort();
	atexit(wire_remove_dir);
	char path[256], md5[AUTH_MD5_LEN + 1], scram[SCRAM_SECRET_MAX], users[2048];
	auth_md5_encrypt("md5pass", "md5user", md5);
	static const uint8_t salt[] = "fuzz-salt-16byte";
	if (!scram_secret_build("scrampass", salt, 16, 16, scram, sizeof(scram)))
		abort();
	snprintf(users, sizeof(users),
		 "\"fuzzuser\" \"fuzzpass\"\n\"md5user\" \"%s\"\n\"scramuser\" \"%s\"\n"
		 "\"admin\" \"adminpass\"\n\"stats\" \"statspass\"\n\"srvuser\" \"srvpass\"\n",
		 md5, scram);
	snprintf(path, sizeof(path), "%s/userlist.txt", W.dir);
	write_file(path, users);

	static const char *const auths[4] = {"trust", "md5", "scram-sha-256", "plain"};
	static const char *const modes[4] = {"session", "transaction", "statement", "transaction"};
	for (int a = 0; a < 4; a++)
		for (int m = 0; m < 4; m++)
			W.cfgs[a | m << 2] = load_config(auths[a], modes[m]);
	W.raw_cfgs[0] = W.cfgs[0];
	W.raw_cfgs[1] = W.cfgs[0 | 1 << 2];
	W.raw_cfgs[2] = W.cfgs[1];
	W.raw_cfgs[3] = W.cfgs[1 | 1 << 2];

	W.level = LL_FATAL;
	const char *lv = getenv("PGSIFT_FUZZ_LOG"); /* e.g. noise, to see what a run does */
	if (lv && !log_level_parse(lv, &W.level))
		W.level = LL_FATAL;
	if (log_init(W.level, NULL) != 0)
		abort();

	if (uv_loop_init(&W.loop) != 0)
		abort();
	proxy_init(W.cfgs[0], &W.loop);

	snprintf(W.proxy_path, sizeof(W.proxy_path), "%s/.s.PGSQL.%d", W.dir, PROXY_PORT);
	snprintf(W.server_path, sizeof(W.server_path), "%s/.s.PGSQL.%d", W.dir, SERVER_PORT);
	if (uv_pipe_init(&W.loop, &W.listener, 0) != 0 ||
	    uv_pipe_bind(&W.listener, W.proxy_path) != 0 ||
	    uv_listen((uv_stream_t *)&W.listener, 64, wire_accept_cb) != 0)
		abort();

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", W.server_path);
	W.server_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (W.server_fd < 0 || bind(W.server_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(W.server_fd, 64) != 0)
		abort();
	W.ready = true;
}

/* ---- plain sockets ---- */

static int connect_proxy(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", W.proxy_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EAGAIN) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Writes what fits of out. Returns whether anything moved; *dead on an error. */
static bool sock_write(int fd, Buf *out, bool *dead)
{
	bool moved = false;
	while (out->len) {
		ssize_t n = send(fd, out->p, out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_drop(out, (size_t)n);
			moved = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			*dead = true;
		break;
	}
	return moved;
}

/* Reads everything available into in. Returns the bytes read; *dead on EOF or an error. */
static size_t sock_read(int fd, Buf *in, bool *dead)
{
	uint8_t tmp[READ_CHUNK];
	size_t total = 0;
	for (;;) {
		ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0) {
			buf_add(in, tmp, (size_t)n);
			total += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN)
			*dead = true;
		break;
	}
	return total;
}

/* ---- the fake clients ---- */

static void client_put_startup(FakeClient *fc)
{
	PktBuf pb;
	pktbuf_init(&pb);
	pktbuf_start(&pb, 0);
	pktbuf_put_u32(&pb, PQ_PROTOCOL_3_0);
	pktbuf_put_cstring(&pb, "user");
	pktbuf_put_cstring(&pb, fc->who->user);
	pktbuf_put_cstring(&pb, "database");
	pktbuf_put_cstring(&pb, fc->who->dbname);
	pktbuf_put_cstring(&pb, "application_name");
	pktbuf_put_cstring(&pb, "fuzz");
	pktbuf_put_u8(&pb, 0);
	pktbuf_finish(&pb);
	buf_add_pkt(&fc->out, &pb);
	pktbuf_free(&pb);
}

static void client_put_password(FakeClient *fc, const void *data, size_t len, bool cstring)
{
	PktBuf pb;
	pktbuf_init(&pb);
	pktbuf_start(&pb, PQ_MSG_PASSWORD);
	pktbuf_put_bytes(&pb, data, len);
	if (cstring)
		pktbuf_put_u8(&pb, 0);
	pktbuf_finish(&pb);
	buf_add_pkt(&fc->out, &pb);
	pktbuf_free(&pb);
}

/* The harness's side of the authentication exchange: what a driver would answer. */
static void client_answer_auth(FakeClient *fc, const uint8_t *payload, size_t len)
{
	if (len < 4)
		return;
	uint32_t code = pkt_be32(payload);
	const char *pw = fc->who->password;
	switch (code) {
	case 3: /* cleartext */
		client_put_password(fc, pw, strlen(pw), true);
		break;
	case 5: { /* md5 */
		char out[64];
		if (len >= 8 && auth_md5_response(pw, fc->who->user, payload + 4, out))
			client_put_password(fc, out, strlen(out), true);
		break;
	}
	case 10: { /* SASL */
		const char *msg;
		size_t msg_len;
		scram_client_free(fc->scram);
		fc->scram = scram_client_new(pw);
		if (!fc->scram || scram_client_first(fc->scram, &msg, &msg_len) != SCRAM_OK)
			break;
		PktBuf pb;
		pktbuf_init(&pb);
		pktbuf_start(&pb, PQ_MSG_PASSWORD);
		pktbuf_put_cstring(&pb, "SCRAM-SHA-256");
		pktbuf_put_u32(&pb, (uint32_t)msg_len);
		pktbuf_put_bytes(&pb, msg, msg_len);
		pktbuf_finish(&pb);
		buf_add_pkt(&fc->out, &pb);
		pktbuf_free(&pb);
		break;
	}
	case 11: { /* SASL continue */
		const char *reply;
		size_t reply_len;
		if (fc->scram && scram_client_handle_first(fc->scram, (const char *)payload + 4,
							   len - 4, &reply, &reply_len) == SCRAM_OK)
			client_put_password(fc, reply, reply_len, false);
		break;
	}
	case 12: /* SASL final: the proxy's signature is checked as a driver would */
		if (fc->scram)
			(void)scram_client_handle_final(fc->scram, (const char *)payload + 4,
							len - 4);
		break;
	}
}

/* Looks at what pgsift sent the client: answers authentication requests (harness login),
 * keeps the BackendKeyData (for "!cancel") and notices the login's ReadyForQuery. */
static void client_scan(FakeClient *fc)
{
	size_t at = 0;
	while (fc->in.len - at >= 5) {
		const uint8_t *f = fc->in.p + at;
		if (f[0] == 'N' && !fc->logged_in && at == 0 && fc->in.len >= 1 &&
		    pkt_be32(f + 1) > 65536) {
			at += 1; /* the answer to an SSLRequest */
			continue;
		}
		uint32_t len = pkt_be32(f + 1);
		if (len < 4 || len > (1u << 24)) {
			at = fc->in.len; /* not a frame stream we can follow; just drain */
			break;
		}
		if (fc->in.len - at < 1 + (size_t)len)
			break;
		const uint8_t *payload = f + 5;
		size_t plen = len - 4;
		if (f[0] == PQ_MSG_AUTH && fc->harness_login && !fc->logged_in)
			client_answer_auth(fc, payload, plen);
		else if (f[0] == PQ_MSG_BACKEND_KEY_DATA && plen >= 8) {
			fc->pid = pkt_be32(payload);
			fc->key = pkt_be32(payload + 4);
		} else if (f[0] == PQ_MSG_READY_FOR_QUERY) {
			fc->logged_in = true;
			fc->n_ready++;
		} else if (f[0] == PQ_MSG_COMMAND_COMPLETE)
			fc->n_complete++;
		at += 1 + (size_t)len;
	}
	buf_drop(&fc->in, at);
}

static void client_disconnect(FakeClient *fc)
{
	if (fc->fd >= 0)
		close(fc->fd);
	fc->fd = -1;
	fc->in.len = fc->out.len = 0;
	scram_client_free(fc->scram);
	fc->scram = NULL;
}

static bool client_io(FakeClient *fc)
{
	if (fc->fd < 0)
		return false;
	bool dead = false;
	bool moved = sock_write(fc->fd, &fc->out, &dead);
	size_t n = sock_read(fc->fd, &fc->in, &dead);
	if (n) {
		moved = true;
		client_scan(fc);
		moved |= sock_write(fc->fd, &fc->out, &dead);
	}
	if (dead) {
		client_disconnect(fc);
		moved = true;
	}
	return moved;
}

/* ---- the fake server ---- */

static void server_put_ready(FakeServerConn *sc)
{
	PktBuf pb;
	pktbuf_init(&pb);
	if (R.kind == WIRE_SERVER_SCRIPTED && (R.srv & 8)) {
		pq_write_error(&pb, "NOTICE", "01000", "a notice before ReadyForQuery", NULL, NULL);
		pb.data[0] = PQ_MSG_NOTICE_RESPONSE; /* the same fields as an ErrorResponse */
		pq_write_parameter_status(&pb, "TimeZone", "UTC");
	}
	pq_write_ready(&pb, sc->tx);
	buf_add_pkt(&sc->out, &pb);
	pktbuf_free(&pb);
}

static void server_put_login_ok(FakeServerConn *sc)
{
	static const char *const params[][2] = {
		{"server_version", "15.4"},
		{"server_encoding", "UTF8"},
		{"client_encoding", "UTF8"},
		{"DateStyle", "ISO, MDY"},
		{"integer_datetimes", "on"},
		{"IntervalStyle", "postgres"},
		{"is_superuser", "on"},
		{"session_authorization", "fuzzuser"},
		{"standard_conforming_strings", "on"},
		{"TimeZone", "Etc/UTC"},
		{"application_name", ""},
	};
	PktBuf pb;
	pktbuf_init(&pb);
	pq_write_auth(&pb, 0, NULL, 0);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		pq_write_parameter_status(&pb, params[i][0], params[i][1]);
	pq_write_backend_key(&pb, 4242, (uint32_t)(sc - R.sconns) + 1);
	buf_add_pkt(&sc->out, &pb);
	pktbuf_free(&pb);
	sc->tx = 'I';
	sc->phase = FS_READY;
	server_put_ready(sc);
}

static void server_put_error(FakeServerConn *sc, const char *severity, const char *sqlstate,
			     const char *msg)
{
	PktBuf pb;
	pktbuf_init(&pb);
	pq_write_error(&pb, severity, sqlstate, msg, NULL, NULL);
	buf_add_pkt(&sc->out, &pb);
	pktbuf_free(&pb);
}

static void server_put_simple(FakeServerConn *sc, uint8_t type)
{
	PktBuf pb;
	pktbuf_init(&pb);
	pktbuf_start(&pb, type);
	pktbuf_finish(&pb);
	buf_add_pkt(&sc->out, &pb);
	pktbuf_free(&pb);
}

static void server_put_row(FakeServerConn *sc, bool description)
{
	static const char *const names[] = {"a", "b"};
	static const uint32_t oids[] = {23, 25};
	static const char *const values[] = {"1", NULL};
	PktBuf pb;
	pktbuf_init(&pb);
	if (description)
		pq_write_row_description(&pb, names, oids, 2);
	pq_write_data_row(&pb, values, 2);
	buf_add_pkt(&sc->out, &pb);
	pktbuf_free(&pb);
}

static bool word_is(const char *text, size_t len, const char *word)
{
	size_t n = strlen(word);
	return len >= n && strncasecmp(text, word, n) == 0 &&
	       (len == n || !isalpha((unsigned char)text[n]));
}

static bool text_has(const char *text, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(text + i, needle, n) == 0)
			return true;
	return false;
}

/*
 * Answers one statement of a simple query, or an Execute (describe: a RowDescription before
 * the rows, as a simple query has). Returns false when it failed (ErrorResponse sent).
 */
static bool server_statement(FakeServerConn *sc, const char *text, size_t len, bool simple)
{
	while (len && isspace((unsigned char)*text)) {
		text++;
		len--;
	}
	if (len == 0) {
		server_put_simple(sc, PQ_MSG_EMPTY_QUERY_RESPONSE);
		return true;
	}
	if (sc->tx == 'E' && !word_is(text, len, "ROLLBACK") && !word_is(text, len, "ABORT") &&
	    !word_is(text, len, "COMMIT") && !word_is(text, len, "END")) {
		server_put_error(sc, "ERROR", "25P02",
				 "current transaction is aborted, commands ignored until end of "
				 "transaction block");
		return false;
	}
	if (text_has(text, len, "fail") || text_has(text, len, "missing") ||
	    text_has(text, len, "1/0")) {
		server_put_error(sc, "ERROR", "42P01", "relation \"missing\" does not exist");
		if (sc->tx == 'T')
			sc->tx = 'E';
		return false;
	}
	char tag[64];
	PktBuf pb;
	pktbuf_init(&pb);
	if (word_is(text, len, "SELECT") || word_is(text, len, "VALUES") ||
	    word_is(text, len, "SHOW") || word_is(text, len, "FETCH") ||
	    word_is(text, len, "EXECUTE") || word_is(text, len, "WITH") ||
	    word_is(text, len, "TABLE")) {
		server_put_row(sc, simple);
		snprintf(tag, sizeof(tag), "%s 1",
			 word_is(text, len, "FETCH") ? "FETCH" : "SELECT");
	} else if (word_is(text, len, "BEGIN") || word_is(text, len, "START")) {
		if (sc->tx == 'I')
			sc->tx = 'T';
		snprintf(tag, sizeof(tag), "BEGIN");
	} else if (word_is(text, len, "COMMIT") || word_is(text, len, "END")) {
		snprintf(tag, sizeof(tag), sc->tx == 'E' ? "ROLLBACK" : "COMMIT");
		sc->tx = 'I';
	} else if (word_is(text, len, "ROLLBACK") || word_is(text, len, "ABORT")) {
		if (text_has(text, len, " TO "))
			sc->tx = sc->tx == 'E' ? 'T' : sc->tx;
		else
			sc->tx = 'I';
		snprintf(tag, sizeof(tag), "ROLLBACK");
	} else if (word_is(text, len, "INSERT")) {
		snprintf(tag, sizeof(tag), "INSERT 0 1");
	} else if (word_is(text, len, "UPDATE") || word_is(text, len, "DELETE")) {
		snprintf(tag, sizeof(tag), "%.6s 1", text);
	} else if (word_is(text, len, "COPY") && text_has(text, len, "STDIN")) {
		pktbuf_start(&pb, PQ_MSG_COPY_IN_RESPONSE);
		pktbuf_put_u8(&pb, 0);
		pktbuf_put_u16(&pb, 2);
		pktbuf_put_u16(&pb, 0);
		pktbuf_put_u16(&pb, 0);
		pktbuf_finish(&pb);
		buf_add_pkt(&sc->out, &pb);
		pktbuf_free(&pb);
		sc->copy_in = true;
		return true;
	} else if (word_is(text, len, "COPY")) {
		pktbuf_start(&pb, PQ_MSG_COPY_OUT_RESPONSE);
		pktbuf_put_u8(&pb, 0);
		pktbuf_put_u16(&pb, 1);
		pktbuf_put_u16(&pb, 0);
		pktbuf_finish(&pb);
		pktbuf_start(&pb, PQ_MSG_COPY_DATA);
		pktbuf_put_bytes(&pb, "1\tone\n", 6);
		pktbuf_finish(&pb);
		pktbuf_start(&pb, PQ_MSG_COPY_DONE);
		pktbuf_finish(&pb);
		snprintf(tag, sizeof(tag), "COPY 1");
	} else if (word_is(text, len, "LISTEN") || word_is(text, len, "NOTIFY")) {
		snprintf(tag, sizeof(tag), "%.6s", text);
		if (word_is(text, len, "NOTIFY")) {
			pktbuf_start(&pb, PQ_MSG_NOTIFICATION_RESPONSE);
			pktbuf_put_u32(&pb, 4242);
			pktbuf_put_cstring(&pb, "chan");
			pktbuf_put_cstring(&pb, "payload");
			pktbuf_finish(&pb);
		}
	} else if (word_is(text, len, "SET") && text_has(text, len, "application_name")) {
		pq_write_parameter_status(&pb, "application_name", "changed");
		snprintf(tag, sizeof(tag), "SET");
	} else if (word_is(text, len, "DISCARD") || word_is(text, len, "DEALLOCATE")) {
		snprintf(
			tag, sizeof(tag), "%s",
			text_has(text, len, "ALL") ?
				(word_is(text, len, "DISCARD") ? "DISCARD ALL" : "DEALLOCATE ALL") :
				(word_is(text, len, "DISCARD") ? "DISCARD" : "DEALLOCATE"));
	} else {
		/* the first word, upper case, as PostgreSQL's tags are (SET, RESET, PREPARE...) */
		size_t n = 0;
		while (n < len && n < sizeof(tag) - 1 && isalpha((unsigned char)text[n])) {
			tag[n] = (char)toupper((unsigned char)text[n]);
			n++;
		}
		tag[n] = '\0';
		if (!n)
			snprintf(tag, sizeof(tag), "SELECT 0");
	}
	pq_write_command_complete(&pb, tag);
	buf_add_pkt(&sc->out, &pb);
	pktbuf_free(&pb);
	return true;
}

/* A simple query: each ';'-separated statement in turn (quotes are not looked at: good
 * enough to give pgsift several results for one Query), then ReadyForQuery. */
static void server_query(FakeServerConn *sc, const char *text, size_t len)
{
	size_t start = 0;
	bool any = false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] != ';')
			continue;
		const char *stmt = text + start;
		size_t slen = i - start;
		start = i + 1;
		bool blank = true;
		for (size_t k = 0; k < slen; k++)
			if (!isspace((unsigned char)stmt[k]))
				blank = false;
		if (blank && (any || i < len))
			continue;
		any = true;
		if (!server_statement(sc, stmt, slen, true))
			break;
		if (sc->copy_in)
			return; /* ReadyForQuery after CopyDone / CopyFail */
	}
	server_put_ready(sc);
}

static void server_startup(FakeServerConn *sc, const uint8_t *pkt, uint32_t len)
{
	uint32_t code = pkt_be32(pkt + 4);
	if (code == PQ_CANCEL_REQUEST_CODE) {
		sc->close_after_flush = true;
		return;
	}
	if (code == PQ_SSL_REQUEST_CODE || code == PQ_GSSENC_REQUEST_CODE) {
		buf_add(&sc->out, "N", 1);
		return;
	}
	PktReader r;
	pkt_reader_init(&r, pkt + 8, len - 8);
	snprintf(sc->user, sizeof(sc->user), "fuzzuser");
	for (;;) {
		const char *k, *v;
		size_t klen;
		if (!pkt_get_cstring(&r, &k, &klen) || klen == 0 || !pkt_get_cstring(&r, &v, NULL))
			break;
		if (strcmp(k, "user") == 0)
			snprintf(sc->user, sizeof(sc->user), "%s", v);
	}
	if (R.srv & 4) {
		server_put_error(sc, "FATAL", "28P01", "password authentication failed");
		sc->close_after_flush = true;
		return;
	}
	PktBuf pb;
	pktbuf_init(&pb);
	switch (R.srv & 3) {
	case 0:
		pktbuf_free(&pb);
		server_put_login_ok(sc);
		return;
	case 1:
		pq_write_auth(&pb, PQ_AUTH_CLEARTEXT, NULL, 0);
		sc->phase = FS_PASSWORD;
		break;
	case 2:
		pq_write_auth(&pb, PQ_AUTH_MD5, "salt", 4);
		sc->phase = FS_PASSWORD;
		break;
	case 3:
		sc->scram = scram_server_new(server_scram_secret(sc->user), sc->user);
		if (!sc->scram)
			abort();
		pq_write_auth(&pb, PQ_AUTH_SASL, "SCRAM-SHA-256\0", 15);
		sc->phase = FS_SASL_INIT;
		break;
	}
	buf_add_pkt(&sc->out, &pb);
	pktbuf_free(&pb);
}

static void server_sasl(FakeServerConn *sc, const uint8_t *payload, size_t len)
{
	const char *reply;
	size_t reply_len;
	ScramResult sr;
	PktReader r;
	pkt_reader_init(&r, payload, len);
	if (sc->phase == FS_SASL_INIT) {
		const char *mech;
		uint32_t n;
		const uint8_t *data;
		if (!pkt_get_cstring(&r, &mech, NULL) || !pkt_get_u32(&r, &n) ||
		    !pkt_get_bytes(&r, n, &data)) {
			server_put_error(sc, "FATAL", "08P01", "malformed SASLInitialResponse");
			sc->close_after_flush = true;
			return;
		}
		sr = scram_server_handle_first(sc->scram, (const char *)data, n, &reply,
					       &reply_len);
		sc->phase = FS_SASL_FINAL;
	} else {
		sr = scram_server_handle_final(sc->scram, (const char *)payload, len, &reply,
					       &reply_len);
	}
	if (sr != SCRAM_OK) {
		server_put_error(sc, "FATAL", "28P01", "password authentication failed");
		sc->close_after_flush = true;
		return;
	}
	PktBuf pb;
	pktbuf_init(&pb);
	pq_write_auth(&pb,
		      sc->phase == FS_SASL_FINAL && reply[0] == 'v' ? PQ_AUTH_SASL_FINAL :
								      PQ_AUTH_SASL_CONTINUE,
		      reply, reply_len);
	buf_add_pkt(&sc->out, &pb);
	pktbuf_free(&pb);
	if (reply[0] == 'v') {
		scram_server_free(sc->scram);
		sc->scram = NULL;
		server_put_login_ok(sc);
	}
}

/* One frame from pgsift, answered as PostgreSQL would. */
static void server_frame(FakeServerConn *sc, uint8_t type, const uint8_t *payload, size_t len)
{
	PktReader r;
	pkt_reader_init(&r, payload, len);
	if (sc->phase == FS_PASSWORD) {
		if (type == PQ_MSG_PASSWORD)
			server_put_login_ok(sc);
		return;
	}
	if (sc->phase == FS_SASL_INIT || sc->phase == FS_SASL_FINAL) {
		if (type == PQ_MSG_PASSWORD)
			server_sasl(sc, payload, len);
		return;
	}
	if (type == PQ_MSG_TERMINATE) {
		sc->close_after_flush = true;
		return;
	}
	if (sc->copy_in) {
		if (type == PQ_MSG_COPY_DATA || type == PQ_MSG_FLUSH || type == PQ_MSG_SYNC)
			return;
		sc->copy_in = false;
		if (type == PQ_MSG_COPY_DONE) {
			PktBuf pb;
			pktbuf_init(&pb);
			pq_write_command_complete(&pb, "COPY 1");
			buf_add_pkt(&sc->out, &pb);
			pktbuf_free(&pb);
		} else {
			server_put_error(sc, "ERROR", "57014", "COPY from stdin failed");
			if (sc->tx == 'T')
				sc->tx = 'E';
		}
		server_put_ready(sc);
		return;
	}
	if (sc->skip_to_sync && type != PQ_MSG_SYNC)
		return;
	const char *s1 = NULL, *s2 = NULL;
	size_t l2 = 0;
	switch (type) {
	case PQ_MSG_QUERY:
		if (pkt_get_cstring(&r, &s1, &l2))
			server_query(sc, s1, l2);
		else
			server_put_error(sc, "FATAL", "08P01", "invalid Query message");
		break;
	case PQ_MSG_PARSE:
		if (!pkt_get_cstring(&r, &s1, NULL) || !pkt_get_cstring(&r, &s2, &l2)) {
			server_put_error(sc, "ERROR", "08P01", "invalid Parse message");
			sc->skip_to_sync = true;
		} else if (text_has(s2, l2, "fail") || text_has(s2, l2, "missing")) {
			server_put_error(sc, "ERROR", "42P01",
					 "relation \"missing\" does not exist");
			sc->skip_to_sync = true;
		} else {
			if (!s1[0])
				snprintf(sc->unnamed, sizeof(sc->unnamed), "%s", s2);
			server_put_simple(sc, PQ_MSG_PARSE_COMPLETE);
		}
		break;
	case PQ_MSG_BIND:
		server_put_simple(sc, PQ_MSG_BIND_COMPLETE);
		break;
	case PQ_MSG_DESCRIBE: {
		uint8_t what = 0;
		if (!pkt_get_u8(&r, &what))
			break;
		PktBuf pb;
		pktbuf_init(&pb);
		if (what == 'S') {
			pktbuf_start(&pb, PQ_MSG_PARAMETER_DESCRIPTION);
			pktbuf_put_u16(&pb, 1);
			pktbuf_put_u32(&pb, 23);
			pktbuf_finish(&pb);
		}
		static const char *const names[] = {"a", "b"};
		static const uint32_t oids[] = {23, 25};
		pq_write_row_description(&pb, names, oids, 2);
		buf_add_pkt(&sc->out, &pb);
		pktbuf_free(&pb);
		break;
	}
	case PQ_MSG_EXECUTE:
		if (!server_statement(sc, sc->unnamed[0] ? sc->unnamed : "SELECT 1",
				      strlen(sc->unnamed[0] ? sc->unnamed : "SELECT 1"), false))
			sc->skip_to_sync = true;
		break;
	case PQ_MSG_CLOSE:
		server_put_simple(sc, PQ_MSG_CLOSE_COMPLETE);
		break;
	case PQ_MSG_SYNC:
		sc->skip_to_sync = false;
		server_put_ready(sc);
		break;
	case PQ_MSG_FLUSH:
		break;
	case PQ_MSG_FUNCTION_CALL: {
		PktBuf pb;
		pktbuf_init(&pb);
		pktbuf_start(&pb, PQ_MSG_FUNCTION_CALL_RESPONSE);
		pktbuf_put_u32(&pb, 1);
		pktbuf_put_u8(&pb, '7');
		pktbuf_finish(&pb);
		buf_add_pkt(&sc->out, &pb);
		pktbuf_free(&pb);
		server_put_ready(sc);
		break;
	}
	case PQ_MSG_COPY_DATA:
	case PQ_MSG_COPY_DONE:
	case PQ_MSG_COPY_FAIL:
		break; /* outside COPY: ignored, as PostgreSQL does */
	default:
		server_put_error(sc, "FATAL", "08P01", "invalid frontend message type");
		sc->close_after_flush = true;
		break;
	}
}

/* The scripted server: every whole frame received is answered. */
static void server_scripted(FakeServerConn *sc)
{
	size_t at = 0;
	unsigned crash_after = R.srv >> 4;
	while (!sc->close_after_flush) {
		const uint8_t *f = sc->in.p + at;
		size_t avail = sc->in.len - at;
		if (sc->phase == FS_STARTUP) {
			if (avail < 8)
				break;
			uint32_t len = pkt_be32(f);
			if (len < 8 || len > 10000) {
				sc->close_after_flush = true;
				break;
			}
			if (avail < len)
				break;
			server_startup(sc, f, len);
			at += len;
			continue;
		}
		if (avail < 5)
			break;
		uint32_t len = pkt_be32(f + 1);
		if (len < 4) {
			sc->close_after_flush = true;
			break;
		}
		if (avail < 1 + (size_t)len)
			break;
		server_frame(sc, f[0], f + 5, len - 4);
		at += 1 + (size_t)len;
		if (crash_after && ++sc->answered >= crash_after)
			sc->close_after_flush = true;
	}
	buf_drop(&sc->in, at);
}

/*
 * Queues a raw chunk, following the frames in it so that no frame declares more than
 * WIRE_RAW_MAX_FRAME bytes (a larger length is taken modulo that). pgsift allocates a server
 * frame's declared length before its bytes arrive (tests/fuzz/crashes-found/README.md): with
 * lengths up to 4 GB every other input spent its time zeroing shadow memory, and the known
 * problem hid everything else. PGSIFT_FUZZ_HUGE_FRAMES=1 lets them through. A header split
 * across chunks is held back until it is whole.
 */
#define WIRE_RAW_MAX_FRAME (1u << 20)

static void server_raw_queue(FakeServerConn *sc, const uint8_t *p, size_t n)
{
	static int huge = -1;
	if (huge < 0)
		huge = getenv("PGSIFT_FUZZ_HUGE_FRAMES") != NULL;
	if (huge) {
		buf_add(&sc->out, p, n);
		return;
	}
	while (n) {
		if (sc->raw_left) {
			size_t k = n < sc->raw_left ? n : sc->raw_left;
			buf_add(&sc->out, p, k);
			sc->raw_left -= (uint32_t)k;
			p += k;
			n -= k;
			continue;
		}
		sc->raw_hdr[sc->raw_hdr_len++] = *p++;
		n--;
		if (sc->raw_hdr_len < 5)
			continue;
		uint32_t len = pkt_be32(sc->raw_hdr + 1);
		if (len > WIRE_RAW_MAX_FRAME) {
			len = 4 + len % WIRE_RAW_MAX_FRAME;
			sc->raw_hdr[1] = (uint8_t)(len >> 24);
			sc->raw_hdr[2] = (uint8_t)(len >> 16);
			sc->raw_hdr[3] = (uint8_t)(len >> 8);
			sc->raw_hdr[4] = (uint8_t)len;
		}
		buf_add(&sc->out, sc->raw_hdr, 5);
		sc->raw_hdr_len = 0;
		sc->raw_left = len >= 4 ? len - 4 : 0;
	}
}

/* The raw server: the next chunk of the input, whatever was received. */
static void server_raw(FakeServerConn *sc)
{
	sc->in.len = 0;
	if (R.chunks_done)
		return;
	const uint8_t *end = memmem(R.chunks, R.chunks_len, WIRE_SEP, WIRE_SEP_LEN);
	size_t n = end ? (size_t)(end - R.chunks) : R.chunks_len;
	if (n == 6 && memcmp(R.chunks, "!close", 6) == 0)
		sc->close_after_flush = true;
	else
		server_raw_queue(sc, R.chunks, n);
	if (end) {
		R.chunks += n + WIRE_SEP_LEN;
		R.chunks_len -= n + WIRE_SEP_LEN;
	} else {
		R.chunks_done = true;
	}
}

static void server_conn_close(FakeServerConn *sc)
{
	if (sc->fd >= 0)
		close(sc->fd);
	sc->fd = -1;
	buf_free(&sc->in);
	buf_free(&sc->out);
	scram_server_free(sc->scram);
	memset(sc, 0, sizeof(*sc));
	sc->fd = -1;
}

static bool server_io(FakeServerConn *sc)
{
	if (sc->fd < 0)
		return false;
	bool dead = false;
	bool moved = sock_write(sc->fd, &sc->out, &dead);
	size_t n = sock_read(sc->fd, &sc->in, &dead);
	if (n) {
		moved = true;
		if (R.kind == WIRE_SERVER_SCRIPTED)
			server_scripted(sc);
		else
			server_raw(sc);
		moved |= sock_write(sc->fd, &sc->out, &dead);
	}
	if (dead || (sc->close_after_flush && sc->out.len == 0)) {
		server_conn_close(sc);
		moved = true;
	}
	return moved;
}

static bool server_accept(void)
{
	bool moved = false;
	for (;;) {
		int fd = accept4(W.server_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return moved;
		moved = true;
		FakeServerConn *sc = NULL;
		for (int i = 0; i < MAX_SERVER_CONNS && !sc; i++)
			if (R.sconns[i].fd < 0)
				sc = &R.sconns[i];
		if (!sc) {
			close(fd); /* "too many connections": pgsift sees the server hang up */
			continue;
		}
		sc->fd = fd;
		sc->phase = R.kind == WIRE_SERVER_SCRIPTED ? FS_STARTUP : FS_RAW;
		sc->tx = 'I';
	}
}

/* ---- the loop ---- */

static size_t list_len(const List *l)
{
	size_t n = 0;
	for (const ListNode *p = l->head.next; p != &l->head; p = p->next)
		n++;
	return n;
}

/* One pass: pgsift's loop once without waiting, then every socket of the harness. Returns
 * whether anything moved. */
static bool wire_pass(void)
{
	bool moved = false;
	uv_run(&W.loop, UV_RUN_NOWAIT);
	moved |= server_accept();
	for (int i = 0; i < MAX_SERVER_CONNS; i++)
		moved |= server_io(&R.sconns[i]);
	for (int i = 0; i < MAX_CLIENTS; i++)
		moved |= client_io(&R.clients[i]);
	if (R.hook)
		moved |= R.hook(R.hook_arg);
	for (int i = 0; i < R.n_cancels; i++) {
		if (R.cancel_fds[i] < 0)
			continue;
		Buf none = {0};
		bool dead = false;
		if (sock_read(R.cancel_fds[i], &none, &dead))
			moved = true;
		buf_free(&none);
		if (dead) {
			close(R.cancel_fds[i]);
			R.cancel_fds[i] = -1;
			moved = true;
		}
	}
	size_t nc = list_len(&G.clients), ns = list_len(&G.servers);
	if (nc != R.last_clients || ns != R.last_servers)
		moved = true;
	R.last_clients = nc;
	R.last_servers = ns;
	return moved;
}

static void wire_settle(void)
{
	int quiet = 0;
	for (long passes = 0; quiet < WIRE_QUIET_PASSES; passes++) {
		if (passes > MAX_PASSES) {
			fprintf(stderr, "fuzz_wire: still busy after %d passes: livelock\n",
				MAX_PASSES);
			abort();
		}
		quiet = wire_pass() ? 0 : quiet + 1;
		if (W.level >= LL_NOISE && passes % 1000 == 999)
			fprintf(stderr, "fuzz_wire: %ld passes\n", passes + 1);
	}
}

/* Connects client i (and, with a harness login, starts its login). */
static FakeClient *wire_client(int i, bool harness_login, const WireLogin *who)
{
	FakeClient *fc = &R.clients[i];
	if (fc->fd >= 0)
		return fc;
	fc->fd = connect_proxy();
	fc->harness_login = harness_login;
	fc->who = who;
	fc->logged_in = false;
	if (fc->fd >= 0 && harness_login) {
		client_put_startup(fc);
		wire_settle();
	}
	return fc;
}

static void wire_begin(WireServerKind kind, const Config *cfg)
{
	wire_setup();
	memset(&R, 0, sizeof(R));
	R.kind = kind;
	for (int i = 0; i < MAX_CLIENTS; i++)
		R.clients[i].fd = -1;
	for (int i = 0; i < MAX_SERVER_CONNS; i++)
		R.sconns[i].fd = -1;
	G.cfg = cfg;
	G.paused = false;
	G.shutting_down = false;
	log_set_level(W.level);
}

/* Closes everything of the run: the harness's sockets first (pgsift sees its peers leave, as
 * it would), then whatever pgsift still holds, then the pools. */
static void wire_end(void)
{
	wire_settle();
	for (int i = 0; i < MAX_CLIENTS; i++) {
		client_disconnect(&R.clients[i]);
		buf_free(&R.clients[i].in);
		buf_free(&R.clients[i].out);
	}
	for (int i = 0; i < R.n_cancels; i++)
		if (R.cancel_fds[i] >= 0)
			close(R.cancel_fds[i]);
	R.n_cancels = 0;
	wire_settle();
	for (int i = 0; i < MAX_SERVER_CONNS; i++)
		server_conn_close(&R.sconns[i]);
	wire_settle();
	proxy_close_connections();
	for (int i = 0; i < 1000 && (list_len(&G.clients) || list_len(&G.servers)); i++)
		uv_run(&W.loop, UV_RUN_NOWAIT);
	if (list_len(&G.clients) || list_len(&G.servers)) {
		fprintf(stderr, "fuzz_wire: %zu clients and %zu servers still open after the run\n",
			list_len(&G.clients), list_len(&G.servers));
		abort();
	}
	proxy_free_pools();
	/* The buffers' free list links them through their data[] at offset 20, where LeakSanitizer
	 * (which scans aligned words only) cannot follow the links: emptied after every run. */
	conn_module_cleanup();
	/* anything accepted while closing */
	for (;;) {
		int fd = accept4(W.server_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			break;
		close(fd);
	}
}

static bool segment_is(const uint8_t *p, size_t n, const char *cmd)
{
	return n == strlen(cmd) && memcmp(p, cmd, n) == 0;
}

static void wire_cancel(FakeClient *fc)
{
	if (R.n_cancels == MAX_CANCELS)
		return;
	int fd = connect_proxy();
	if (fd < 0)
		return;
	uint8_t pkt[16] = {0, 0, 0, 16};
	uint32_t v[3] = {PQ_CANCEL_REQUEST_CODE, fc ? fc->pid : 0, fc ? fc->key : 0};
	for (int i = 0; i < 3; i++) {
		pkt[4 + 4 * i] = (uint8_t)(v[i] >> 24);
		pkt[5 + 4 * i] = (uint8_t)(v[i] >> 16);
		pkt[6 + 4 * i] = (uint8_t)(v[i] >> 8);
		pkt[7 + 4 * i] = (uint8_t)v[i];
	}
	if (send(fd, pkt, sizeof(pkt), MSG_NOSIGNAL) != (ssize_t)sizeof(pkt)) {
		close(fd);
		return;
	}
	R.cancel_fds[R.n_cancels++] = fd;
}

void wire_run_client_input(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	wire_setup();
	uint8_t cfgb = data[0];
	wire_begin(WIRE_SERVER_SCRIPTED, NULL);
	R.srv = data[1];
	G.cfg = W.cfgs[cfgb & 15];
	bool harness_login = cfgb & 0x10;
	const WireLogin *who = &logins[cfgb >> 5];
	data += 2;
	size -= 2;

	FakeClient *cur = wire_client(0, harness_login, who);
	for (;;) {
		const uint8_t *end = memmem(data, size, WIRE_SEP, WIRE_SEP_LEN);
		size_t n = end ? (size_t)(end - data) : size;
		if (segment_is(data, n, "!c0") || segment_is(data, n, "!c1")) {
			cur = wire_client(data[2] - '0', harness_login, who);
		} else if (segment_is(data, n, "!cancel")) {
			wire_cancel(cur);
		} else if (segment_is(data, n, "!eof")) {
			if (cur->fd >= 0)
				shutdown(cur->fd, SHUT_WR);
		} else if (segment_is(data, n, "!close")) {
			client_disconnect(cur);
		} else if (cur->fd >= 0) {
			buf_add(&cur->out, data, n);
		}
		wire_settle();
		if (!end)
			break;
		data += n + WIRE_SEP_LEN;
		size -= n + WIRE_SEP_LEN;
	}
	wire_end();
}

void wire_run_server_input(const uint8_t *data, size_t size)
{
	static const size_t n_scripts = sizeof(wire_scripts) / sizeof(wire_scripts[0]);
	static const WireLogin trust_login = {"fuzzuser", "fuzzpass", "db"};
	if (size < 2)
		return;
	wire_setup();
	const WireScript *script = &wire_scripts[data[0] % n_scripts];
	uint8_t mode = data[1];
	wire_begin(WIRE_SERVER_RAW, W.raw_cfgs[(mode & 1) | ((mode >> 1) & 2)]);
	R.chunks = data + 2;
	R.chunks_len = size - 2;
	int rounds = (mode & 2) ? 2 : 1;
	for (int k = 0; k < rounds; k++) {
		FakeClient *fc = wire_client(k, true, &trust_login);
		for (size_t i = 0; i < script->n_steps && fc->fd >= 0; i++) {
			buf_add(&fc->out, script->steps[i].data, script->steps[i].len);
			wire_settle();
		}
		client_disconnect(fc);
		wire_settle();
	}
	wire_end();
}

/* ---- fuzz_tls: the plumbing around a client of the target's own (fuzz_wire.h) ---- */

const char *wire_dir(void)
{
	wire_setup();
	return W.dir;
}

const struct Config *wire_config(const char *name, const char *keys)
{
	wire_setup();
	char ini[8192], path[256], err[1024];
	snprintf(path, sizeof(path), "%s/pgsift-%s.ini", W.dir, name);
	snprintf(ini, sizeof(ini),
		 "[pgsift]\n"
		 "listen_addr = 127.0.0.1\n"
		 "listen_port = %d\n"
		 "unix_socket_dir = %s\n"
		 "auth_file = %s/userlist.txt\n"
		 "max_client_conn = 8\n"
		 "max_packet_size = 65536\n"
		 "log_level = fatal\n"
		 "%s"
		 "\n[databases]\n"
		 "db = host=%s port=%d dbname=realdb\n"
		 "* = host=%s port=%d\n",
		 PROXY_PORT, W.dir, W.dir, keys, W.dir, SERVER_PORT, W.dir, SERVER_PORT);
	write_file(path, ini);
	ConfigArgs args;
	memset(&args, 0, sizeof(args));
	args.config_file = path;
	Config *cfg = config_load(&args, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "fuzz_wire: %s: %s\n", path, err);
		abort();
	}
	return cfg;
}

void wire_custom_begin(const struct Config *cfg, WirePassFn hook, void *arg)
{
	wire_begin(WIRE_SERVER_SCRIPTED, cfg);
	R.hook = hook;
	R.hook_arg = arg;
}

int wire_connect(void)
{
	return connect_proxy();
}

void wire_run_until_quiet(void)
{
	wire_settle();
}

bool wire_bystander_login(void)
{
	static const WireLogin who = {"fuzzuser", "fuzzpass", "db"};
	FakeClient *fc = wire_client(MAX_CLIENTS - 1, true, &who);
	wire_settle();
	return fc->fd >= 0 && fc->logged_in;
}

bool wire_bystander_query(void)
{
	static const char query[] = "Q\0\0\0\x0dSELECT 1"; /* and its terminating NUL */
	FakeClient *fc = &R.clients[MAX_CLIENTS - 1];
	if (fc->fd < 0)
		return false;
	unsigned ready = fc->n_ready, complete = fc->n_complete;
	buf_add(&fc->out, query, sizeof(query));
	wire_settle();
	return fc->fd >= 0 && fc->n_ready > ready && fc->n_complete > complete;
}

void wire_custom_end(void)
{
	wire_end(); /* the hook still runs: the target closes its own client first */
	R.hook = NULL;
}
