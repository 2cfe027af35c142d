/*
 * test_scram: SCRAM-SHA-256 on both sides. Exact values come from RFC 7677's example (user
 * "user", password "pencil") and from an independent computation with Python's hashlib/hmac
 * where pgsift's messages differ from the RFC's (pgsift's client sends an empty user name, as
 * libpq does). The secrets of alice, bob and dave were read from pg_authid of a real
 * PostgreSQL 15 (password_encryption = scram-sha-256), so that the secrets pgsift builds and
 * the ones it verifies are PostgreSQL's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/scram.h"

#define RFC_CLIENT_NONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SERVER_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_NONCE RFC_CLIENT_NONCE RFC_SERVER_NONCE
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CLIENT_NONCE
#define RFC_SERVER_FIRST "r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_CLIENT_FINAL "c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/* "pencil" with the RFC's salt and 4096 iterations, as PostgreSQL stores it. */
#define PENCIL_SECRET                                                                              \
	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=" \
	":"                                                                                        \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
/* Our client's messages for the RFC exchange (empty user name), computed with hashlib. */
#define OUR_CLIENT_FIRST "n,,n=,r=" RFC_CLIENT_NONCE
#define OUR_CLIENT_FINAL "c=biws,r=" RFC_NONCE ",p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k="
#define OUR_SERVER_FINAL "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="

/* From pg_authid of PostgreSQL 15. */
#define ALICE_SECRET                                                   \
	"SCRAM-SHA-256$4096:v+V1cimHyYsnLjttIo8BfQ==$d2FCLjRlXMpErz0/" \
	"PVRV5Wz+hUNT06AEK77ROBtcnkA=:"                                \
	"lJKpAfVXbKHN/ipKNnEjfF6MboyyOTttDk6ExZtrdyQ="
#define BOB_SECRET                                                                                 \
	"SCRAM-SHA-256$4096:YbvcYXoLB5w1bCoZ+jFaWg==$Zio2L7v7arl0HbUzLpaKZYW3KWhKnWAyLC1HO404uXc=" \
	":"                                                                                        \
	"B/ivEW3NSxOLkpjVHZqOLcs6pa+Qqk0cX90Uo0ltDD0="
#define DAVE_SECRET                                                                                \
	"SCRAM-SHA-256$4096:HDAvl814FNvDMAAEUI0+lQ==$Wp0iSIT2BJOQ2c3iebykkJw0mgKzo043OKtdd0b7uO8=" \
	":"                                                                                        \
	"at4/lQk4KV+TQ26tgeimyE8YqcD4siSqaUzjY7hgPM8="
#define DAVE_PASSWORD "p\xc3\xa4ssw\xc3\xb6rd" /* "pässwörd" in UTF-8, NFC */

static const uint8_t RFC_SALT[16] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
				     0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81};
static const uint8_t PENCIL_CLIENT_KEY[32] = {0xa6, 0x0f, 0xc9, 0x23, 0xd6, 0x7e, 0x86, 0x44,
					      0xa9, 0x2d, 0x16, 0xb9, 0x6e, 0xda, 0x5e, 0xf4,
					      0x65, 0x6b, 0x0c, 0x72, 0x5c, 0x48, 0x43, 0x74,
					      0xbe, 0x25, 0x53, 0x55, 0x76, 0x99, 0x6e, 0x8b};
static const uint8_t PENCIL_SERVER_KEY[32] = {0xc1, 0xf3, 0xcb, 0xc1, 0xc1, 0x3a, 0x9d, 0x35,
					      0xa1, 0x4c, 0x09, 0x90, 0xee, 0xd9, 0x76, 0x29,
					      0xea, 0x22, 0x58, 0x63, 0xe5, 0x66, 0xa4, 0x31,
					      0x4a, 0xb9, 0x9f, 0x3f, 0x00, 0xe5, 0xd9, 0xd5};

/* ---- helpers ---- */

static ScramResult server_first(ScramServer *s, const char *msg)
{
	const char *reply = NULL;
	size_t len = 0;
	ScramResult r = scram_server_handle_first(s, msg, strlen(msg), &reply, &len);

	if (r == SCRAM_OK)
		assert_int_equal(len, strlen(reply));
	return r;
}

static ScramResult server_final(ScramServer *s, const char *msg)
{
	const char *reply = NULL;
	size_t len = 0;

	return scram_server_handle_final(s, msg, strlen(msg), &reply, &len);
}

/* A server for the RFC exchange that has already answered the RFC client-first. */
static ScramServer *rfc_server(void)
{
	ScramServer *s = scram_server_new(PENCIL_SECRET, "user");

	assert_non_null(s);
	assert_true(scram_server_set_nonce(s, RFC_SERVER_NONCE));
	assert_int_equal(server_first(s, RFC_CLIENT_FIRST), SCRAM_OK);
	return s;
}

