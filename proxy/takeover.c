/*
 * takeover: handing the listening sockets from a running pgsift to a new one. See takeover.h.
 */
#include "proxy/takeover.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config/log.h"
#include "proxy/proto.h"

#define TAKEOVER_MAX 32	       /* listeners handed over: MAX_LISTENERS + metrics, with room */
#define TAKEOVER_WAIT_MS 10000 /* the new process waits this long for each answer */
#define TAKEOVER_MSG_MAX 8192  /* "LISTENERS n" and the names */

bool takeover_path(const char *unix_socket_dir, int port, char *out, size_t len)
{
	if (!unix_socket_dir || !unix_socket_dir[0])
		return false;
	int n = snprintf(out, len, "%s/.s.PGSQL.%d.takeover", unix_socket_dir, port);
	return n > 0 && (size_t)n < len && (size_t)n < sizeof(((struct sockaddr_un *)0)->sun_path);
}

/* ==== the new process ==== */

static struct {
	int fd;
	char *name; /* owned */
} received[TAKEOVER_MAX];
static size_t n_received;
static int ctl_fd = -1; /* to the old process, until takeover_finish makes it the link */

/* The predecessor link: the control connection, kept while the old process drains. */
static uv_pipe_t pred_link;
static bool pred_open;
static char pred_scratch[64];

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static bool send_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		s += w;
		n -= (size_t)w;
	}
	return true;
}

/* Reads one '\n'-ended line (without it) byte by byte, so that nothing after it is consumed. */
static bool read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = recv(fd, &c, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		if (c == '\n') {
			buf[n] = '\0';
			return true;
		}
		if (n + 1 >= len)
			return false;
		buf[n++] = c;
	}
}

static void received_close_all(void)
{
	for (size_t i = 0; i < n_received; i++) {
		if (received[i].fd >= 0)
			close(received[i].fd);
		free(received[i].name);
	}
	n_received = 0;
}

/* The first message: "LISTENERS n\n" and n names, the descriptors riding with its first byte. */
static int fetch_listeners(int fd, char *err, size_t errlen)
{
	char msg[TAKEOVER_MSG_MAX + 1];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * TAKEOVER_MAX)];
	} ctl;
	struct iovec iov = {.iov_base = msg, .iov_len = TAKEOVER_MSG_MAX};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	ssize_t r;
	do
		r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		snprintf(err, errlen, "the running pgsift did not answer: %s",
			 r == 0 ? "connection closed" : strerror(errno));
		return -1;
	}
	int fds[TAKEOVER_MAX];
	size_t n_fds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && n_fds < TAKEOVER_MAX; i++)
			memcpy(&fds[n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	size_t len = (size_t)r;
	/* the rest of the names, if the message came in pieces */
	unsigned want = 0;
	for (;;) {
		msg[len] = '\0';
		size_t lines = 0;
		for (size_t i = 0; i < len; i++)
			lines += msg[i] == '\n';
		if (sscanf(msg, "LISTENERS %u", &want) != 1 || want > TAKEOVER_MAX)
			break;
		if (lines >= want + 1 || len >= TAKEOVER_MSG_MAX)
			break;
		do
			r = recv(fd, msg + len, TAKEOVER_MSG_MAX - len, 0);
		while (r < 0 && errno == EINTR);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	char *line = strchr(msg, '\n');
	if (sscanf(msg, "LISTENERS %u", &want) != 1 || !line || want != n_fds) {
		snprintf(err, errlen,
			 "the running pgsift answered something else than its listeners (%u names, "
			 "%zu sockets)",
			 want, n_fds);
		for (size_t i = 0; i < n_fds; i++)
			close(fds[i]);
		return -1;
	}
	for (size_t i = 0; i < n_fds; i++) {
		char *name = line + 1;
		line = strchr(name, '\n');
		if (!line) {
			snprintf(err, errlen,
				 "the running pgsift's list of listeners is cut short");
			for (size_t j = i; j < n_fds; j++)
				close(fds[j]);
			return -1;
		}
		*line = '\0';
		char *copy = strdup(name);
		if (!copy) { /* unclaimable: closed now, bound afresh by whoever wants it */
			close(fds[i]);
			continue;
		}
		received[n_received].fd = fds[i];
		received[n_received].name = copy;
		n_received++;
	}
	return (int)n_fds;
}

int takeover_fetch(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			return 0; /* nothing runs there: a normal start */
		snprintf(err, errlen, "cannot reach the running pgsift at %s: %s", path,
			 strerror(e));
		return -1;
	}
	set_timeouts(fd, TAKEOVER_WAIT_MS);
	int n = -1;
	if (!send_all(fd, "TAKEOVER\n", 9))
		snprintf(err, errlen, "cannot ask the running pgsift at %s: %s", path,
			 strerror(errno));
	else
		n = fetch_listeners(fd, err, errlen);
	if (n < 0) {
		close(fd);
		return -1;
	}
	ctl_fd = fd;
	return n;
}

int takeover_claim(const char *name)
{
	for (size_t i = 0; i < n_received; i++) {
		if (received[i].fd >= 0 && strcmp(received[i].name, name) == 0) {
			int fd = received[i].fd;
			received[i].fd = -1;
			return fd;
		}
	}
	return -1;
}

static void pred_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(pred_scratch, sizeof(pred_scratch));
}

