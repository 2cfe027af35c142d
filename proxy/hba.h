/*
 * hba: PgBouncer's auth_hba_file, the subset of PostgreSQL's pg_hba.conf that a proxy can act
 * on. hba_load() reads and checks a whole file (every bad line is an error, so a reload with a
 * mistake keeps the old rules); hba_match() picks the method for one client. Asking the client
 * for a password, checking a certificate or the peer's credentials is the caller's.
 *
 * Supported, with PostgreSQL's meaning:
 * - line types local, host, hostssl, hostnossl; hostgssenc never matches and hostnogssenc
 *   matches like host, since pgsift has no GSSAPI encryption;
 * - '#' comments, blank lines, a backslash at the end of a line to continue it, double-quoted
 *   fields (a quoted keyword such as "all" is the literal name), comma-separated lists (a list
 *   goes on after a comma even across blanks, as in PostgreSQL), @file includes of names in the
 *   database and user fields (relative to the including file's directory, nested up to 10
 *   deep, with comments; keywords in them keep their meaning);
 * - database: all, sameuser, replication (never matches: the proxy has no replication
 *   connections), names; samerole and samegroup are accepted but never match, since pgsift
 *   knows no role membership;
 * - user: all, names; +group is accepted but never matches, for the same reason;
 * - address: all, a.b.c.d/len, x:y::z/len, an address followed by a netmask column. A client
 *   with an IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4 rules by its IPv4 address
 *   and IPv6 rules by its IPv6 form; a plain IPv4 client never matches an IPv6 rule;
 * - methods trust, reject, md5, scram-sha-256, password, cert, peer (peer only on local
 *   lines); name=value options after the method are accepted and ignored.
 *
 * Refused with an error: an address without /len or netmask, samehost, samenet, host names,
 * regular expressions (/...) in names, include directives, other methods (ident, ldap, ...).
 * Names and keywords are compared case-sensitively, as PostgreSQL does.
 */
#ifndef PGSIFT_HBA_H
#define PGSIFT_HBA_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;

typedef enum {
	HBA_TRUST,
	HBA_REJECT,
	HBA_MD5,
	HBA_SCRAM,
	HBA_PASSWORD,
	HBA_CERT,
	HBA_PEER
} HbaMethod;

typedef struct HbaRules HbaRules;

/*
 * Reads and checks the whole file at path. Returns the rules (the caller frees them with
 * hba_free()), or NULL with err set to "FILE:LINE: what is wrong" for the first bad line (FILE is
 * the path as given, or the included file's path for a problem inside an @file). An error that
 * belongs to no line (the file cannot be opened, memory ran out) has the form "FILE: what". A
 * file with no rules is valid and refuses everyone.
 */
HbaRules *hba_load(const char *path, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Frees rules; NULL is allowed. */
void hba_free(HbaRules *rules);

/* The number of rule lines loaded (comments and blank lines are not counted). */
size_t hba_rule_count(const HbaRules *rules);

typedef struct HbaClient {
	bool is_unix; /* came over the Unix socket (matches `local` lines only) */
	const struct sockaddr *
		addr; /* the client's address for TCP (AF_INET or AF_INET6; an IPv4-mapped IPv6 address matches IPv4 rules), NULL for Unix */
	bool tls;     /* the connection is encrypted (hostssl vs hostnossl) */
	const char *database; /* as the client asked */
	const char *user;
} HbaClient;

/*
 * The method of the first line that matches c; HBA_REJECT when none matches (no match is a
 * refusal, as in PostgreSQL). *line (line may be NULL) gets the matching line's number, 0 when
 * none matched. rules may be NULL (nothing matches). A TCP client with addr NULL matches only
 * lines whose address is all. The rules are not changed, so several threads may match at once.
 */
HbaMethod hba_match(const HbaRules *rules, const HbaClient *c, int *line);

/* "trust", "reject", "md5", "scram-sha-256", "password", "cert", "peer"; "unknown" otherwise. */
const char *hba_method_str(HbaMethod m);

#endif