/* Our client for the RFC exchange, after its client-first. */
static ScramClient *rfc_client(void)
{
	ScramClient *c = scram_client_new("pencil");
	const char *msg;
	size_t len;

	assert_non_null(c);
	assert_true(scram_client_set_nonce(c, RFC_CLIENT_NONCE));
	assert_int_equal(scram_client_first(c, &msg, &len), SCRAM_OK);
	return c;
}

typedef struct {
	ScramResult server_first, server_final, client_first, client_final;
	char server_error[200];
	bool have_keys;
	uint8_t client_key[SCRAM_KEY_LEN], server_key[SCRAM_KEY_LEN];
} Exchange;

/*
 * Runs a whole exchange between our client c and a server built from secret, as the proxy
 * would relay it. Stops at the first failure; steps not reached stay SCRAM_OK.
 */
static Exchange run_exchange(ScramClient *c, const char *secret, const char *user)
{
	Exchange ex;
	ScramServer *s = scram_server_new(secret, user);
	const char *m1, *m2, *m3, *m4;
	size_t l1, l2, l3, l4;

	memset(&ex, 0, sizeof(ex));
	assert_non_null(s);
	assert_non_null(c);
	assert_int_equal(scram_client_first(c, &m1, &l1), SCRAM_OK);
	ex.server_first = scram_server_handle_first(s, m1, l1, &m2, &l2);
	if (ex.server_first != SCRAM_OK)
		goto out;
	ex.client_first = scram_client_handle_first(c, m2, l2, &m3, &l3);
	if (ex.client_first != SCRAM_OK)
		goto out;
	ex.server_final = scram_server_handle_final(s, m3, l3, &m4, &l4);
	if (ex.server_final != SCRAM_OK)
		goto out;
	ex.client_final = scram_client_handle_final(c, m4, l4);
	ex.have_keys = scram_server_keys(s, ex.client_key, ex.server_key);
out:
	snprintf(ex.server_error, sizeof(ex.server_error), "%s", scram_server_error(s));
	scram_server_free(s);
	scram_client_free(c);
	return ex;
}

static void assert_success(const Exchange *ex)
{
	assert_int_equal(ex->server_first, SCRAM_OK);
	assert_int_equal(ex->client_first, SCRAM_OK);
	assert_int_equal(ex->server_final, SCRAM_OK);
	assert_int_equal(ex->client_final, SCRAM_OK);
	assert_true(ex->have_keys);
	assert_string_equal(ex->server_error, "");
}

static void assert_wrong_password(const Exchange *ex)
{
	assert_int_equal(ex->server_first, SCRAM_OK);
	assert_int_equal(ex->client_first, SCRAM_OK);
	assert_int_equal(ex->server_final, SCRAM_ERR_AUTH);
	assert_string_equal(scram_result_sqlstate(ex->server_final), "28P01");
	assert_false(ex->have_keys);
	assert_true(strlen(ex->server_error) > 0);
}

/* ---- secrets ---- */

static void test_scram_secret_build_rfc7677(void **state)
{
	char out[SCRAM_SECRET_MAX];
	ScramSecret sec;

	(void)state;
	assert_true(
		scram_secret_build("pencil", RFC_SALT, sizeof(RFC_SALT), 4096, out, sizeof(out)));
	assert_string_equal(out, PENCIL_SECRET);
	assert_true(scram_secret_parse(out, &sec));
	assert_int_equal(sec.iterations, 4096);
	assert_int_equal(sec.salt_len, 16);
	assert_memory_equal(sec.salt, RFC_SALT, 16);
	assert_memory_equal(sec.server_key, PENCIL_SERVER_KEY, 32);
	/* Too small a buffer fails rather than truncating. */
	assert_false(scram_secret_build("pencil", RFC_SALT, sizeof(RFC_SALT), 4096, out, 100));
	assert_false(scram_secret_build("pencil", RFC_SALT, 0, 4096, out, sizeof(out)));
}

/* With the salt and iterations PostgreSQL chose, pgsift derives PostgreSQL's exact secret. */
static void test_scram_secret_build_matches_postgresql(void **state)
{
	static const struct {
		const char *password, *secret;
	} cases[] = {
		{"correct horse", ALICE_SECRET},
		{"pencil", BOB_SECRET},
		{DAVE_PASSWORD, DAVE_SECRET},
	};
	char out[SCRAM_SECRET_MAX];
	ScramSecret sec;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(scram_secret_parse(cases[i].secret, &sec));
		assert_true(scram_secret_build(cases[i].password, sec.salt, sec.salt_len,
					       sec.iterations, out, sizeof(out)));
		assert_string_equal(out, cases[i].secret);
	}
}

static void test_scram_secret_build_random_salt(void **state)
{
	char a[SCRAM_SECRET_MAX], b[SCRAM_SECRET_MAX];
	ScramSecret sec;

	(void)state;
	assert_true(scram_secret_build("pencil", NULL, 0, 0, a, sizeof(a)));
	assert_true(scram_secret_build("pencil", NULL, 0, 0, b, sizeof(b)));
	assert_string_not_equal(a, b);
	assert_true(scram_secret_parse(a, &sec));
	assert_int_equal(sec.iterations, SCRAM_DEFAULT_ITERATIONS);
	assert_int_equal(sec.salt_len, SCRAM_DEFAULT_SALT_LEN);
	/* And it verifies the password through a whole exchange. */
	Exchange ok = run_exchange(scram_client_new("pencil"), a, "u");
	assert_success(&ok);
}

