/*
 * auth_md5: PostgreSQL's md5 password scheme, both ways. The stored form of a password is
 * "md5" + hex(md5(password || user)); in answer to AuthenticationMD5Password with a 4-byte salt
 * a client sends "md5" + hex(md5(hex_part_of_stored_form || salt)). This module only computes
 * and compares those strings: reading the PasswordMessage, choosing the salt's moment and
 * writing the ErrorResponse are the caller's.
 *
 * A secret may be a plain-text password, an md5 secret, or a SCRAM-SHA-256 secret (as in
 * pg_authid). A SCRAM secret cannot take part in md5 at all: the functions below return false
 * for it, and the caller explains (PostgreSQL logs "User does not have a valid MD5 secret" and
 * fails with 28P01).
 */
#ifndef PGSIFT_AUTH_MD5_H
#define PGSIFT_AUTH_MD5_H

#include <stdbool.h>
#include <stdint.h>

/* Length of "md5" + 32 hex digits, without the terminating NUL. */
#define AUTH_MD5_LEN 35
#define AUTH_MD5_SALT_LEN 4

/* True when s has the stored md5 form: "md5" followed by exactly 32 lower-case hex digits. */
bool auth_md5_is_secret(const char *s);

/*
 * Writes the stored form "md5" + hex(md5(password || user)) and a NUL into out. Like
 * PostgreSQL, it does not look at password: passing an md5 secret hashes it again.
 */
void auth_md5_encrypt(const char *password, const char *user, char out[AUTH_MD5_LEN + 1]);

/*
 * What a client sends for AuthenticationMD5Password: "md5" + hex(md5(hex || salt)) where hex is
 * the 32 digits of the stored form. secret may be the plain-text password or its md5 secret.
 * Returns false (out untouched) when secret is a SCRAM secret, from which md5 cannot be made.
 */
bool auth_md5_response(const char *secret, const char *user, const uint8_t salt[AUTH_MD5_SALT_LEN],
		       char out[AUTH_MD5_LEN + 1]) __attribute__((warn_unused_result));

/*
 * The proxy as server: true when response (the NUL-terminated string of the client's
 * PasswordMessage) is the right answer for salt given stored_secret (plain text or md5 secret).
 * Compares in constant time. False for a wrong response, and always for a SCRAM secret.
 */
bool auth_md5_verify(const char *stored_secret, const char *user,
		     const uint8_t salt[AUTH_MD5_SALT_LEN], const char *response)
	__attribute__((warn_unused_result));

/* Fills salt with cryptographically random bytes. False only if the RNG fails. */
bool auth_md5_make_salt(uint8_t salt[AUTH_MD5_SALT_LEN]) __attribute__((warn_unused_result));

#endif
