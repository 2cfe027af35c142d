/*
 * auth_md5: PostgreSQL's md5 password hashing and challenge-response (see auth_md5.h). The
 * digests come from OpenSSL's EVP interface, since the low-level MD5() is deprecated in
 * OpenSSL 3. Nothing here allocates; every output is a fixed 36-byte buffer.
 */
#include "proxy/auth_md5.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "proxy/scram.h"

static bool md5_hex(const void *a, size_t a_len, const void *b, size_t b_len,
		    char out[AUTH_MD5_LEN + 1]);

bool auth_md5_is_secret(const char *s)
{
	if (strncmp(s, "md5", 3) != 0 || strlen(s) != AUTH_MD5_LEN)
		return false;
	for (int i = 3; i < AUTH_MD5_LEN; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

void auth_md5_encrypt(const char *password, const char *user, char out[AUTH_MD5_LEN + 1])
{
	(void)md5_hex(password, strlen(password), user, strlen(user), out);
}

bool auth_md5_response(const char *secret, const char *user, const uint8_t salt[AUTH_MD5_SALT_LEN],
		       char out[AUTH_MD5_LEN + 1])
{
	char stored[AUTH_MD5_LEN + 1];
	ScramSecret scram;
	bool ok;

	/* Same classification as PostgreSQL's get_password_type(): SCRAM, then md5, else plain. */
	if (scram_secret_parse(secret, &scram)) {
		OPENSSL_cleanse(&scram, sizeof(scram));
		return false;
	}
	if (auth_md5_is_secret(secret))
		memcpy(stored, secret, sizeof(stored));
	else if (!md5_hex(secret, strlen(secret), user, strlen(user), stored))
		return false;
	ok = md5_hex(stored + 3, AUTH_MD5_LEN - 3, salt, AUTH_MD5_SALT_LEN, out);
	OPENSSL_cleanse(stored, sizeof(stored));
	return ok;
}

bool auth_md5_verify(const char *stored_secret, const char *user,
		     const uint8_t salt[AUTH_MD5_SALT_LEN], const char *response)
{
	char expected[AUTH_MD5_LEN + 1];
	bool ok;

	/* An empty password never authenticates, as in PostgreSQL. */
	if (stored_secret[0] == '\0' || !auth_md5_response(stored_secret, user, salt, expected))
		return false;
	/* The length is not secret (always 35 for a right answer); the digits are. */
	ok = strlen(response) == AUTH_MD5_LEN &&
	     CRYPTO_memcmp(expected, response, AUTH_MD5_LEN) == 0;
	OPENSSL_cleanse(expected, sizeof(expected));
	return ok;
}

bool auth_md5_make_salt(uint8_t salt[AUTH_MD5_SALT_LEN])
{
	return RAND_bytes(salt, AUTH_MD5_SALT_LEN) == 1;
}

/*
 * out = "md5" + lower-case hex of md5(a || b), NUL-terminated. Only out of memory or an
 * OpenSSL without md5 (FIPS mode) fails; out is then "md5-unavailable", which no client can
 * send, so that even a caller that ignores the failure verifies nothing.
 */
static bool md5_hex(const void *a, size_t a_len, const void *b, size_t b_len,
		    char out[AUTH_MD5_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
		  EVP_DigestUpdate(ctx, a, a_len) == 1 && EVP_DigestUpdate(ctx, b, b_len) == 1 &&
		  EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1 && digest_len == 16;

	EVP_MD_CTX_free(ctx);
	if (!ok) {
		memset(out, 0, AUTH_MD5_LEN + 1);
		memcpy(out, "md5-unavailable", sizeof("md5-unavailable"));
		return false;
	}
	memcpy(out, "md5", 3);
	for (int i = 0; i < 16; i++) {
		out[3 + 2 * i] = hex[digest[i] >> 4];
		out[3 + 2 * i + 1] = hex[digest[i] & 0xf];
	}
	out[AUTH_MD5_LEN] = '\0';
	return true;
}