static void test_scram_secret_parse_rejects(void **state)
{
	static const char *bad[] = {
		"",
		"pencil",
		"md53858f62230ac3c915f300c664312c63f",
		"SCRAM-SHA-256$",
		"SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096x:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		/* StoredKey one byte short, ServerKey missing, trailing garbage */
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4g=="
		":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU= ",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=$",
	};
	ScramSecret sec;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (scram_secret_parse(bad[i], &sec))
			fail_msg("accepted secret %zu: \"%s\"", i, bad[i]);
	}
	/* Every truncation of a valid secret is refused. */
	for (size_t n = 0; n < strlen(PENCIL_SECRET); n++) {
		char buf[SCRAM_SECRET_MAX];
		memcpy(buf, PENCIL_SECRET, n);
		buf[n] = '\0';
		if (scram_secret_parse(buf, &sec))
			fail_msg("accepted truncated secret \"%s\"", buf);
	}
}

/* ---- RFC 7677 ---- */

static void test_scram_server_rfc7677(void **state)
{
	ScramServer *s = scram_server_new(PENCIL_SECRET, "user");
	const char *reply;
	size_t len;
	uint8_t ck[32], sk[32];

	(void)state;
	assert_non_null(s);
	assert_false(scram_server_keys(s, ck, sk));
	assert_true(scram_server_set_nonce(s, RFC_SERVER_NONCE));
	assert_int_equal(scram_server_handle_first(s, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST),
						   &reply, &len),
			 SCRAM_OK);
	assert_string_equal(reply, RFC_SERVER_FIRST);
	assert_int_equal(len, strlen(RFC_SERVER_FIRST));
	assert_false(scram_server_set_nonce(s, "late"));
	assert_int_equal(scram_server_handle_final(s, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL),
						   &reply, &len),
			 SCRAM_OK);
	assert_string_equal(reply, RFC_SERVER_FINAL);
	assert_int_equal(len, strlen(RFC_SERVER_FINAL));
	/* The ClientKey recovered from the proof is pencil's. */
	assert_true(scram_server_keys(s, ck, sk));
	assert_memory_equal(ck, PENCIL_CLIENT_KEY, 32);
	assert_memory_equal(sk, PENCIL_SERVER_KEY, 32);
	assert_string_equal(scram_server_error(s), "");
	/* A third message is out of order. */
	assert_int_equal(server_final(s, RFC_CLIENT_FINAL), SCRAM_ERR_PROTOCOL);
	scram_server_free(s);
}

/* "y,,": the client supports channel binding but believes we do not; c= must be "eSws". */
static void test_scram_server_gs2_y(void **state)
{
	ScramServer *s = scram_server_new(PENCIL_SECRET, "user");
	const char *reply;
	size_t len;
	const char *final = "c=eSws,r=" RFC_NONCE ",p=FoqiHTtQEDE8lz1CdaEe3tK4mS+iMDTl77SPyDS53DY=";

	(void)state;
	assert_true(scram_server_set_nonce(s, RFC_SERVER_NONCE));
	assert_int_equal(server_first(s, "y,,n=user,r=" RFC_CLIENT_NONCE), SCRAM_OK);
	assert_int_equal(scram_server_handle_final(s, final, strlen(final), &reply, &len),
			 SCRAM_OK);
	assert_string_equal(reply, "v=dI4KpiQJwBr1+V+K6U1dA6l6I4I9DUNXWND4pcpRU3U=");
	scram_server_free(s);

	/* After "y,,", "biws" (for "n,,") is a binding mismatch, and the other way round. */
	s = rfc_server();
	assert_int_equal(server_final(s, "c=eSws,r=" RFC_NONCE
					 ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
			 SCRAM_ERR_PROTOCOL);
	scram_server_free(s);
	s = scram_server_new(PENCIL_SECRET, "user");
	assert_true(scram_server_set_nonce(s, RFC_SERVER_NONCE));
	assert_int_equal(server_first(s, "y,,n=user,r=" RFC_CLIENT_NONCE), SCRAM_OK);
	assert_int_equal(server_final(s, RFC_CLIENT_FINAL), SCRAM_ERR_PROTOCOL);
	scram_server_free(s);
}

static void test_scram_client_rfc7677(void **state)
{
	ScramClient *c = scram_client_new("pencil");
	const char *msg;
	size_t len;

	(void)state;
	assert_non_null(c);
	assert_true(scram_client_set_nonce(c, RFC_CLIENT_NONCE));
	assert_int_equal(scram_client_first(c, &msg, &len), SCRAM_OK);
	assert_string_equal(msg, OUR_CLIENT_FIRST);
	assert_int_equal(len, strlen(OUR_CLIENT_FIRST));
	assert_false(scram_client_set_nonce(c, "late"));
	assert_int_equal(scram_client_handle_first(c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST),
						   &msg, &len),
			 SCRAM_OK);
	assert_string_equal(msg, OUR_CLIENT_FINAL);
	assert_int_equal(len, strlen(OUR_CLIENT_FINAL));
	assert_int_equal(scram_client_handle_final(c, OUR_SERVER_FINAL, strlen(OUR_SERVER_FINAL)),
			 SCRAM_OK);
	assert_string_equal(scram_client_error(c), "");
	scram_client_free(c);
}