/* The old process sends nothing more: its end closing means it has exited. */
static void pred_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	if (nread < 0 && pred_open) {
		pred_open = false;
		log_info("the previous pgsift has exited");
		uv_close((uv_handle_t *)s, NULL);
	}
}

int takeover_finish(uv_loop_t *loop, char *err, size_t errlen)
{
	if (ctl_fd < 0)
		return 0;
	for (size_t i = 0; i < n_received; i++)
		if (received[i].fd >= 0)
			log_info("taken-over listener %s is not in the configuration: closed",
				 received[i].name);
	received_close_all();
	char line[64];
	if (!send_all(ctl_fd, "ADOPTED\n", 8) || !read_line(ctl_fd, line, sizeof(line)) ||
	    strcmp(line, "RELEASED") != 0) {
		snprintf(err, errlen,
			 "the running pgsift did not let go of its listeners (both processes "
			 "accept connections now; stop the old one with SIGTERM)");
		close(ctl_fd);
		ctl_fd = -1;
		return -1;
	}
	set_timeouts(ctl_fd, 0);
	if (uv_pipe_init(loop, &pred_link, 0) == 0 && uv_pipe_open(&pred_link, ctl_fd) == 0 &&
	    uv_read_start((uv_stream_t *)&pred_link, pred_alloc_cb, pred_read_cb) == 0) {
		pred_open = true;
	} else {
		close(ctl_fd);
	}
	ctl_fd = -1;
	log_info("took the listening sockets over; the previous pgsift serves its clients until "
		 "they leave");
	return 0;
}

bool takeover_has_predecessor(void)
{
	return pred_open;
}

static void pred_write_cb(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

void takeover_forward_cancel(uint32_t pid, uint32_t key)
{
	if (!pred_open)
		return;
	uv_write_t *w = malloc(sizeof(*w) + 16);
	if (!w)
		return;
	uint32_t words[4] = {htonl(16), htonl(PQ_CANCEL_REQUEST_CODE), htonl(pid), htonl(key)};
	memcpy(w + 1, words, 16);
	uv_buf_t b = uv_buf_init((char *)(w + 1), 16);
	if (uv_write(w, (uv_stream_t *)&pred_link, &b, 1, pred_write_cb) != 0)
		free(w);
	else
		log_debug("cancel request passed to the previous pgsift");
}

/* ==== the running process ==== */

enum { CTL_WAIT_TAKEOVER, CTL_WAIT_ADOPTED, CTL_LINK };

typedef struct CtlConn {
	uv_pipe_t pipe;
	char buf[256];
	size_t len;
	int phase;
} CtlConn;

static uv_pipe_t ctl_listener;
static bool ctl_listening;
static char ctl_path[256];
static const TakeoverOps *ctl_ops;
static CtlConn *ctl_conn; /* the one exchange at a time (owned) */
static bool handed_over;  /* the socket file is the newer process's */

static void ctl_conn_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void ctl_conn_close(CtlConn *cc)
{
	if (ctl_conn == cc)
		ctl_conn = NULL;
	if (!uv_is_closing((uv_handle_t *)&cc->pipe))
		uv_close((uv_handle_t *)&cc->pipe, ctl_conn_close_cb);
}

/* Only this user (or root) may take the listeners. */
static bool ctl_peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	return cred.uid == 0 || cred.uid == getuid();
}

static bool ctl_send_listeners(int fd)
{
	int fds[TAKEOVER_MAX];
	const char *names[TAKEOVER_MAX];
	size_t n = ctl_ops->collect(fds, names, TAKEOVER_MAX);
	char msg[TAKEOVER_MSG_MAX];
	size_t len = (size_t)snprintf(msg, sizeof(msg), "LISTENERS %zu\n", n);
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(msg + len, sizeof(msg) - len, "%s\n", names[i]);
		if (w < 0 || (size_t)w >= sizeof(msg) - len)
			return false;
		len += (size_t)w;
	}
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * TAKEOVER_MAX)];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = {.iov_base = msg, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (n) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	/* a fresh connection's send buffer takes a few kilobytes at once */
	ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
	return w == (ssize_t)len;
}

static void ctl_release(CtlConn *cc, int fd)
{
	handed_over = true;
	if (ctl_listening) {
		ctl_listening = false;
		uv_close((uv_handle_t *)&ctl_listener, NULL);
	}
	cc->phase = CTL_LINK;
	/* first: release may end this process (no clients), closing fd */
	(void)send_all(fd, "RELEASED\n", 9);
	ctl_ops->release();
	log_info("a new pgsift took the listening sockets over; serving the clients here until "
		 "they leave");
}

