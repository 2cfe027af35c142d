/*
 * fuzz_wire: the harness of the wire fuzzers (fuzz_client, fuzz_server; fuzz_tls through the
 * functions at the end of this file). It runs the real proxy code (proxy/: client, server,
 * pool, conn, admin...) in-process on its own libuv loop, with real Unix sockets on both
 * sides, in a temporary directory made once per process:
 *
 *   fake clients (plain sockets) --> DIR/.s.PGSQL.6432: pgsift's listener (client_accept)
 *   pgsift's server connections  --> DIR/.s.PGSQL.5432: the fake server (plain sockets)
 *
 * One input is one run: the fake clients connect and send, the fake server answers, and the
 * loop is run until nothing moves (WIRE_QUIET_PASSES passes in a row in which no socket of
 * the harness read, wrote, accepted or closed anything and no connection of pgsift's came or
 * went). At the end every socket of the harness is closed, every connection of pgsift's is
 * closed and the pools are freed, so that nothing of one run is seen by the next and memory
 * does not grow.
 *
 * Input formats (every byte after the header is split into segments at WIRE_SEP):
 *
 * fuzz_client:  [cfg][srv] segment (SEP segment)*
 *   cfg bits 0-1  pgsift's auth_type: trust, md5, scram-sha-256, plain
 *       bits 2-3  pool_mode: session, transaction, statement, transaction
 *       bit  4    the harness logs each client in itself (startup packet, password, md5 or
 *                 SCRAM computed from the real salt and nonce) and the segments follow the
 *                 login; without it the segments are the client's bytes from the start
 *       bits 5-7  who logs in (WireLogin table in fuzz_wire.c: user, password, database)
 *   srv bits 0-1  how the fake server authenticates pgsift: trust, cleartext, md5, SCRAM
 *       bit  2    the fake server refuses the login (FATAL 28P01)
 *       bit  3    the fake server adds a NoticeResponse and a ParameterStatus before each
 *                 ReadyForQuery
 *       bits 4-7  when not 0: the fake server closes a connection after answering that many
 *                 messages (a server crash in the middle of things)
 *   A segment is written to the current client, then the loop runs until quiet. Segments
 *   that are exactly one of these are commands instead: "!c0" / "!c1" make client 0 / 1
 *   current (connecting it, and logging it in, first), "!cancel" sends a CancelRequest with
 *   the current client's BackendKeyData on a new connection, "!eof" shuts the current
 *   client's writing side, "!close" closes it.
 *
 * fuzz_server:  [script][mode] chunk (SEP chunk)*
 *   script        which client script (wire_scripts.h, real drivers' frames) the client runs
 *   mode bit 0    transaction pooling (else session)
 *        bit 1    a second client runs the same script after the first
 *        bit 2    the client logs in with md5 (else trust)
 *   Whenever a connection of pgsift's to the fake server has sent something (its startup
 *   packet, a forwarded frame, a CancelRequest...), the fake server answers with the next
 *   chunk, raw. A chunk "!close" closes that connection instead.
 */
#ifndef PGSIFT_FUZZ_WIRE_H
#define PGSIFT_FUZZ_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_SEP "~|~|"
#define WIRE_SEP_LEN 4
#define WIRE_QUIET_PASSES 4

/* A growable byte queue: appended at the end, consumed from the front (the harness's socket
 * buffers, and the TLS target's client). */
typedef struct Buf {
	uint8_t *p;
	size_t len, cap;
} Buf;
void buf_add(Buf *b, const void *p, size_t n);
void buf_drop(Buf *b, size_t n);
void buf_free(Buf *b);

typedef struct WireStep {
	uint32_t len;
	const uint8_t *data;
} WireStep;

typedef struct WireScript {
	const char *name;
	const WireStep *steps;
	size_t n_steps;
} WireScript;

typedef enum { WIRE_SERVER_SCRIPTED, WIRE_SERVER_RAW } WireServerKind;

/* One pass of a client the target runs itself (fuzz_tls): reads and writes its socket and
 * returns whether anything moved, so that a run only ends when it too is quiet. */
typedef bool (*WirePassFn)(void *arg);

struct Config;

/* Runs one fuzz_client input. */
void wire_run_client_input(const uint8_t *data, size_t size);
/* Runs one fuzz_server input. */
void wire_run_server_input(const uint8_t *data, size_t size);

/*
 * For a target that runs a client of its own (fuzz_tls, with OpenSSL between it and the
 * socket) in front of the same pgsift and scripted fake server as fuzz_client (trust login,
 * no notices, no crash). One run: wire_custom_begin, wire_connect for its socket(s), its
 * writes each followed by wire_run_until_quiet (hook is called in every pass), its sockets
 * closed, wire_custom_end (which closes and checks everything of pgsift's as wire_end does).
 */
/* The harness's temporary directory (made on the first call), for files a config names. */
const char *wire_dir(void);
/* A Config from the keys of [pgsift] after the harness's own (listen address, socket
 * directory, auth_file with the fuzz_client users, max_client_conn 8), databases db and *
 * on the fake server. name: the file's name in wire_dir(). Aborts on an error. */
const struct Config *wire_config(const char *name, const char *keys);
void wire_custom_begin(const struct Config *cfg, WirePassFn hook, void *arg);
/* A new non-blocking connection to pgsift's Unix socket, or -1. */
int wire_connect(void);
void wire_run_until_quiet(void);
/* A plain client (fuzzuser, database db, the harness answering md5 / SCRAM) that logs in
 * before the target's client starts: whether it is logged in. */
bool wire_bystander_login(void);
/* The logged-in bystander sends Query "SELECT 1": whether it got CommandComplete and
 * ReadyForQuery back (what another client of pgsift's must get whatever one client did). */
bool wire_bystander_query(void);
void wire_custom_end(void);

#endif