/* From ClientKey + ServerKey the client sends the same proof as from the password. */
static void test_scram_client_keys_rfc7677(void **state)
{
	ScramClient *c = scram_client_new_keys(PENCIL_CLIENT_KEY, PENCIL_SERVER_KEY);
	const char *msg;
	size_t len;

	(void)state;
	assert_true(scram_client_set_nonce(c, RFC_CLIENT_NONCE));
	assert_int_equal(scram_client_first(c, &msg, &len), SCRAM_OK);
	assert_int_equal(scram_client_handle_first(c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST),
						   &msg, &len),
			 SCRAM_OK);
	assert_string_equal(msg, OUR_CLIENT_FINAL);
	assert_int_equal(scram_client_handle_final(c, OUR_SERVER_FINAL, strlen(OUR_SERVER_FINAL)),
			 SCRAM_OK);
	scram_client_free(c);
}

/* ---- round trips ---- */

static void test_scram_roundtrip_plain_secret(void **state)
{
	(void)state;
	Exchange ex = run_exchange(scram_client_new("pencil"), "pencil", "user");
	assert_success(&ex);
	ex = run_exchange(scram_client_new("pencil"), "pencik", "user");
	assert_wrong_password(&ex);
	assert_string_equal(ex.server_error, "wrong password: the SCRAM proof does not match");
	/* Raw bytes on both sides: a non-ASCII password works against a plain-text secret. */
	ex = run_exchange(scram_client_new(DAVE_PASSWORD), DAVE_PASSWORD, "dave");
	assert_success(&ex);
}

static void test_scram_roundtrip_postgresql_secrets(void **state)
{
	(void)state;
	Exchange ex = run_exchange(scram_client_new("correct horse"), ALICE_SECRET, "alice");
	assert_success(&ex);
	ex = run_exchange(scram_client_new("pencil"), BOB_SECRET, "bob");
	assert_success(&ex);
	ex = run_exchange(scram_client_new(DAVE_PASSWORD), DAVE_SECRET, "dave");
	assert_success(&ex);

	ex = run_exchange(scram_client_new("correct horse "), ALICE_SECRET, "alice");
	assert_wrong_password(&ex);
	ex = run_exchange(scram_client_new("Correct horse"), ALICE_SECRET, "alice");
	assert_wrong_password(&ex);
	ex = run_exchange(scram_client_new(""), BOB_SECRET, "bob");
	assert_wrong_password(&ex);
	/* bob's secret is "pencil" with another salt than the RFC's. */
	ex = run_exchange(scram_client_new("pencil"), ALICE_SECRET, "alice");
	assert_wrong_password(&ex);
}

/* Unknown user, empty password, md5 secret: the exchange runs to the end, then fails. */
static void test_scram_roundtrip_mock(void **state)
{
	(void)state;
	Exchange ex = run_exchange(scram_client_new("pencil"), NULL, "nobody");
	assert_wrong_password(&ex);
	assert_string_equal(ex.server_error, "user \"nobody\" has no password in the auth_file");
	ex = run_exchange(scram_client_new(""), "", "empty");
	assert_wrong_password(&ex);
	assert_string_equal(ex.server_error, "user \"empty\" has an empty password");
	ex = run_exchange(scram_client_new("foo"), "md53858f62230ac3c915f300c664312c63f", "bar");
	assert_wrong_password(&ex);
	assert_string_equal(ex.server_error,
			    "user \"bar\" has an md5 secret, which cannot verify SCRAM-SHA-256");
}

/* A mock exchange shows a stable salt per user, as a real one does, and 4096 iterations. */
static void test_scram_mock_salt_is_stable(void **state)
{
	const char *a, *b, *c;
	size_t len;
	char first[200];
	ScramServer *s1 = scram_server_new(NULL, "nobody");
	ScramServer *s2 = scram_server_new(NULL, "nobody");
	ScramServer *s3 = scram_server_new(NULL, "someone");

	(void)state;
	assert_int_equal(scram_server_handle_first(s1, "n,,n=,r=abc", 11, &a, &len), SCRAM_OK);
	assert_int_equal(scram_server_handle_first(s2, "n,,n=,r=abc", 11, &b, &len), SCRAM_OK);
	assert_int_equal(scram_server_handle_first(s3, "n,,n=,r=abc", 11, &c, &len), SCRAM_OK);
	/* r=abc<24 nonce chars>,s=<24 salt chars>,i=4096 */
	assert_int_equal(strlen(a), strlen("r=abc,s=,i=4096") + 24 + 24);
	snprintf(first, sizeof(first), "%s", strstr(a, ",s="));
	assert_string_equal(strstr(b, ",s="), first);
	assert_string_not_equal(strstr(c, ",s="), first);
	assert_string_equal(first + strlen(first) - 7, ",i=4096");
	/* Nonces differ between exchanges. */
	assert_memory_not_equal(a, b, 3 + 24);
	scram_server_free(s1);
	scram_server_free(s2);
	scram_server_free(s3);
}

