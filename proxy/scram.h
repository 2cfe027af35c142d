/*
 * scram: SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, without channel binding,
 * for both sides of the proxy. It works on SASL message bodies only: the caller takes them out
 * of SASLInitialResponse / SASLResponse / AuthenticationSASLContinue / AuthenticationSASLFinal
 * and puts the replies back in; no sockets, no framing, no event loop.
 *
 * - ScramServer: pgsift authenticating a client against an auth_file secret (plain text, or
 *   "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" as in pg_authid). After a
 *   successful exchange it knows the client's ClientKey (proof XOR signature), which
 *   scram_server_keys() hands to the server side so that pgsift can log in to PostgreSQL with
 *   the client's credentials without ever knowing the password (PgBouncer's pass-through).
 * - ScramClient: pgsift authenticating to PostgreSQL, from a password or from such keys.
 *
 * Outcomes are ScramResult: a malformed or out-of-order message is SCRAM_ERR_PROTOCOL (08P01),
 * a wrong password SCRAM_ERR_AUTH (28P01); scram_*_error() says what exactly, for the log and
 * the ErrorResponse. After any error the object refuses further steps; free it.
 *
 * SASLprep (RFC 4013): PostgreSQL normalizes the password with SASLprep and uses the raw bytes
 * when that fails. pgsift uses ASCII passwords unchanged, which is what SASLprep does to them,
 * and uses the raw bytes of every non-ASCII password. That agrees with PostgreSQL whenever
 * SASLprep would leave the password alone or reject it (invalid UTF-8, prohibited characters),
 * and disagrees for non-ASCII passwords that SASLprep changes (non-ASCII spaces, soft hyphens,
 * zero-width characters, text that is not in NFKC): those give a different key, and the login
 * fails with 28P01. Only plain-text passwords are concerned; SCRAM secrets carry their keys.
 *
 * Cost: deriving keys from a password runs PBKDF2 with the secret's iteration count (4096:
 * about 1 ms); it happens in scram_server_new() for a plain-text secret and in
 * scram_client_handle_first() for a password. SCRAM secrets and key pairs cost no PBKDF2.
 *
 * Not thread-safe per object; different objects may be used from different threads.
 */
#ifndef PGSIFT_SCRAM_H
#define PGSIFT_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_MECHANISM "SCRAM-SHA-256"
#define SCRAM_MECHANISM_PLUS "SCRAM-SHA-256-PLUS"
#define SCRAM_CB_MAX 64		  /* the longest tls-server-end-point hash (SHA-512) */
#define SCRAM_KEY_LEN 32	  /* SHA-256 output: StoredKey, ServerKey, ClientKey, proofs */
#define SCRAM_SALT_MAX 128	  /* longest salt (bytes) accepted in a secret */
#define SCRAM_DEFAULT_SALT_LEN 16 /* what PostgreSQL generates */
#define SCRAM_DEFAULT_ITERATIONS 4096
#define SCRAM_MAX_ITERATIONS 1000000 /* a server asking for more is refused: CPU exhaustion */
#define SCRAM_NONCE_MAX 128	     /* longest nonce accepted by scram_*_set_nonce() */
#define SCRAM_SECRET_MAX 512 /* buffer large enough for any secret scram_secret_build() writes */

typedef enum {
	SCRAM_OK = 0,
	SCRAM_ERR_PROTOCOL, /* malformed / unexpected message, nonce or binding mismatch: 08P01 */
	SCRAM_ERR_AUTH,	    /* wrong password, unknown user, unusable secret: 28P01 */
	SCRAM_ERR_SERVER_SIGNATURE, /* client side: the server could not prove it knows the secret */
	SCRAM_ERR_NOMEM,	    /* 53200 */
	SCRAM_ERR_INTERNAL,	    /* OpenSSL or the random generator failed: XX000 */
} ScramResult;

/* "ok", "protocol violation", ... for logs. */
const char *scram_result_str(ScramResult r);
/* The SQLSTATE to report for r: "00000", "08P01", "28P01", "28000", "53200", "XX000". */
const char *scram_result_sqlstate(ScramResult r);

/* A parsed SCRAM-SHA-256 secret. Holds key material: wipe with OPENSSL_cleanse when done. */
typedef struct ScramSecret {
	int iterations;
	size_t salt_len;
	uint8_t salt[SCRAM_SALT_MAX];
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
} ScramSecret;

/*
 * Parses "SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>". False when
 * text is not exactly that (then, as in PostgreSQL, it is a plain-text password or an md5
 * secret). out is written only on success.
 */
bool scram_secret_parse(const char *text, ScramSecret *out) __attribute__((warn_unused_result));

/*
 * Computes the secret PostgreSQL would store for password and writes its text form into out
 * (out_size >= SCRAM_SECRET_MAX is always enough). salt NULL: SCRAM_DEFAULT_SALT_LEN random
 * bytes. iterations < 1 means SCRAM_DEFAULT_ITERATIONS. False when salt_len is 0 or over
 * SCRAM_SALT_MAX, out is too small, or OpenSSL fails.
 */
bool scram_secret_build(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
			char *out, size_t out_size) __attribute__((warn_unused_result));

/* ---- server side: pgsift authenticating a client ---- */

typedef struct ScramServer ScramServer;

