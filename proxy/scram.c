/*
 * scram: SCRAM-SHA-256 message parsing, building and key arithmetic for both sides of the
 * proxy (see scram.h). The parsers follow RFC 5802's grammar and PostgreSQL's own reading of
 * it (src/backend/libpq/auth-scram.c, src/interfaces/libpq/fe-auth-scram.c): every message is
 * a comma-separated list of "<letter>=<value>" attributes in a fixed order. Everything from
 * the network is checked before use; a malformed message never crashes, it fails the exchange
 * with SCRAM_ERR_PROTOCOL and a sentence saying what was wrong.
 *
 * The keys: SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, i), ClientKey =
 * HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey), ServerKey =
 * HMAC(SaltedPassword, "Server Key"); AuthMessage = client-first-bare "," server-first ","
 * client-final-without-proof; ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage);
 * ServerSignature = HMAC(ServerKey, AuthMessage).
 *
 * Base64 is our own strict codec: OpenSSL's EVP_DecodeBlock() skips blanks and miscounts
 * padding, and a secret or proof must decode to exactly its bytes.
 */
#include "proxy/scram.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "proxy/auth_md5.h"

#define RAW_NONCE_LEN 18 /* as PostgreSQL: 18 random bytes, 24 base64 characters */
#define ERROR_MAX 200

enum { STEP_START = 0, STEP_CONTINUE, STEP_DONE, STEP_FINISHED, STEP_FAILED };

struct ScramServer {
	int step;
	bool mock;		       /* the exchange can only fail: unknown user or md5 secret */
	bool cbind_yes;		       /* the client sent "y,,": it expects "eSws" in c= */
	bool plus;		       /* the client chose SCRAM-SHA-256-PLUS */
	uint8_t cb_data[SCRAM_CB_MAX]; /* tls-server-end-point of this TLS connection */
	size_t cb_len;		       /* 0: no channel binding offered (plaintext) */
	ScramSecret secret;
	char nonce[SCRAM_NONCE_MAX + 1];   /* server part of the nonce */
	char *client_first_bare;	   /* owned */
	char *server_first;		   /* owned; also the reply of handle_first */
	char *full_nonce;		   /* owned: client nonce + server nonce */
	char *server_final;		   /* owned; the reply of handle_final */
	uint8_t client_key[SCRAM_KEY_LEN]; /* recovered from the proof, valid in STEP_DONE */
	char error[ERROR_MAX];
};

struct ScramClient {
	int step;
	bool have_keys;			 /* client_key/server_key given, no password */
	char *password;			 /* owned, wiped on free; NULL with have_keys */
	char nonce[SCRAM_NONCE_MAX + 1]; /* our nonce */
	char *client_first;		 /* owned: "n,," + client_first_bare */
	char *client_final;		 /* owned */
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
	uint8_t server_signature[SCRAM_KEY_LEN]; /* expected in server-final */
	char error[ERROR_MAX];
};

/* A cursor over one message: [p, end). */
typedef struct {
	const char *p;
	const char *end;
} Cursor;

static bool make_nonce(char out[SCRAM_NONCE_MAX + 1]);
static bool nonce_is_valid(const char *nonce, size_t len);
static bool mock_salt(const char *user, uint8_t salt[SCRAM_DEFAULT_SALT_LEN]);
static bool keys_from_password(const char *password, const uint8_t *salt, size_t salt_len,
			       int iterations, uint8_t client_key[SCRAM_KEY_LEN],
			       uint8_t stored_key[SCRAM_KEY_LEN],
			       uint8_t server_key[SCRAM_KEY_LEN]);
static bool hmac(const uint8_t *key, size_t key_len, const void *data, size_t len,
		 uint8_t out[SCRAM_KEY_LEN]);
static bool sha256(const uint8_t *data, size_t len, uint8_t out[SCRAM_KEY_LEN]);
static char *auth_message(const char *client_first_bare, const char *server_first,
			  const char *client_final, size_t client_final_len);