/* The proxy logs in to PostgreSQL with the keys recovered from the client's proof. */
static void test_scram_passthrough_keys(void **state)
{
	(void)state;
	Exchange first = run_exchange(scram_client_new("correct horse"), ALICE_SECRET, "alice");
	assert_success(&first);
	Exchange again = run_exchange(scram_client_new_keys(first.client_key, first.server_key),
				      ALICE_SECRET, "alice");
	assert_success(&again);
	assert_memory_equal(again.client_key, first.client_key, SCRAM_KEY_LEN);

	/* Keys are tied to the salt: a server holding another secret for the same password
	 * rejects them. */
	Exchange other = run_exchange(scram_client_new_keys(first.client_key, first.server_key),
				      "correct horse", "alice");
	assert_wrong_password(&other);
}

/* ---- malformed messages to the server ---- */

static void test_scram_server_client_first_malformed(void **state)
{
	static const char *bad[] = {
		"",
		"n",
		"n,",
		"n,,",
		"x,,n=,r=abc",
		"p=tls-server-end-point,,n=,r=abc",
		"p,,n=,r=abc",
		"n,a=admin,n=,r=abc",
		"n,x,n=,r=abc",
		"nn,,n=,r=abc",
		"n,,m=ext,n=,r=abc",
		"n,,r=abc",
		"n,,n=",
		"n,,n=,",
		"n,,n=,r",
		"n,,n=,r=",
		"n,,n=,r=ab,c",
		"n,,n=,r=abc,",
		"n,,n=,r=abc,==x",
		"n,,n=,r=abc,1=x",
		"n,,n=,x=abc",
		"n,,n=user r=abc",
		"n,,n=,r=a\x7f!",
		"n,,n=,r=a c",
		"n,,n=,r=\xc3\xa9",
		"\xff\xfe",
	};
	ScramServer *s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = scram_server_new(PENCIL_SECRET, "user");
		if (server_first(s, bad[i]) != SCRAM_ERR_PROTOCOL)
			fail_msg("client-first %zu \"%s\" not a protocol violation", i, bad[i]);
		assert_true(strlen(scram_server_error(s)) > 0);
		/* A failed exchange refuses to go on. */
		assert_int_equal(server_final(s, RFC_CLIENT_FINAL), SCRAM_ERR_PROTOCOL);
		scram_server_free(s);
	}
	/* A NUL inside the message. */
	s = scram_server_new(PENCIL_SECRET, "user");
	const char *reply;
	size_t len;
	assert_int_equal(scram_server_handle_first(s, "n,,n=,r=a\0c", 11, &reply, &len),
			 SCRAM_ERR_PROTOCOL);
	scram_server_free(s);
	/* Extensions after the nonce are allowed, and a user name is ignored. */
	s = scram_server_new(PENCIL_SECRET, "user");
	assert_int_equal(server_first(s, "y,,n=someone=2Celse,r=abc,x=ext"), SCRAM_OK);
	scram_server_free(s);
}

/* Every truncation of the RFC client-first: too short to carry a nonce, or a shorter nonce. */
static void test_scram_server_client_first_truncated(void **state)
{
	const char *full = RFC_CLIENT_FIRST;
	size_t min_ok = strlen("n,,n=user,r=") + 1;

	(void)state;
	for (size_t n = 0; n < strlen(full); n++) {
		ScramServer *s = scram_server_new(PENCIL_SECRET, "user");
		const char *reply;
		size_t len;
		ScramResult r = scram_server_handle_first(s, full, n, &reply, &len);
		assert_int_equal(r, n >= min_ok ? SCRAM_OK : SCRAM_ERR_PROTOCOL);
		scram_server_free(s);
	}
}

