/*
 * test_auth_md5: PostgreSQL's md5 scheme. The expected strings were computed independently
 * (`printf '%s' foobar | md5sum`, Python's hashlib for the salted answers) and, for "carol",
 * read from pg_authid of a real PostgreSQL 15 after `SET password_encryption = 'md5';
 * CREATE ROLE carol PASSWORD 'foo'`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/auth_md5.h"

static const uint8_t SALT[4] = {1, 2, 3, 4};
static const uint8_t SALT2[4] = {0xde, 0xad, 0xbe, 0xef};

/* md5(md5("foobar") hex || salt) for the two salts above. */
#define FOO_BAR_SECRET "md53858f62230ac3c915f300c664312c63f"
#define FOO_BAR_SALT1 "md56e4f0b50f7277feb74acbf2a7734c9cb"
#define FOO_BAR_SALT2 "md52b78b77e45561717c37da3bf5624c95b"
#define PENCIL_SCRAM                                                                               \
	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=" \
	":"                                                                                        \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

static void test_auth_md5_encrypt(void **state)
{
	char out[AUTH_MD5_LEN + 1];

	(void)state;
	auth_md5_encrypt("foo", "bar", out);
	assert_string_equal(out, FOO_BAR_SECRET);
	/* What PostgreSQL 15 stored for carol / foo. */
	auth_md5_encrypt("foo", "carol", out);
	assert_string_equal(out, "md5eefad80d677ce93b936c44e55d02d32d");
	/* Like PostgreSQL, an md5 secret given as a password is hashed again. */
	auth_md5_encrypt(FOO_BAR_SECRET, "bar", out);
	assert_string_not_equal(out, FOO_BAR_SECRET);
	assert_int_equal(strlen(out), AUTH_MD5_LEN);
}

static void test_auth_md5_response(void **state)
{
	char out[AUTH_MD5_LEN + 1];

	(void)state;
	assert_true(auth_md5_response("foo", "bar", SALT, out));
	assert_string_equal(out, FOO_BAR_SALT1);
	assert_true(auth_md5_response(FOO_BAR_SECRET, "bar", SALT, out));
	assert_string_equal(out, FOO_BAR_SALT1);
	assert_true(auth_md5_response(FOO_BAR_SECRET, "ignored-for-secrets", SALT2, out));
	assert_string_equal(out, FOO_BAR_SALT2);
	/* No md5 answer can be made from a SCRAM secret; out stays as it was. */
	memset(out, 'x', sizeof(out));
	assert_false(auth_md5_response(PENCIL_SCRAM, "bar", SALT, out));
	assert_int_equal(out[0], 'x');
}

static void test_auth_md5_verify_plain_and_md5_secret(void **state)
{
	(void)state;
	assert_true(auth_md5_verify("foo", "bar", SALT, FOO_BAR_SALT1));
	assert_true(auth_md5_verify(FOO_BAR_SECRET, "bar", SALT, FOO_BAR_SALT1));
	assert_true(auth_md5_verify(FOO_BAR_SECRET, "bar", SALT2, FOO_BAR_SALT2));
	/* The answer for another salt is a replay: refused. */
	assert_false(auth_md5_verify(FOO_BAR_SECRET, "bar", SALT, FOO_BAR_SALT2));
}

static void test_auth_md5_verify_rejects(void **state)
{
	char resp[AUTH_MD5_LEN + 2];

	(void)state;
	assert_false(auth_md5_verify("fob", "bar", SALT, FOO_BAR_SALT1)); /* wrong password */
	assert_false(auth_md5_verify("foo", "baz", SALT, FOO_BAR_SALT1)); /* other user */
	assert_false(auth_md5_verify("foo", "bar", SALT, ""));
	assert_false(auth_md5_verify("foo", "bar", SALT, "md5"));
	assert_false(auth_md5_verify("foo", "bar", SALT, "foo"));	   /* cleartext */
	assert_false(auth_md5_verify("foo", "bar", SALT, FOO_BAR_SECRET)); /* unsalted */
	/* Truncated, extended, upper-case. */
	memcpy(resp, FOO_BAR_SALT1, AUTH_MD5_LEN + 1);
	resp[AUTH_MD5_LEN - 1] = '\0';
	assert_false(auth_md5_verify("foo", "bar", SALT, resp));
	memcpy(resp, FOO_BAR_SALT1 "0", AUTH_MD5_LEN + 2);
	assert_false(auth_md5_verify("foo", "bar", SALT, resp));
	assert_false(auth_md5_verify("foo", "bar", SALT, "MD56E4F0B50F7277FEB74ACBF2A7734C9CB"));
	/* An empty password never authenticates, even with its right answer. */
	assert_false(auth_md5_verify("", "bar", SALT, "md5cf7bba720d8b9f405a8d10c039cbded2"));
	/* A SCRAM secret cannot verify md5, whatever the answer. */
	assert_false(auth_md5_verify(PENCIL_SCRAM, "user", SALT, FOO_BAR_SALT1));
}

static void test_auth_md5_is_secret(void **state)
{
	(void)state;
	assert_true(auth_md5_is_secret(FOO_BAR_SECRET));
	assert_false(auth_md5_is_secret("md53858F62230AC3C915F300C664312C63F"));
	assert_false(auth_md5_is_secret("md53858f62230ac3c915f300c664312c63"));
	assert_false(auth_md5_is_secret("md53858f62230ac3c915f300c664312c63f0"));
	assert_false(auth_md5_is_secret("md53858f62230ac3c915f300c664312c63g"));
	assert_false(auth_md5_is_secret("foo"));
	assert_false(auth_md5_is_secret(""));
	assert_false(auth_md5_is_secret(PENCIL_SCRAM));
}

static void test_auth_md5_make_salt(void **state)
{
	uint8_t a[4], b[4], c[4];

	(void)state;
	assert_true(auth_md5_make_salt(a));
	assert_true(auth_md5_make_salt(b));
	assert_true(auth_md5_make_salt(c));
	/* Three equal 32-bit random salts in a row: probability 2^-64. */
	assert_false(memcmp(a, b, 4) == 0 && memcmp(b, c, 4) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_md5_encrypt),
		cmocka_unit_test(test_auth_md5_response),
		cmocka_unit_test(test_auth_md5_verify_plain_and_md5_secret),
		cmocka_unit_test(test_auth_md5_verify_rejects),
		cmocka_unit_test(test_auth_md5_is_secret),
		cmocka_unit_test(test_auth_md5_make_salt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