static bool read_attr(Cursor *c, char attr, const char **val, size_t *val_len);
static bool read_any_attr(Cursor *c, char *attr, const char **val, size_t *val_len);
static bool parse_int(const char *s, size_t len, int max, int *out);
static size_t b64_encoded_len(size_t len);
static void b64_encode(const uint8_t *in, size_t len, char *out);
static bool b64_decode(const char *in, size_t len, uint8_t *out, size_t out_size, size_t *out_len);
static ScramResult server_fail(ScramServer *s, ScramResult r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static ScramResult client_fail(ScramClient *c, ScramResult r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static const char SECRET_PREFIX[] = "SCRAM-SHA-256$";

const char *scram_result_str(ScramResult r)
{
	switch (r) {
	case SCRAM_OK:
		return "ok";
	case SCRAM_ERR_PROTOCOL:
		return "protocol violation";
	case SCRAM_ERR_AUTH:
		return "authentication failed";
	case SCRAM_ERR_SERVER_SIGNATURE:
		return "wrong server signature";
	case SCRAM_ERR_NOMEM:
		return "out of memory";
	case SCRAM_ERR_INTERNAL:
		return "internal error";
	}
	return "unknown";
}

const char *scram_result_sqlstate(ScramResult r)
{
	switch (r) {
	case SCRAM_OK:
		return "00000";
	case SCRAM_ERR_PROTOCOL:
		return "08P01";
	case SCRAM_ERR_AUTH:
		return "28P01";
	case SCRAM_ERR_SERVER_SIGNATURE:
		return "28000";
	case SCRAM_ERR_NOMEM:
		return "53200";
	case SCRAM_ERR_INTERNAL:
		return "XX000";
	}
	return "XX000";
}

bool scram_secret_parse(const char *text, ScramSecret *out)
{
	ScramSecret sec;
	const char *p, *colon, *dollar, *colon2;
	size_t n;
	bool ok = false;

	memset(&sec, 0, sizeof(sec));
	if (strncmp(text, SECRET_PREFIX, sizeof(SECRET_PREFIX) - 1) != 0)
		return false;
	p = text + sizeof(SECRET_PREFIX) - 1;
	colon = strchr(p, ':');
	if (!colon || !parse_int(p, (size_t)(colon - p), INT_MAX, &sec.iterations))
		goto out;
	p = colon + 1;
	dollar = strchr(p, '$');
	if (!dollar ||
	    !b64_decode(p, (size_t)(dollar - p), sec.salt, sizeof(sec.salt), &sec.salt_len) ||
	    sec.salt_len == 0)
		goto out;
	p = dollar + 1;
	colon2 = strchr(p, ':');
	if (!colon2 || !b64_decode(p, (size_t)(colon2 - p), sec.stored_key, SCRAM_KEY_LEN, &n) ||
	    n != SCRAM_KEY_LEN)
		goto out;
	p = colon2 + 1;
	if (!b64_decode(p, strlen(p), sec.server_key, SCRAM_KEY_LEN, &n) || n != SCRAM_KEY_LEN)
		goto out;
	*out = sec;
	ok = true;
out:
	OPENSSL_cleanse(&sec, sizeof(sec));
	return ok;
}

bool scram_secret_build(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
			char *out, size_t out_size)
{
	uint8_t random_salt[SCRAM_DEFAULT_SALT_LEN];
	uint8_t client_key[SCRAM_KEY_LEN], stored_key[SCRAM_KEY_LEN], server_key[SCRAM_KEY_LEN];
	char salt_b64[b64_encoded_len(SCRAM_SALT_MAX) + 1];
	char stored_b64[b64_encoded_len(SCRAM_KEY_LEN) + 1];
	char server_b64[b64_encoded_len(SCRAM_KEY_LEN) + 1];
	bool ok = false;
	int n;

	if (!salt) {
		if (RAND_bytes(random_salt, sizeof(random_salt)) != 1)
			return false;
		salt = random_salt;
		salt_len = sizeof(random_salt);
	}
	if (salt_len == 0 || salt_len > SCRAM_SALT_MAX)
		return false;
	if (iterations < 1)
		iterations = SCRAM_DEFAULT_ITERATIONS;
	if (!keys_from_password(password, salt, salt_len, iterations, client_key, stored_key,
				server_key))
		goto out;
	b64_encode(salt, salt_len, salt_b64);
	b64_encode(stored_key, SCRAM_KEY_LEN, stored_b64);
	b64_encode(server_key, SCRAM_KEY_LEN, server_b64);
	n = snprintf(out, out_size, "%s%d:%s$%s:%s", SECRET_PREFIX, iterations, salt_b64,
		     stored_b64, server_b64);
	ok = n > 0 && (size_t)n < out_size;
out:
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(stored_key, sizeof(stored_key));
	OPENSSL_cleanse(server_key, sizeof(server_key));
	return ok;
}

/* ---- server side ---- */

ScramServer *scram_server_new(const char *secret, const char *user)
{
	ScramServer *s = calloc(1, sizeof(*s));
	uint8_t client_key[SCRAM_KEY_LEN];

	if (!s)
		return NULL;
	if (!make_nonce(s->nonce))
		goto fail;
	if (secret && scram_secret_parse(secret, &s->secret))
		return s;
	if (secret && secret[0] != '\0' && !auth_md5_is_secret(secret)) {
		/* Plain text: derive a secret now, as PostgreSQL would have stored it. */
		s->secret.iterations = SCRAM_DEFAULT_ITERATIONS;
		s->secret.salt_len = SCRAM_DEFAULT_SALT_LEN;
		if (RAND_bytes(s->secret.salt, SCRAM_DEFAULT_SALT_LEN) != 1 ||
		    !keys_from_password(secret, s->secret.salt, s->secret.salt_len,
					s->secret.iterations, client_key, s->secret.stored_key,
					s->secret.server_key))
			goto fail;
		OPENSSL_cleanse(client_key, sizeof(client_key));
		return s;
	}
	/*
	 * Unknown user, empty password or md5 secret: a mock exchange. The salt is derived from the user name and a
	 * per-process random value, so repeated attempts see the same salt, as for a real user.
	 */
	s->mock = true;
	s->secret.iterations = SCRAM_DEFAULT_ITERATIONS;
	s->secret.salt_len = SCRAM_DEFAULT_SALT_LEN;
	if (!mock_salt(user ? user : "", s->secret.salt))
		goto fail;
	snprintf(s->error, sizeof(s->error),
		 !secret ? "user \"%s\" has no password in the auth_file" :
		 secret[0] == '\0' ?
			   "user \"%s\" has an empty password" :
			   "user \"%s\" has an md5 secret, which cannot verify SCRAM-SHA-256",
		 user ? user : "");
	return s;
fail:
	scram_server_free(s);
	return NULL;
}

void scram_server_free(ScramServer *s)
{
	if (!s)
		return;
	free(s->client_first_bare);
	free(s->server_first);
	free(s->full_nonce);
	free(s->server_final);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

/* A fixed nonce (tests), taken only before the exchange starts; dst holds SCRAM_NONCE_MAX + 1. */
static bool nonce_set(char *dst, bool started, const char *nonce)
{
	size_t len = strlen(nonce);

	if (started || len == 0 || len > SCRAM_NONCE_MAX || !nonce_is_valid(nonce, len))
		return false;
	memcpy(dst, nonce, len + 1);
	return true;
}

bool scram_server_set_nonce(ScramServer *s, const char *nonce)
{
	return nonce_set(s->nonce, s->step != STEP_START, nonce);
}

ScramResult scram_server_handle_first(ScramServer *s, const char *msg, size_t msg_len,
				      const char **reply, size_t *reply_len)
{
	Cursor c = {msg, msg + msg_len};
	const char *bare, *val, *client_nonce;
	size_t val_len, client_nonce_len;
	char salt_b64[b64_encoded_len(SCRAM_SALT_MAX) + 1];
	char attr;
	int n;

	if (s->step != STEP_START)
		return server_fail(s, SCRAM_ERR_PROTOCOL, "unexpected SCRAM client-first-message");
	if (memchr(msg, '\0', msg_len))
		return server_fail(s, SCRAM_ERR_PROTOCOL, "malformed SCRAM message: NUL byte");

	/* gs2-header: cbind-flag "," [authzid] "," */
	if (c.p == c.end)
		return server_fail(s, SCRAM_ERR_PROTOCOL, "malformed SCRAM message: empty message");
	switch (*c.p) {
	case 'n':
		if (s->plus)
			return server_fail(s, SCRAM_ERR_PROTOCOL,
					   "channel binding is required by SCRAM-SHA-256-PLUS, but "
					   "the client message does not include it");
		break;
	case 'y':
		/* The client could bind but thinks we cannot: a downgrade when we offered it. */
		if (s->cb_len)
			return server_fail(s, SCRAM_ERR_PROTOCOL,
					   "SCRAM channel binding negotiation error");
		s->cbind_yes = true;
		break;
	case 'p': {
		if (!s->plus)
			return server_fail(
				s, SCRAM_ERR_PROTOCOL,
				"the client selected SCRAM-SHA-256 without channel "
				"binding, but the SCRAM message includes channel binding "
				"data");
		static const char want[] = "p=tls-server-end-point";
		size_t wl = sizeof(want) - 1;
		if ((size_t)(c.end - c.p) <= wl || memcmp(c.p, want, wl) != 0 || c.p[wl] != ',')
			return server_fail(s, SCRAM_ERR_PROTOCOL,
					   "unsupported SCRAM channel-binding type");
		c.p += wl - 1; /* onto the name's last byte: the comma follows */
		break;
	}
	default:
		return server_fail(s, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: unexpected channel-binding flag");
	}
	c.p++;
	if (c.p == c.end || *c.p != ',')
		return server_fail(
			s, SCRAM_ERR_PROTOCOL,
			"malformed SCRAM message: comma expected after channel-binding flag");
	c.p++;
	if (c.p < c.end && *c.p == 'a')
		return server_fail(
			s, SCRAM_ERR_PROTOCOL,
			"the client uses an authorization identity, which is not supported");
	if (c.p == c.end || *c.p != ',')
		return server_fail(s, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: comma expected after gs2 header");
	c.p++;

	/* client-first-message-bare: [reserved-mext ","] username "," nonce ["," extensions] */
	bare = c.p;
	if (c.p < c.end && *c.p == 'm')
		return server_fail(s, SCRAM_ERR_PROTOCOL,
				   "the client requires an unsupported SCRAM extension");
	/* The user name is ignored, as PostgreSQL does: the startup packet's is authoritative. */
	if (!read_attr(&c, 'n', &val, &val_len))
		return server_fail(s, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: user name attribute expected");
	if (!read_attr(&c, 'r', &client_nonce, &client_nonce_len))
		return server_fail(s, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: nonce attribute expected");
	if (client_nonce_len == 0 || !nonce_is_valid(client_nonce, client_nonce_len))
		return server_fail(
			s, SCRAM_ERR_PROTOCOL,
			"malformed SCRAM message: invalid characters in the client nonce");
	while (c.p < c.end) {
		if (!read_any_attr(&c, &attr, &val, &val_len))
			return server_fail(s, SCRAM_ERR_PROTOCOL,
					   "malformed SCRAM message: garbage after the nonce");
	}

	s->client_first_bare = strndup(bare, (size_t)(c.end - bare));
	if (asprintf(&s->full_nonce, "%.*s%s", (int)client_nonce_len, client_nonce, s->nonce) < 0)
		s->full_nonce = NULL;
	b64_encode(s->secret.salt, s->secret.salt_len, salt_b64);
	n = s->full_nonce ? asprintf(&s->server_first, "r=%s,s=%s,i=%d", s->full_nonce, salt_b64,
				     s->secret.iterations) :
			    -1;
	if (n < 0)
		s->server_first = NULL; /* asprintf leaves it undefined on failure */
	if (n < 0 || !s->client_first_bare)
		return server_fail(s, SCRAM_ERR_NOMEM, "out of memory"); /* freed by _free() */
	s->step = STEP_CONTINUE;
	*reply = s->server_first;
	*reply_len = (size_t)n;
	return SCRAM_OK;
}

/* What c= of the client-final-message must decode to: the gs2 header, then for -PLUS the
 * channel binding data (RFC 5802 section 7). */
static size_t server_expected_cbind(const ScramServer *s, uint8_t *out)
{
	if (!s->plus) {
		memcpy(out, s->cbind_yes ? "y,," : "n,,", 3);
		return 3;
	}
	static const char hdr[] = "p=tls-server-end-point,,";
	memcpy(out, hdr, sizeof(hdr) - 1);
	memcpy(out + sizeof(hdr) - 1, s->cb_data, s->cb_len);
	return sizeof(hdr) - 1 + s->cb_len;
}

bool scram_server_offer_binding(ScramServer *s, const uint8_t *data, size_t len)
{
	if (s->step != STEP_START || len == 0 || len > SCRAM_CB_MAX)
		return false;
	memcpy(s->cb_data, data, len);
	s->cb_len = len;
	return true;
}

bool scram_server_choose(ScramServer *s, const char *mechanism)
{
	if (strcmp(mechanism, SCRAM_MECHANISM) == 0)
		return true;
	if (strcmp(mechanism, SCRAM_MECHANISM_PLUS) != 0 || !s->cb_len)
		return false;
	s->plus = true;
	return true;
}

ScramResult scram_server_handle_final(ScramServer *s, const char *msg, size_t msg_len,
				      const char **reply, size_t *reply_len)
{
	Cursor c = {msg, msg + msg_len};
	const char *cbind, *nonce, *val, *last = NULL, *proof_b64 = NULL;
	size_t cbind_len, nonce_len, val_len, proof_b64_len = 0, n;
	uint8_t expected_cbind[32 + SCRAM_CB_MAX];
	size_t expected_len = server_expected_cbind(s, expected_cbind);
	uint8_t cbind_raw[32 + SCRAM_CB_MAX], proof[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN],
		stored[SCRAM_KEY_LEN];
	char sig_b64[b64_encoded_len(SCRAM_KEY_LEN) + 1];
	char *auth = NULL;
	char attr = 0;
	ScramResult r;

	if (s->step != STEP_CONTINUE)
		return server_fail(s, SCRAM_ERR_PROTOCOL, "unexpected SCRAM client-final-message");
	if (memchr(msg, '\0', msg_len))
		return server_fail(s, SCRAM_ERR_PROTOCOL, "malformed SCRAM message: NUL byte");

	if (!read_attr(&c, 'c', &cbind, &cbind_len))
		return server_fail(s, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: channel binding attribute expected");
	if (!b64_decode(cbind, cbind_len, cbind_raw, sizeof(cbind_raw), &n) || n != expected_len ||
	    CRYPTO_memcmp(cbind_raw, expected_cbind, expected_len) != 0)
		return server_fail(s, SCRAM_ERR_PROTOCOL,
				   "SCRAM channel binding check failed: unexpected channel binding "
				   "data");
	if (!read_attr(&c, 'r', &nonce, &nonce_len))
		return server_fail(s, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: nonce attribute expected");
	if (nonce_len != strlen(s->full_nonce) || memcmp(nonce, s->full_nonce, nonce_len) != 0)
		return server_fail(s, SCRAM_ERR_PROTOCOL, "unexpected SCRAM nonce");
	/* Extensions may follow; the proof must be the last attribute. */
	while (c.p < c.end) {
		last = c.p;
		if (!read_any_attr(&c, &attr, &val, &val_len))
			return server_fail(s, SCRAM_ERR_PROTOCOL,
					   "malformed SCRAM message: invalid attribute");
		proof_b64 = val;
		proof_b64_len = val_len;
	}
	if (!last || attr != 'p')
		return server_fail(s, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: proof attribute expected at the end");
	if (!b64_decode(proof_b64, proof_b64_len, proof, sizeof(proof), &n) || n != SCRAM_KEY_LEN)
		return server_fail(s, SCRAM_ERR_PROTOCOL, "malformed SCRAM message: invalid proof");

	/* client-final-message-without-proof ends before the comma that precedes "p=". */
	auth = auth_message(s->client_first_bare, s->server_first, msg, (size_t)(last - 1 - msg));
	if (!auth)
		return server_fail(s, SCRAM_ERR_NOMEM, "out of memory");
	r = SCRAM_ERR_INTERNAL;
	if (!hmac(s->secret.stored_key, SCRAM_KEY_LEN, auth, strlen(auth), sig))
		goto out;
	for (int i = 0; i < SCRAM_KEY_LEN; i++)
		s->client_key[i] = proof[i] ^ sig[i];
	if (!sha256(s->client_key, SCRAM_KEY_LEN, stored))
		goto out;
	if (s->mock) {
		/* The message was well-formed; the reason is in s->error already. */
		r = SCRAM_ERR_AUTH;
		s->step = STEP_FAILED;
		goto out;
	}
	if (CRYPTO_memcmp(stored, s->secret.stored_key, SCRAM_KEY_LEN) != 0) {
		r = server_fail(s, SCRAM_ERR_AUTH,
				"wrong password: the SCRAM proof does not match");
		goto out;
	}
	if (!hmac(s->secret.server_key, SCRAM_KEY_LEN, auth, strlen(auth), sig))
		goto out;
	b64_encode(sig, SCRAM_KEY_LEN, sig_b64);
	if (asprintf(&s->server_final, "v=%s", sig_b64) < 0) {
		s->server_final = NULL;
		r = server_fail(s, SCRAM_ERR_NOMEM, "out of memory");
		goto out;
	}
	s->step = STEP_DONE;
	*reply = s->server_final;
	*reply_len = strlen(s->server_final);
	r = SCRAM_OK;
out:
	if (r == SCRAM_ERR_INTERNAL)
		r = server_fail(s, r, "OpenSSL failed to compute the SCRAM signature");
	if (r != SCRAM_OK)
		OPENSSL_cleanse(s->client_key, sizeof(s->client_key));
	OPENSSL_cleanse(proof, sizeof(proof));
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(stored, sizeof(stored));
	free(auth);
	return r;
}

bool scram_server_keys(const ScramServer *s, uint8_t client_key[SCRAM_KEY_LEN],
		       uint8_t server_key[SCRAM_KEY_LEN])
{
	if (s->step != STEP_DONE)
		return false;
	memcpy(client_key, s->client_key, SCRAM_KEY_LEN);
	memcpy(server_key, s->secret.server_key, SCRAM_KEY_LEN);
	return true;
}

const char *scram_server_error(const ScramServer *s)
{
	return s->error;
}

/* ---- client side ---- */

ScramClient *scram_client_new(const char *password)
{
	ScramClient *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->password = strdup(password);
	if (!c->password || !make_nonce(c->nonce)) {
		scram_client_free(c);
		return NULL;
	}
	return c;
}

ScramClient *scram_client_new_keys(const uint8_t client_key[SCRAM_KEY_LEN],
				   const uint8_t server_key[SCRAM_KEY_LEN])
{
	ScramClient *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->have_keys = true;
	memcpy(c->client_key, client_key, SCRAM_KEY_LEN);
	memcpy(c->server_key, server_key, SCRAM_KEY_LEN);
	if (!make_nonce(c->nonce)) {
		scram_client_free(c);
		return NULL;
	}
	return c;
}

void scram_client_free(ScramClient *c)
{
	if (!c)
		return;
	if (c->password) {
		OPENSSL_cleanse(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->client_first);
	free(c->client_final);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

bool scram_client_set_nonce(ScramClient *c, const char *nonce)
{
	return nonce_set(c->nonce, c->step != STEP_START, nonce);
}

ScramResult scram_client_first(ScramClient *c, const char **msg, size_t *msg_len)
{
	int n;

	if (c->step != STEP_START)
		return client_fail(c, SCRAM_ERR_PROTOCOL, "SCRAM exchange already started");
	n = asprintf(&c->client_first, "n,,n=,r=%s", c->nonce);
	if (n < 0) {
		c->client_first = NULL;
		return client_fail(c, SCRAM_ERR_NOMEM, "out of memory");
	}
	c->step = STEP_CONTINUE;
	*msg = c->client_first;
	*msg_len = (size_t)n;
	return SCRAM_OK;
}

ScramResult scram_client_handle_first(ScramClient *c, const char *msg, size_t msg_len,
				      const char **reply, size_t *reply_len)
{
	Cursor cur = {msg, msg + msg_len};
	const char *nonce, *salt_b64, *iter_s, *val;
	size_t nonce_len, salt_b64_len, iter_len, val_len, salt_len;
	size_t our_len = strlen(c->nonce);
	uint8_t salt[SCRAM_SALT_MAX];
	uint8_t stored[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
	char proof_b64[b64_encoded_len(SCRAM_KEY_LEN) + 1];
	char *without_proof = NULL, *server_first = NULL, *auth = NULL;
	int iterations, n;
	char attr;
	ScramResult r = SCRAM_ERR_INTERNAL;

	if (c->step != STEP_CONTINUE)
		return client_fail(c, SCRAM_ERR_PROTOCOL, "unexpected SCRAM server-first-message");
	if (memchr(msg, '\0', msg_len))
		return client_fail(c, SCRAM_ERR_PROTOCOL, "malformed SCRAM message: NUL byte");
	if (cur.p < cur.end && *cur.p == 'm')
		return client_fail(c, SCRAM_ERR_PROTOCOL,
				   "the server requires an unsupported SCRAM extension");
	if (!read_attr(&cur, 'r', &nonce, &nonce_len))
		return client_fail(c, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: nonce attribute expected");
	if (nonce_len <= our_len || memcmp(nonce, c->nonce, our_len) != 0 ||
	    !nonce_is_valid(nonce, nonce_len))
		return client_fail(c, SCRAM_ERR_PROTOCOL,
				   "invalid SCRAM response (nonce mismatch)");
	if (!read_attr(&cur, 's', &salt_b64, &salt_b64_len))
		return client_fail(c, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: salt attribute expected");
	if (!b64_decode(salt_b64, salt_b64_len, salt, sizeof(salt), &salt_len) || salt_len == 0)
		return client_fail(c, SCRAM_ERR_PROTOCOL, "malformed SCRAM message: invalid salt");
	if (!read_attr(&cur, 'i', &iter_s, &iter_len))
		return client_fail(c, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: iteration count attribute expected");
	if (!parse_int(iter_s, iter_len, SCRAM_MAX_ITERATIONS, &iterations))
		return client_fail(c, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: invalid iteration count (1 to %d)",
				   SCRAM_MAX_ITERATIONS);
	while (cur.p < cur.end) {
		if (!read_any_attr(&cur, &attr, &val, &val_len))
			return client_fail(c, SCRAM_ERR_PROTOCOL,
					   "malformed SCRAM message: garbage at end of "
					   "server-first-message");
	}

	if (!c->have_keys && !keys_from_password(c->password, salt, salt_len, iterations,
						 c->client_key, stored, c->server_key))
		goto out;
	if (!sha256(c->client_key, SCRAM_KEY_LEN, stored))
		goto out;
	r = SCRAM_ERR_NOMEM;
	/* We sent "n,,": its base64 is "biws". */
	if (asprintf(&without_proof, "c=biws,r=%.*s", (int)nonce_len, nonce) < 0) {
		without_proof = NULL;
		goto out;
	}
	server_first = strndup(msg, msg_len);
	if (!server_first)
		goto out;
	auth = auth_message(c->client_first + 3, server_first, without_proof,
			    strlen(without_proof));
	if (!auth)
		goto out;
	r = SCRAM_ERR_INTERNAL;
	if (!hmac(stored, SCRAM_KEY_LEN, auth, strlen(auth), sig) ||
	    !hmac(c->server_key, SCRAM_KEY_LEN, auth, strlen(auth), c->server_signature))
		goto out;
	for (int i = 0; i < SCRAM_KEY_LEN; i++)
		proof[i] = c->client_key[i] ^ sig[i];
	b64_encode(proof, SCRAM_KEY_LEN, proof_b64);
	n = asprintf(&c->client_final, "%s,p=%s", without_proof, proof_b64);
	if (n < 0) {
		c->client_final = NULL;
		r = SCRAM_ERR_NOMEM;
		goto out;
	}
	c->step = STEP_DONE;
	*reply = c->client_final;
	*reply_len = (size_t)n;
	r = SCRAM_OK;
out:
	if (r == SCRAM_ERR_NOMEM)
		client_fail(c, r, "out of memory");
	else if (r == SCRAM_ERR_INTERNAL)
		client_fail(c, r, "OpenSSL failed to compute the SCRAM proof");
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(proof, sizeof(proof));
	free(without_proof);
	free(server_first);
	free(auth);
	return r;
}

ScramResult scram_client_handle_final(ScramClient *c, const char *msg, size_t msg_len)
{
	Cursor cur = {msg, msg + msg_len};
	const char *val;
	size_t val_len, n;
	uint8_t sig[SCRAM_KEY_LEN];
	char attr;

	if (c->step != STEP_DONE)
		return client_fail(c, SCRAM_ERR_PROTOCOL, "unexpected SCRAM server-final-message");
	if (memchr(msg, '\0', msg_len))
		return client_fail(c, SCRAM_ERR_PROTOCOL, "malformed SCRAM message: NUL byte");
	if (read_attr(&cur, 'e', &val, &val_len))
		return client_fail(c, SCRAM_ERR_AUTH,
				   "error received from server in SCRAM exchange: %.*s",
				   (int)(val_len > 100 ? 100 : val_len), val);
	if (!read_attr(&cur, 'v', &val, &val_len))
		return client_fail(c, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: server signature attribute expected");
	if (!b64_decode(val, val_len, sig, sizeof(sig), &n) || n != SCRAM_KEY_LEN)
		return client_fail(c, SCRAM_ERR_PROTOCOL,
				   "malformed SCRAM message: invalid server signature");
	while (cur.p < cur.end) {
		if (!read_any_attr(&cur, &attr, &val, &val_len))
			return client_fail(c, SCRAM_ERR_PROTOCOL,
					   "malformed SCRAM message: garbage at end of "
					   "server-final-message");
	}
	if (CRYPTO_memcmp(sig, c->server_signature, SCRAM_KEY_LEN) != 0)
		return client_fail(c, SCRAM_ERR_SERVER_SIGNATURE,
				   "incorrect server signature: the server does not know the "
				   "password");
	c->step = STEP_FINISHED; /* any further message is unexpected */
	return SCRAM_OK;
}

const char *scram_client_error(const ScramClient *c)
{
	return c->error;
}

/* ---- internals ---- */

static ScramResult server_fail(ScramServer *s, ScramResult r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	s->step = STEP_FAILED;
	return r;
}

static ScramResult client_fail(ScramClient *c, ScramResult r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->step = STEP_FAILED;
	return r;
}

/* A fresh nonce: RAW_NONCE_LEN random bytes in base64 (printable, never a comma). */
static bool make_nonce(char out[SCRAM_NONCE_MAX + 1])
{
	uint8_t raw[RAW_NONCE_LEN];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	b64_encode(raw, sizeof(raw), out);
	return true;
}

/* RFC 5802 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII except ','. */
static bool nonce_is_valid(const char *nonce, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)nonce[i];
		if (ch < 0x21 || ch > 0x7e || ch == ',')
			return false;
	}
	return true;
}

/* A per-process random value, drawn once: mock salts are stable for the process's life. */
static uint8_t mock_nonce[SCRAM_KEY_LEN];
static bool mock_nonce_ok;
static pthread_once_t mock_once = PTHREAD_ONCE_INIT;

static void mock_nonce_init(void)
{
	mock_nonce_ok = RAND_bytes(mock_nonce, sizeof(mock_nonce)) == 1;
}

static bool mock_salt(const char *user, uint8_t salt[SCRAM_DEFAULT_SALT_LEN])
{
	uint8_t digest[SCRAM_KEY_LEN];

	pthread_once(&mock_once, mock_nonce_init);
	if (!mock_nonce_ok || !hmac(mock_nonce, sizeof(mock_nonce), user, strlen(user), digest))
		return false;
	memcpy(salt, digest, SCRAM_DEFAULT_SALT_LEN);
	return true;
}

/* PBKDF2 and the three keys. The password is used as is: see SASLprep in scram.h. */
static bool keys_from_password(const char *password, const uint8_t *salt, size_t salt_len,
			       int iterations, uint8_t client_key[SCRAM_KEY_LEN],
			       uint8_t stored_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN];
	size_t pw_len = strlen(password);
	bool ok = pw_len <= INT_MAX && salt_len <= INT_MAX &&
		  PKCS5_PBKDF2_HMAC(password, (int)pw_len, salt, (int)salt_len, iterations,
				    EVP_sha256(), SCRAM_KEY_LEN, salted) == 1 &&
		  hmac(salted, SCRAM_KEY_LEN, "Client Key", 10, client_key) &&
		  hmac(salted, SCRAM_KEY_LEN, "Server Key", 10, server_key) &&
		  sha256(client_key, SCRAM_KEY_LEN, stored_key);

	OPENSSL_cleanse(salted, sizeof(salted));
	return ok;
}

static bool hmac(const uint8_t *key, size_t key_len, const void *data, size_t len,
		 uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int out_len = 0;

	return key_len <= INT_MAX &&
	       HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) != NULL &&
	       out_len == SCRAM_KEY_LEN;
}

static bool sha256(const uint8_t *data, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int out_len = 0;

	return EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL) == 1 &&
	       out_len == SCRAM_KEY_LEN;
}

/* client-first-bare "," server-first "," client-final-without-proof; malloc'd, NULL on OOM. */
static char *auth_message(const char *client_first_bare, const char *server_first,
			  const char *client_final, size_t client_final_len)
{
	char *out;

	if (client_final_len > INT_MAX ||
	    asprintf(&out, "%s,%s,%.*s", client_first_bare, server_first, (int)client_final_len,
		     client_final) < 0)
		return NULL;
	return out;
}

/*
 * Reads "<attr>=<value>" at the cursor, then the ',' that follows unless the message ends
 * there. False (cursor unchanged) when the next attribute is not attr. A ',' that ends the
 * message is refused: an attribute must follow it.
 */
static bool read_attr(Cursor *c, char attr, const char **val, size_t *val_len)
{
	Cursor t = *c;
	char got;

	if (!read_any_attr(&t, &got, val, val_len) || got != attr)
		return false;
	*c = t;
	return true;
}

static bool read_any_attr(Cursor *c, char *attr, const char **val, size_t *val_len)
{
	const char *p = c->p, *comma;

	if (c->end - p < 2)
		return false;
	if (!((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')) || p[1] != '=')
		return false;
	*attr = p[0];
	*val = p + 2;
	comma = memchr(*val, ',', (size_t)(c->end - *val));
	if (comma) {
		if (comma + 1 == c->end)
			return false;
		*val_len = (size_t)(comma - *val);
		c->p = comma + 1;
	} else {
		*val_len = (size_t)(c->end - *val);
		c->p = c->end;
	}
	return true;
}

/* Decimal digits only, no sign, no leading blanks, value in 1..max. */
static bool parse_int(const char *s, size_t len, int max, int *out)
{
	long long v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > max)
		return false;
	*out = (int)v;
	return true;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

/* Writes b64_encoded_len(len) characters and a NUL. */
static void b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i = 0;

	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = B64[v >> 18];
		*out++ = B64[(v >> 12) & 63];
		*out++ = B64[(v >> 6) & 63];
		*out++ = B64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
		*out++ = B64[v >> 18];
		*out++ = B64[(v >> 12) & 63];
		*out++ = i + 1 < len ? B64[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

static int b64_value(char ch)
{
	const char *p = ch ? strchr(B64, ch) : NULL;

	return p ? (int)(p - B64) : -1;
}

/*
 * Strict decoding: length a multiple of 4, '=' only as the last one or two characters, no
 * blanks. False when the input is not base64 or decodes to more than out_size bytes.
 */
static bool b64_decode(const char *in, size_t len, uint8_t *out, size_t out_size, size_t *out_len)
{
	size_t n = 0;

	if (len % 4 != 0)
		return false;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		bool last = i + 4 == len;

		for (int k = 0; k < 4; k++) {
			if (last && k >= 2 && in[i + k] == '=' && (k == 3 || in[i + 3] == '=')) {
				v[k] = 0;
				pad++;
				continue;
			}
			v[k] = b64_value(in[i + k]);
			if (v[k] < 0)
				return false;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		if (n + 3 - (size_t)pad > out_size)
			return false;
		out[n++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[n++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[n++] = (uint8_t)w;
	}
	*out_len = n;
	return true;
}