static void test_scram_server_client_final_malformed(void **state)
{
	static const char *bad[] = {
		"",
		"c=biws",
		"c=biws,r=" RFC_NONCE,
		"c=biws,r=" RFC_NONCE ",",
		"c=biws,r=" RFC_NONCE ",p=",
		"c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",
		"c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ==",
		"c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=1",
		"c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,",
		"c=biws,r=" RFC_NONCE ",p=!HzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=dHzb",
		"r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biw,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=" RFC_NONCE
		",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=" RFC_NONCE "x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=" RFC_CLIENT_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=" RFC_CLIENT_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1"
		",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=\n",
		"garbage",
		",,,,",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ScramServer *s = rfc_server();
		uint8_t ck[32], sk[32];
		if (server_final(s, bad[i]) != SCRAM_ERR_PROTOCOL)
			fail_msg("client-final %zu \"%s\" not a protocol violation", i, bad[i]);
		assert_true(strlen(scram_server_error(s)) > 0);
		assert_false(scram_server_keys(s, ck, sk));
		scram_server_free(s);
	}
	/* The nonce mismatch has its own message. */
	ScramServer *s = rfc_server();
	assert_int_equal(server_final(s, "c=biws,r=" RFC_CLIENT_NONCE
					 ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
			 SCRAM_ERR_PROTOCOL);
	assert_string_equal(scram_server_error(s), "unexpected SCRAM nonce");
	scram_server_free(s);
	/* An extension before the proof is allowed (and covered by the signature). */
	s = rfc_server();
	assert_int_equal(server_final(s, "c=biws,r=" RFC_NONCE
					 ",x=ext,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
			 SCRAM_ERR_AUTH);
	scram_server_free(s);
}

/* Every truncation of the RFC client-final is a protocol violation, never a crash. */
static void test_scram_server_client_final_truncated(void **state)
{
	const char *full = RFC_CLIENT_FINAL;

	(void)state;
	for (size_t n = 0; n < strlen(full); n++) {
		ScramServer *s = rfc_server();
		const char *reply;
		size_t len;
		assert_int_equal(scram_server_handle_final(s, full, n, &reply, &len),
				 SCRAM_ERR_PROTOCOL);
		scram_server_free(s);
	}
}

/* A well-formed proof for another password is 28P01, not 08P01. */
static void test_scram_server_wrong_proof(void **state)
{
	ScramServer *s = rfc_server();

	(void)state;
	assert_int_equal(server_final(s, "c=biws,r=" RFC_NONCE
					 ",p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
			 SCRAM_ERR_AUTH);
	assert_string_equal(scram_result_sqlstate(SCRAM_ERR_AUTH), "28P01");
	scram_server_free(s);
}

static void test_scram_server_out_of_order(void **state)
{
	ScramServer *s = scram_server_new("pencil", "user");

	(void)state;
	assert_int_equal(server_final(s, RFC_CLIENT_FINAL), SCRAM_ERR_PROTOCOL);
	assert_string_equal(scram_server_error(s), "unexpected SCRAM client-final-message");
	scram_server_free(s);
	s = rfc_server();
	assert_int_equal(server_first(s, RFC_CLIENT_FIRST), SCRAM_ERR_PROTOCOL);
	scram_server_free(s);
	s = scram_server_new("pencil", "user");
	assert_false(scram_server_set_nonce(s, "a,b"));
	assert_false(scram_server_set_nonce(s, "a b"));
	assert_false(scram_server_set_nonce(s, ""));
	char longnonce[SCRAM_NONCE_MAX + 2];
	memset(longnonce, 'a', sizeof(longnonce) - 1);
	longnonce[sizeof(longnonce) - 1] = '\0';
	assert_false(scram_server_set_nonce(s, longnonce));
	scram_server_free(s);
}

/* ---- malformed messages to the client ---- */

static void test_scram_client_server_first_malformed(void **state)
{
	static const char *bad[] = {
		"",
		"r=",
		"r=" RFC_CLIENT_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* no server part */
		"r=xOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"r=rOprNGfwEbeRWgbNEkq,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"r=" RFC_NONCE,
		"r=" RFC_NONCE ",s=",
		"r=" RFC_NONCE ",s=,i=4096",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i= 4096",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",
		"r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,garbage",
		"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" RFC_NONCE ",i=4096",
		"m=ext,r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"r=" RFC_NONCE " ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"e=other-error",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ScramClient *c = rfc_client();
		const char *reply;
		size_t len;
		if (scram_client_handle_first(c, bad[i], strlen(bad[i]), &reply, &len) !=
		    SCRAM_ERR_PROTOCOL)
			fail_msg("server-first %zu \"%s\" not a protocol violation", i, bad[i]);
		assert_true(strlen(scram_client_error(c)) > 0);
		assert_int_equal(
			scram_client_handle_final(c, OUR_SERVER_FINAL, strlen(OUR_SERVER_FINAL)),
			SCRAM_ERR_PROTOCOL);
		scram_client_free(c);
	}
	ScramClient *c = rfc_client();
	const char *reply;
	size_t len;
	const char *msg = "r=rOprNGfwEbeRWgbNEkqx%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
	assert_int_equal(scram_client_handle_first(c, msg, strlen(msg), &reply, &len),
			 SCRAM_ERR_PROTOCOL);
	assert_string_equal(scram_client_error(c), "invalid SCRAM response (nonce mismatch)");
	scram_client_free(c);
	/* i=1 is the smallest valid count; extensions after i are allowed. */
	c = rfc_client();
	msg = "r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1,x=ext";
	assert_int_equal(scram_client_handle_first(c, msg, strlen(msg), &reply, &len), SCRAM_OK);
	scram_client_free(c);
}

/* Every truncation of the server-first short of the iteration count. */
static void test_scram_client_server_first_truncated(void **state)
{
	const char *full = RFC_SERVER_FIRST;
	size_t upto = (size_t)(strstr(full, ",i=") - full) + 3;

	(void)state;
	for (size_t n = 0; n < upto; n++) {
		ScramClient *c = rfc_client();
		const char *reply;
		size_t len;
		assert_int_equal(scram_client_handle_first(c, full, n, &reply, &len),
				 SCRAM_ERR_PROTOCOL);
		scram_client_free(c);
	}
}

static void test_scram_client_server_final(void **state)
{
	static const char *bad[] = {
		"",
		"v=",
		"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg",
		"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg==",
		"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=,",
		"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg= ",
		"x=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=",
		"3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=",
	};
	const char *reply;
	size_t len;
	ScramClient *c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = rfc_client();
		assert_int_equal(scram_client_handle_first(c, RFC_SERVER_FIRST,
							   strlen(RFC_SERVER_FIRST), &reply, &len),
				 SCRAM_OK);
		if (scram_client_handle_final(c, bad[i], strlen(bad[i])) != SCRAM_ERR_PROTOCOL)
			fail_msg("server-final %zu \"%s\" not a protocol violation", i, bad[i]);
		scram_client_free(c);
	}
	/* Every truncation of the right answer. */
	for (size_t n = 0; n < strlen(OUR_SERVER_FINAL); n++) {
		c = rfc_client();
		assert_int_equal(scram_client_handle_first(c, RFC_SERVER_FIRST,
							   strlen(RFC_SERVER_FIRST), &reply, &len),
				 SCRAM_OK);
		assert_int_equal(scram_client_handle_final(c, OUR_SERVER_FINAL, n),
				 SCRAM_ERR_PROTOCOL);
		scram_client_free(c);
	}
	/* A well-formed but wrong signature: the RFC's, made for "n=user", not ours. */
	c = rfc_client();
	assert_int_equal(scram_client_handle_first(c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST),
						   &reply, &len),
			 SCRAM_OK);
	assert_int_equal(scram_client_handle_final(c, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)),
			 SCRAM_ERR_SERVER_SIGNATURE);
	assert_string_equal(scram_result_sqlstate(SCRAM_ERR_SERVER_SIGNATURE), "28000");
	scram_client_free(c);
	/* The server's error attribute. */
	c = rfc_client();
	assert_int_equal(scram_client_handle_first(c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST),
						   &reply, &len),
			 SCRAM_OK);
	assert_int_equal(scram_client_handle_final(c, "e=invalid-proof", 15), SCRAM_ERR_AUTH);
	assert_string_equal(scram_client_error(c),
			    "error received from server in SCRAM exchange: invalid-proof");
	scram_client_free(c);
	/* Out of order: server-final before server-first, and twice. */
	c = rfc_client();
	assert_int_equal(scram_client_handle_final(c, OUR_SERVER_FINAL, strlen(OUR_SERVER_FINAL)),
			 SCRAM_ERR_PROTOCOL);
	scram_client_free(c);
}