/* One line of the exchange; false closes the connection. */
static bool ctl_line(CtlConn *cc, const char *line)
{
	int fd = -1;
	(void)uv_fileno((uv_handle_t *)&cc->pipe, &fd);
	if (cc->phase == CTL_WAIT_TAKEOVER && strcmp(line, "TAKEOVER") == 0) {
		if (!ctl_peer_allowed(fd)) {
			log_warn("takeover refused: the process asking runs as another user");
			return false;
		}
		if (!ctl_send_listeners(fd)) {
			log_warn("takeover: could not send the listening sockets: %s",
				 strerror(errno));
			return false;
		}
		cc->phase = CTL_WAIT_ADOPTED;
		return true;
	}
	if (cc->phase == CTL_WAIT_ADOPTED && strcmp(line, "ADOPTED") == 0) {
		ctl_release(cc, fd);
		return true;
	}
	return false;
}

static void ctl_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	CtlConn *cc = h->data;
	(void)suggested;
	*buf = uv_buf_init(cc->buf + cc->len, (unsigned)(sizeof(cc->buf) - cc->len));
}

/* Passed-back CancelRequests: 16 bytes each, as a client sends them. */
static void ctl_link_packets(CtlConn *cc)
{
	size_t off = 0;
	while (cc->len - off >= 16) {
		const uint8_t *p = (const uint8_t *)cc->buf + off;
		if (pkt_be32(p) == 16 && pkt_be32(p + 4) == PQ_CANCEL_REQUEST_CODE)
			ctl_ops->cancel(pkt_be32(p + 8), pkt_be32(p + 12));
		off += 16;
	}
	memmove(cc->buf, cc->buf + off, cc->len - off);
	cc->len -= off;
}

static void ctl_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	CtlConn *cc = s->data;
	(void)buf;
	if (nread < 0) {
		if (cc->phase == CTL_WAIT_ADOPTED)
			log_warn("takeover abandoned by the new process: still accepting here");
		ctl_conn_close(cc);
		return;
	}
	cc->len += (size_t)nread;
	while (cc->phase != CTL_LINK) {
		char *nl = memchr(cc->buf, '\n', cc->len);
		if (!nl) {
			if (cc->len == sizeof(cc->buf))
				ctl_conn_close(cc);
			return;
		}
		*nl = '\0';
		bool ok = ctl_line(cc, cc->buf);
		size_t used = (size_t)(nl + 1 - cc->buf);
		memmove(cc->buf, nl + 1, cc->len - used);
		cc->len -= used;
		if (!ok) {
			ctl_conn_close(cc);
			return;
		}
	}
	ctl_link_packets(cc);
}

static void ctl_connection_cb(uv_stream_t *server, int status)
{
	if (status < 0)
		return;
	CtlConn *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return;
	uv_pipe_init(server->loop, &cc->pipe, 0);
	cc->pipe.data = cc;
	if (uv_accept(server, (uv_stream_t *)&cc->pipe) != 0) {
		uv_close((uv_handle_t *)&cc->pipe, ctl_conn_close_cb);
		return;
	}
	if (ctl_conn || handed_over) { /* one takeover at a time */
		uv_close((uv_handle_t *)&cc->pipe, ctl_conn_close_cb);
		return;
	}
	ctl_conn = cc;
	if (uv_read_start((uv_stream_t *)&cc->pipe, ctl_alloc_cb, ctl_read_cb) != 0)
		ctl_conn_close(cc);
}

/* Whether a process answers on path (a newer or a second pgsift: leave its socket alone). */
static bool ctl_path_live(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return live;
}

int takeover_serve(uv_loop_t *loop, const char *path, const TakeoverOps *ops)
{
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) || ctl_path_live(path))
			return UV_EADDRINUSE;
		unlink(path);
	}
	ctl_ops = ops;
	snprintf(ctl_path, sizeof(ctl_path), "%s", path);
	uv_pipe_init(loop, &ctl_listener, 0);
	/* only this user: the listeners are what a client trusts to be pgsift */
	mode_t old = umask(0077);
	int r = uv_pipe_bind(&ctl_listener, path);
	umask(old);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&ctl_listener, 4, ctl_connection_cb);
	if (r != 0) {
		uv_close((uv_handle_t *)&ctl_listener, NULL);
		return r;
	}
	ctl_listening = true;
	return 0;
}

void takeover_stop_offering(void)
{
	if (ctl_listening) {
		ctl_listening = false;
		uv_close((uv_handle_t *)&ctl_listener, NULL);
		if (!handed_over)
			unlink(ctl_path);
	}
}

void takeover_stop(void)
{
	takeover_stop_offering();
	if (ctl_conn)
		ctl_conn_close(ctl_conn);
	if (pred_open) {
		pred_open = false;
		uv_close((uv_handle_t *)&pred_link, NULL);
	}
}