/*
 * Starts an exchange for user against secret (plain text, or a SCRAM secret). A secret from
 * which SCRAM cannot work (NULL for an unknown user, "", or an md5 secret) starts a mock exchange,
 * as PostgreSQL does: it looks the same to the client, with a salt derived from the user name,
 * and ends in SCRAM_ERR_AUTH, so that a client cannot probe which users exist.
 * scram_server_error() then says why. Returns NULL when out of memory or the RNG fails.
 * The object copies what it needs: secret and user may be freed afterwards.
 */
ScramServer *scram_server_new(const char *secret, const char *user);
/* Wipes the key material and frees. NULL is allowed. */
void scram_server_free(ScramServer *s);

/* On a TLS connection, before the exchange: the tls-server-end-point data of pgsift's
 * certificate, which makes SCRAM-SHA-256-PLUS available (and a client's "y" a downgrade). */
bool scram_server_offer_binding(ScramServer *s, const uint8_t *data, size_t len);
/* The mechanism the client's SASLInitialResponse names; false when it is not one offered. */
bool scram_server_choose(ScramServer *s, const char *mechanism);

/*
 * For tests only: replaces the random server nonce (printable ASCII except ',', at most
 * SCRAM_NONCE_MAX bytes) before scram_server_handle_first(). A predictable nonce lets a
 * recorded exchange be replayed, so the proxy never calls this. False if nonce is invalid or
 * the exchange has started.
 */
bool scram_server_set_nonce(ScramServer *s, const char *nonce) __attribute__((warn_unused_result));

/*
 * Takes the client-first-message (the SASLInitialResponse data, msg_len bytes, no NUL needed)
 * and returns the server-first-message in *reply / *reply_len (NUL-terminated, owned by s,
 * valid until s is freed), to be sent in AuthenticationSASLContinue. Accepts the gs2 headers
 * "n,," and "y,,"; "p=..." (channel binding) and an authzid are SCRAM_ERR_PROTOCOL.
 */
ScramResult scram_server_handle_first(ScramServer *s, const char *msg, size_t msg_len,
				      const char **reply, size_t *reply_len)
	__attribute__((warn_unused_result));

/*
 * Takes the client-final-message (SASLResponse data) and, when the proof is right, returns
 * SCRAM_OK and the server-final-message ("v=...") for AuthenticationSASLFinal, owned by s.
 * A malformed message, a wrong channel-binding value or nonce is SCRAM_ERR_PROTOCOL; a wrong
 * proof (or a mock exchange) is SCRAM_ERR_AUTH.
 */
ScramResult scram_server_handle_final(ScramServer *s, const char *msg, size_t msg_len,
				      const char **reply, size_t *reply_len)
	__attribute__((warn_unused_result));

/*
 * After scram_server_handle_final() returned SCRAM_OK: copies the client's ClientKey and the
 * secret's ServerKey, with which scram_client_new_keys() can log in to a PostgreSQL server
 * that holds the same secret (same salt and iterations). False before success.
 */
bool scram_server_keys(const ScramServer *s, uint8_t client_key[SCRAM_KEY_LEN],
		       uint8_t server_key[SCRAM_KEY_LEN]) __attribute__((warn_unused_result));

/* What went wrong (or why the exchange is a mock), as a sentence; "" when nothing did. */
const char *scram_server_error(const ScramServer *s);

/* ---- client side: pgsift authenticating to PostgreSQL ---- */

typedef struct ScramClient ScramClient;

/* From a password (SASLprep'd as described above). NULL when out of memory or the RNG fails. */
ScramClient *scram_client_new(const char *password);
/*
 * From a ClientKey and ServerKey (from scram_server_keys(), or a pair kept earlier): no
 * password and no PBKDF2. The server's salt and iterations must be those the keys come from,
 * else the server rejects the proof (28P01 from PostgreSQL).
 */
ScramClient *scram_client_new_keys(const uint8_t client_key[SCRAM_KEY_LEN],
				   const uint8_t server_key[SCRAM_KEY_LEN]);
/* Wipes the key material and frees. NULL is allowed. */
void scram_client_free(ScramClient *c);

/* For tests only, as scram_server_set_nonce(): before scram_client_first(). */
bool scram_client_set_nonce(ScramClient *c, const char *nonce) __attribute__((warn_unused_result));

/*
 * The client-first-message "n,,n=,r=<nonce>" for SASLInitialResponse (owned by c). The user
 * name is left empty: PostgreSQL takes it from the startup packet and ignores this one.
 */
ScramResult scram_client_first(ScramClient *c, const char **msg, size_t *msg_len)
	__attribute__((warn_unused_result));

/*
 * Takes the server-first-message (AuthenticationSASLContinue data) and returns the
 * client-final-message with the proof (owned by c). SCRAM_ERR_PROTOCOL when the message is
 * malformed, the nonce does not extend ours, the salt is empty or the iteration count is not
 * in 1..SCRAM_MAX_ITERATIONS.
 */
ScramResult scram_client_handle_first(ScramClient *c, const char *msg, size_t msg_len,
				      const char **reply, size_t *reply_len)
	__attribute__((warn_unused_result));

/*
 * Takes the server-final-message (AuthenticationSASLFinal data). SCRAM_OK only when the
 * server's signature is right; a wrong one is SCRAM_ERR_SERVER_SIGNATURE (someone in the
 * middle, or a server with another secret: do not go on with this connection). "e=..." from
 * the server is SCRAM_ERR_AUTH.
 */
ScramResult scram_client_handle_final(ScramClient *c, const char *msg, size_t msg_len)
	__attribute__((warn_unused_result));

/* What went wrong, as a sentence; "" when nothing did. */
const char *scram_client_error(const ScramClient *c);

#endif