/* A server in the middle that does not know the secret cannot complete the exchange. */
static void test_scram_client_rejects_impostor_server(void **state)
{
	(void)state;
	/* The impostor accepts anything: it answers with its own secret for the same password
	 * guess; the client's check of v= catches it. */
	ScramClient *c = scram_client_new("real password");
	ScramServer *s = scram_server_new("guess", "u");
	const char *m1, *m2, *m3;
	size_t l1, l2, l3;
	assert_int_equal(scram_client_first(c, &m1, &l1), SCRAM_OK);
	assert_int_equal(scram_server_handle_first(s, m1, l1, &m2, &l2), SCRAM_OK);
	assert_int_equal(scram_client_handle_first(c, m2, l2, &m3, &l3), SCRAM_OK);
	/* The impostor cannot verify the proof; it forges a signature from its own secret. */
	ScramServer *s2 = scram_server_new("guess", "u");
	const char *f1, *f2, *f3, *f4;
	size_t k1, k2, k3, k4;
	ScramClient *c2 = scram_client_new("guess");
	assert_true(scram_client_set_nonce(c2, "x"));
	assert_int_equal(scram_client_first(c2, &f1, &k1), SCRAM_OK);
	assert_int_equal(scram_server_handle_first(s2, f1, k1, &f2, &k2), SCRAM_OK);
	assert_int_equal(scram_client_handle_first(c2, f2, k2, &f3, &k3), SCRAM_OK);
	assert_int_equal(scram_server_handle_final(s2, f3, k3, &f4, &k4), SCRAM_OK);
	assert_int_equal(scram_client_handle_final(c, f4, k4), SCRAM_ERR_SERVER_SIGNATURE);
	assert_string_equal(scram_client_error(c),
			    "incorrect server signature: the server does not know the password");
	scram_client_free(c);
	scram_client_free(c2);
	scram_server_free(s);
	scram_server_free(s2);
}

