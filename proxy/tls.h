/*
 * tls: OpenSSL 3 over memory BIOs, for conn.c. A Tls never touches a socket: conn.c feeds it the
 * bytes it read (tls_feed), takes the plaintext out (tls_read), gives it plaintext to encrypt
 * (tls_write) and sends what tls_take_out hands back, so that nothing blocks the event loop and
 * everything above conn (the codec, client and server) is the same with or without TLS.
 *
 * Two contexts, built from the configuration: one towards clients (pgsift is the TLS server:
 * client_tls_*) and one towards servers (pgsift is the TLS client: server_tls_*). tls_refresh
 * rebuilds them when the Config changed (a reload); if a new file is bad, the old context stays
 * and the reason is logged. Connections keep the context they started with (OpenSSL counts its
 * references), so a reload never drops a connection.
 */
#ifndef PGSIFT_TLS_H
#define PGSIFT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"

typedef struct Tls Tls;

typedef enum { TLS_DONE = 0, TLS_AGAIN, TLS_FAIL } TlsStep;

/* Builds (or rebuilds, when cfg is not the Config of the last call) the contexts: the one towards
 * clients when client_tls_sslmode is set, the one towards servers when TLS to them is required
 * or has files (else at the first server that answers 'S', so that a proxy that merely prefers
 * TLS never pays for OpenSSL's state). False, with err set, when a file of cfg is bad: the
 * contexts of the previous call stay in use. */
bool tls_refresh(const Config *cfg, char *err, size_t errlen);
/* A context towards clients exists (client_tls_sslmode is not disable and its files loaded). */
bool tls_accept_ready(void);
void tls_module_cleanup(void);

/* A connection accepted from a client (pgsift is the TLS server); direct: the client started TLS
 * without an SSLRequest (PostgreSQL 17's sslnegotiation=direct), so ALPN "postgresql" is
 * required. NULL when out of memory or no context. */
Tls *tls_new_accept(bool direct);
/* A connection to a server at host (its name for SNI and verify-full) in mode (require or
 * stronger verifies as libpq does). NULL when out of memory. */
Tls *tls_new_connect(const char *host, TlsMode mode);
void tls_free(Tls *t);

/* Bytes read from the socket. */
bool tls_feed(Tls *t, const void *data, size_t len);
/* Raw bytes fed and not yet decrypted (conn.c stops reading when too many wait). */
size_t tls_buffered_in(const Tls *t);
/* Advances the handshake; TLS_FAIL with tls_error() set. */
TlsStep tls_handshake(Tls *t);
/* Up to cap decrypted bytes into out: > 0 bytes, 0 when more input is needed, -1 on the peer's
 * close_notify or an error (tls_error()). */
ssize_t tls_read(Tls *t, void *out, size_t cap);
/* Plaintext decrypted and waiting inside OpenSSL (beyond what tls_read returned). */
bool tls_has_pending(const Tls *t);
/* Encrypts len bytes (all of them: a memory BIO never pushes back). False on an error. */
bool tls_write(Tls *t, const void *data, size_t len);
/* Encrypted bytes waiting to be sent. */
size_t tls_out_len(const Tls *t);
/* Moves up to cap of them into buf; returns how many. */
size_t tls_take_out(Tls *t, void *buf, size_t cap);
/* What went wrong last, for the log and the client's error. */
const char *tls_error(const Tls *t);

/* "TLSv1.3/TLS_AES_256_GCM_SHA384" (PgBouncer's tls column) into buf; "" before the handshake. */
void tls_describe(const Tls *t, char *buf, size_t len);
/* The common name of the client's verified certificate, or false. */
bool tls_peer_cn(const Tls *t, char *buf, size_t len);
/* tls-server-end-point channel binding data (RFC 5929): the hash of pgsift's certificate on an
 * accepted connection. False when it cannot be computed. */
bool tls_server_end_point(const Tls *t, unsigned char *out, size_t cap, size_t *len);

#endif