static void test_scram_result_names(void **state)
{
	(void)state;
	assert_string_equal(scram_result_sqlstate(SCRAM_OK), "00000");
	assert_string_equal(scram_result_sqlstate(SCRAM_ERR_PROTOCOL), "08P01");
	assert_string_equal(scram_result_sqlstate(SCRAM_ERR_AUTH), "28P01");
	assert_string_equal(scram_result_sqlstate(SCRAM_ERR_NOMEM), "53200");
	assert_string_equal(scram_result_sqlstate(SCRAM_ERR_INTERNAL), "XX000");
	assert_string_equal(scram_result_str(SCRAM_ERR_PROTOCOL), "protocol violation");
	assert_string_equal(scram_result_str(SCRAM_ERR_AUTH), "authentication failed");
}

/* Channel binding: offered only with binding data, chosen by name, and checked both ways. */
static void test_scram_channel_binding_negotiation(void **state)
{
	(void)state;
	static const uint8_t cb[32] = {1, 2, 3};
	ScramServer *s = scram_server_new(PENCIL_SECRET, "user");
	assert_non_null(s);
	/* without binding data the -PLUS mechanism is not one offered */
	assert_false(scram_server_choose(s, SCRAM_MECHANISM_PLUS));
	assert_true(scram_server_choose(s, SCRAM_MECHANISM));
	assert_false(scram_server_choose(s, "SCRAM-SHA-1"));
	scram_server_free(s);

	static const struct {
		const char *mechanism, *first, *final; /* final NULL: the first message fails */
		const char *error;
	} cases[] = {
		/* a client that could bind ("y") while binding was offered: a downgrade */
		{SCRAM_MECHANISM, "y,,n=,r=abc", NULL, "SCRAM channel binding negotiation error"},
		/* -PLUS chosen: "n" is refused, and so is another binding type */
		{SCRAM_MECHANISM_PLUS, "n,,n=,r=abc", NULL,
		 "channel binding is required by SCRAM-SHA-256-PLUS, but the client message does "
		 "not include it"},
		{SCRAM_MECHANISM_PLUS, "p=tls-unique,,n=,r=abc", NULL,
		 "unsupported SCRAM channel-binding type"},
		/* the right header, but c= is "n,," ("biws"): not this connection's binding */
		{SCRAM_MECHANISM_PLUS, "p=tls-server-end-point,,n=,r=abc", "c=biws,r=abc,p=AAAA",
		 "SCRAM channel binding check failed: unexpected channel binding data"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = scram_server_new(PENCIL_SECRET, "user");
		assert_true(scram_server_offer_binding(s, cb, sizeof(cb)));
		assert_true(scram_server_choose(s, cases[i].mechanism));
		ScramResult first = server_first(s, cases[i].first);
		assert_int_equal(first, cases[i].final ? SCRAM_OK : SCRAM_ERR_PROTOCOL);
		if (cases[i].final)
			assert_int_equal(server_final(s, cases[i].final), SCRAM_ERR_PROTOCOL);
		assert_string_equal(scram_server_error(s), cases[i].error);
		scram_server_free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scram_secret_build_rfc7677),
		cmocka_unit_test(test_scram_secret_build_matches_postgresql),
		cmocka_unit_test(test_scram_secret_build_random_salt),
		cmocka_unit_test(test_scram_secret_parse_rejects),
		cmocka_unit_test(test_scram_server_rfc7677),
		cmocka_unit_test(test_scram_server_gs2_y),
		cmocka_unit_test(test_scram_client_rfc7677),
		cmocka_unit_test(test_scram_client_keys_rfc7677),
		cmocka_unit_test(test_scram_roundtrip_plain_secret),
		cmocka_unit_test(test_scram_roundtrip_postgresql_secrets),
		cmocka_unit_test(test_scram_roundtrip_mock),
		cmocka_unit_test(test_scram_mock_salt_is_stable),
		cmocka_unit_test(test_scram_passthrough_keys),
		cmocka_unit_test(test_scram_server_client_first_malformed),
		cmocka_unit_test(test_scram_server_client_first_truncated),
		cmocka_unit_test(test_scram_server_client_final_malformed),
		cmocka_unit_test(test_scram_server_client_final_truncated),
		cmocka_unit_test(test_scram_server_wrong_proof),
		cmocka_unit_test(test_scram_server_out_of_order),
		cmocka_unit_test(test_scram_client_server_first_malformed),
		cmocka_unit_test(test_scram_client_server_first_truncated),
		cmocka_unit_test(test_scram_client_server_final),
		cmocka_unit_test(test_scram_client_rejects_impostor_server),
		cmocka_unit_test(test_scram_result_names),
		cmocka_unit_test(test_scram_channel_binding_negotiation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
