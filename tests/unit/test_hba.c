/*
 * test_hba: auth_hba_file parsing and matching. Every file is written into one mkdtemp()
 * directory (removed at the end); each test loads its file, then asks hba_match() for clients
 * over the Unix socket, TCP with and without TLS, IPv4, IPv6 and IPv4-mapped IPv6, and checks
 * the exact method and line number. Bad files are checked for the exact error message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "proxy/hba.h"

static char tmpdir[64];

/* A client built by the helpers below; addr points into storage. */
typedef struct TestClient {
	HbaClient c;
	struct sockaddr_storage storage;
} TestClient;

static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_hba.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes content to tmpdir/name (name may hold a subdirectory that exists); returns the path in a
 * static buffer, valid until the next call. */
static const char *write_file(const char *name, const char *content)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Loads content as tmpdir/hba.conf; fails the test (printing the error) when it does not load. */
static HbaRules *load(const char *content)
{
	char err[512] = "unset";
	HbaRules *r = hba_load(write_file("hba.conf", content), err, sizeof(err));

	if (r == NULL)
		print_error("hba_load failed: %s\n", err);
	assert_non_null(r);
	assert_string_equal(err, "");
	return r;
}

/* Loads content as tmpdir/hba.conf and checks it fails with "<path>:<line>: <msg>". */
static void check_error(const char *content, int line, const char *msg)
{
	char err[512], want[512];
	const char *path = write_file("hba.conf", content);

	snprintf(want, sizeof(want), "%s:%d: %s", path, line, msg);
	assert_null(hba_load(path, err, sizeof(err)));
	assert_string_equal(err, want);
}

static TestClient unix_client(const char *db, const char *user)
{
	TestClient t;

	memset(&t, 0, sizeof(t));
	t.c.is_unix = true;
	t.c.database = db;
	t.c.user = user;
	return t;
}

/* A TCP client from a numeric IPv4 or IPv6 address. The result must not be copied after
 * tcp_fix() (addr points into it). */
static TestClient tcp_client(const char *ip, bool tls, const char *db, const char *user)
{
	TestClient t;

	memset(&t, 0, sizeof(t));
	if (strchr(ip, ':') == NULL) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&t.storage;

		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t.storage;

		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	}
	t.c.tls = tls;
	t.c.database = db;
	t.c.user = user;
	return t;
}

/* Runs hba_match for t (fixing its addr pointer) and checks method and line. */
#define CHECK(rules, t, want_method, want_line)                                       \
	do {                                                                          \
		TestClient tc_ = (t);                                                 \
		int line_ = -1;                                                       \
		if (!tc_.c.is_unix)                                                   \
			tc_.c.addr = (const struct sockaddr *)&tc_.storage;           \
		HbaMethod m_ = hba_match((rules), &tc_.c, &line_);                    \
		assert_string_equal(hba_method_str(m_), hba_method_str(want_method)); \
		assert_int_equal(line_, (want_line));                                 \
	} while (0)

static void test_hba_line_types(void **state)
{
	HbaRules *r;

	(void)state;
	r = load("local all all trust\n"
		 "hostssl all all all md5\n"
		 "hostnossl all all all password\n");
	assert_int_equal(hba_rule_count(r), 3);
	CHECK(r, unix_client("db", "u"), HBA_TRUST, 1);
	CHECK(r, tcp_client("10.0.0.1", true, "db", "u"), HBA_MD5, 2);
	CHECK(r, tcp_client("10.0.0.1", false, "db", "u"), HBA_PASSWORD, 3);
	CHECK(r, tcp_client("::1", true, "db", "u"), HBA_MD5, 2);
	CHECK(r, tcp_client("::1", false, "db", "u"), HBA_PASSWORD, 3);
	hba_free(r);

	/* host takes TCP with or without TLS, never the Unix socket. */
	r = load("host all all all cert\n");
	CHECK(r, tcp_client("10.0.0.1", true, "db", "u"), HBA_CERT, 1);
	CHECK(r, tcp_client("10.0.0.1", false, "db", "u"), HBA_CERT, 1);
	CHECK(r, unix_client("db", "u"), HBA_REJECT, 0);
	hba_free(r);

	/* local never takes TCP; hostssl and hostnossl never take the Unix socket, TLS or not. */
	r = load("local all all peer\n");
	CHECK(r, tcp_client("127.0.0.1", false, "db", "u"), HBA_REJECT, 0);
	CHECK(r, tcp_client("127.0.0.1", true, "db", "u"), HBA_REJECT, 0);
	hba_free(r);
	r = load("hostssl all all all md5\nhostnossl all all all md5\n");
	TestClient tls_unix = unix_client("db", "u");
	tls_unix.c.tls = true;
	CHECK(r, tls_unix, HBA_REJECT, 0);
	CHECK(r, unix_client("db", "u"), HBA_REJECT, 0);
	hba_free(r);

	/* No GSSAPI encryption in pgsift: hostgssenc never matches, hostnogssenc matches all TCP. */
	r = load("hostgssenc all all all trust\n"
		 "hostnogssenc all all all scram-sha-256\n");
	CHECK(r, tcp_client("10.0.0.1", false, "db", "u"), HBA_SCRAM, 2);
	CHECK(r, tcp_client("10.0.0.1", true, "db", "u"), HBA_SCRAM, 2);
	CHECK(r, unix_client("db", "u"), HBA_REJECT, 0);
	hba_free(r);
}

static void test_hba_databases(void **state)
{
	HbaRules *r;

	(void)state;
	r = load("local db1,db2 all md5\n"
		 "local \"all\" all password\n"
		 "local sameuser all trust\n"
		 "local replication,samerole,samegroup all cert\n"
		 "local db3, db4 all scram-sha-256\n"
		 "local \"a,b\",\"sameuser\" all peer\n");
	CHECK(r, unix_client("db1", "u"), HBA_MD5, 1);
	CHECK(r, unix_client("db2", "u"), HBA_MD5, 1);
	/* A quoted keyword is the name itself. */
	CHECK(r, unix_client("all", "u"), HBA_PASSWORD, 2);
	CHECK(r, unix_client("alice", "alice"), HBA_TRUST, 3);
	CHECK(r, unix_client("alice", "bob"), HBA_REJECT, 0);
	/* replication, samerole and samegroup never match. */
	CHECK(r, unix_client("replication", "u"), HBA_REJECT, 0);
	/* A list goes on after a comma even across blanks. */
	CHECK(r, unix_client("db3", "u"), HBA_SCRAM, 5);
	CHECK(r, unix_client("db4", "u"), HBA_SCRAM, 5);
	CHECK(r, unix_client("a,b", "u"), HBA_PEER, 6);
	CHECK(r, unix_client("sameuser", "u"), HBA_PEER, 6);
	CHECK(r, unix_client("a", "u"), HBA_REJECT, 0);
	/* Names are case-sensitive. */
	CHECK(r, unix_client("DB1", "u"), HBA_REJECT, 0);
	hba_free(r);

	r = load("local all all trust\n");
	CHECK(r, unix_client("anything", "u"), HBA_TRUST, 1);
	hba_free(r);
	/* An uppercase keyword is a name. */
	r = load("local ALL all trust\n");
	CHECK(r, unix_client("anything", "u"), HBA_REJECT, 0);
	CHECK(r, unix_client("ALL", "u"), HBA_TRUST, 1);
	hba_free(r);
}

static void test_hba_users(void **state)
{
	HbaRules *r;

	(void)state;
	r = load("local all alice,bob md5\n"
		 "local all \"all\" password\n"
		 "local all +admins trust\n"
		 "local all \"+admins\" cert\n"
		 "local all carol, dave scram-sha-256\n"
		 "local all all reject\n");
	CHECK(r, unix_client("db", "alice"), HBA_MD5, 1);
	CHECK(r, unix_client("db", "bob"), HBA_MD5, 1);
	CHECK(r, unix_client("db", "all"), HBA_PASSWORD, 2);
	/* +group never matches (no role membership); quoted it is a user name. */
	CHECK(r, unix_client("db", "admins"), HBA_REJECT, 6);
	CHECK(r, unix_client("db", "+admins"), HBA_CERT, 4);
	CHECK(r, unix_client("db", "carol"), HBA_SCRAM, 5);
	CHECK(r, unix_client("db", "dave"), HBA_SCRAM, 5);
	CHECK(r, unix_client("db", "Alice"), HBA_REJECT, 6);
	hba_free(r);
}

static void test_hba_include(void **state)
{
	char sub[256];
	HbaRules *r;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_file("dbs.txt", "# databases\n"
			      "sales, hr\n"
			      "\n"
			      "\"all\" ops # trailing comment\n");
	write_file("users.txt", "alice bob\n@sub/more.txt\n");
	/* Nested includes are relative to the including file's directory. */
	write_file("sub/more.txt", "carol\n@deeper.txt\n");
	write_file("sub/deeper.txt", "dave\n");
	write_file("everyone.txt", "all\n");
	r = load("local @dbs.txt @users.txt md5\n"
		 "local db9 @everyone.txt trust\n"
		 "local \"@dbs.txt\" all password\n");
	CHECK(r, unix_client("sales", "alice"), HBA_MD5, 1);
	CHECK(r, unix_client("hr", "bob"), HBA_MD5, 1);
	CHECK(r, unix_client("all", "carol"), HBA_MD5, 1);
	CHECK(r, unix_client("ops", "dave"), HBA_MD5, 1);
	CHECK(r, unix_client("other", "alice"), HBA_REJECT, 0);
	CHECK(r, unix_client("sales", "eve"), HBA_REJECT, 0);
	/* A keyword in an included file keeps its meaning. */
	CHECK(r, unix_client("db9", "eve"), HBA_TRUST, 2);
	/* A quoted @name is a name. */
	CHECK(r, unix_client("@dbs.txt", "eve"), HBA_PASSWORD, 3);
	hba_free(r);
}

static void test_hba_address_v4(void **state)
{
	HbaRules *r;

	(void)state;
	r = load("host all all 10.0.0.0/8 md5\n"
		 "host all all 192.168.1.7/32 password\n"
		 "host all all 172.16.0.0 255.240.0.0 cert\n"
		 "host all all 100.64.1.2/10 scram-sha-256\n"
		 "host all all 0.0.0.0/0 trust\n");
	CHECK(r, tcp_client("10.0.0.0", false, "db", "u"), HBA_MD5, 1);
	CHECK(r, tcp_client("10.255.255.255", false, "db", "u"), HBA_MD5, 1);
	CHECK(r, tcp_client("192.168.1.7", false, "db", "u"), HBA_PASSWORD, 2);
	CHECK(r, tcp_client("192.168.1.8", false, "db", "u"), HBA_TRUST, 5);
	CHECK(r, tcp_client("172.16.0.1", false, "db", "u"), HBA_CERT, 3);
	CHECK(r, tcp_client("172.31.255.255", false, "db", "u"), HBA_CERT, 3);
	CHECK(r, tcp_client("172.32.0.0", false, "db", "u"), HBA_TRUST, 5);
	/* Bits of the rule's address outside the mask do not count, as in PostgreSQL. */
	CHECK(r, tcp_client("100.127.0.1", false, "db", "u"), HBA_SCRAM, 4);
	CHECK(r, tcp_client("100.128.0.1", false, "db", "u"), HBA_TRUST, 5);
	CHECK(r, tcp_client("11.0.0.1", false, "db", "u"), HBA_TRUST, 5);
	/* An IPv4-mapped IPv6 client matches by its IPv4 address. */
	CHECK(r, tcp_client("::ffff:10.1.2.3", false, "db", "u"), HBA_MD5, 1);
	CHECK(r, tcp_client("::ffff:192.168.1.7", false, "db", "u"), HBA_PASSWORD, 2);
	CHECK(r, tcp_client("::ffff:8.8.8.8", false, "db", "u"), HBA_TRUST, 5);
	/* /0 of IPv4 takes every IPv4 client and no IPv6 one. */
	CHECK(r, tcp_client("2001:db8::1", false, "db", "u"), HBA_REJECT, 0);
	CHECK(r, tcp_client("::1", false, "db", "u"), HBA_REJECT, 0);
	hba_free(r);

	r = load("host all all all md5\n");
	CHECK(r, tcp_client("1.2.3.4", false, "db", "u"), HBA_MD5, 1);
	CHECK(r, tcp_client("fe80::1", false, "db", "u"), HBA_MD5, 1);
	/* A TCP client without an address matches only "all". */
	HbaClient c = {.is_unix = false, .addr = NULL, .database = "db", .user = "u"};
	int line = -1;
	assert_int_equal(hba_match(r, &c, &line), HBA_MD5);
	assert_int_equal(line, 1);
	hba_free(r);
	r = load("host all all 0.0.0.0/0 md5\n");
	line = -1;
	assert_int_equal(hba_match(r, &c, &line), HBA_REJECT);
	assert_int_equal(line, 0);
	hba_free(r);
}

static void test_hba_address_v6(void **state)
{
	HbaRules *r;

	(void)state;
	r = load("host all all 2001:db8::/32 md5\n"
		 "host all all ::1/128 trust\n"
		 "host all all fd00:: ff00:: password\n"
		 "host all all ::ffff:0:0/96 cert\n"
		 "host all all ::/0 scram-sha-256\n");
	CHECK(r, tcp_client("2001:db8::1", false, "db", "u"), HBA_MD5, 1);
	CHECK(r, tcp_client("2001:db8:ffff:ffff::1", false, "db", "u"), HBA_MD5, 1);
	CHECK(r, tcp_client("2001:db9::1", false, "db", "u"), HBA_SCRAM, 5);
	CHECK(r, tcp_client("::1", false, "db", "u"), HBA_TRUST, 2);
	CHECK(r, tcp_client("::2", false, "db", "u"), HBA_SCRAM, 5);
	CHECK(r, tcp_client("fd12:3456::1", false, "db", "u"), HBA_PASSWORD, 3);
	/* A mapped client also matches IPv6 rules by its IPv6 form. */
	CHECK(r, tcp_client("::ffff:10.0.0.1", false, "db", "u"), HBA_CERT, 4);
	/* A plain IPv4 client never matches an IPv6 rule, not even ::/0. */
	CHECK(r, tcp_client("10.0.0.1", false, "db", "u"), HBA_REJECT, 0);
	hba_free(r);
}

static void test_hba_methods(void **state)
{
	static const struct {
		const char *name;
		HbaMethod m;
	} methods[] = {
		{"trust", HBA_TRUST},	      {"reject", HBA_REJECT},	  {"md5", HBA_MD5},
		{"scram-sha-256", HBA_SCRAM}, {"password", HBA_PASSWORD}, {"cert", HBA_CERT},
		{"peer", HBA_PEER},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		char text[128];
		HbaRules *r;
		TestClient t = unix_client("db", "u");
		int line = -1;

		assert_string_equal(hba_method_str(methods[i].m), methods[i].name);
		snprintf(text, sizeof(text), "# method %s\nlocal all all %s\n", methods[i].name,
			 methods[i].name);
		r = load(text);
		assert_int_equal(hba_match(r, &t.c, &line), methods[i].m);
		assert_int_equal(line, 2);
		hba_free(r);
	}
	assert_string_equal(hba_method_str((HbaMethod)99), "unknown");
	assert_string_equal(hba_method_str((HbaMethod)-1), "unknown");
}

static void test_hba_first_match(void **state)
{
	HbaRules *r;

	(void)state;
	r = load("host app alice 10.0.0.0/24 trust\n"
		 "host app all 10.0.0.0/24 reject\n"
		 "host all all 10.0.0.0/8 md5\n"
		 "host app alice 10.0.0.0/24 password\n");
	CHECK(r, tcp_client("10.0.0.5", false, "app", "alice"), HBA_TRUST, 1);
	CHECK(r, tcp_client("10.0.0.5", false, "app", "bob"), HBA_REJECT, 2);
	CHECK(r, tcp_client("10.0.1.5", false, "app", "alice"), HBA_MD5, 3);
	CHECK(r, tcp_client("10.0.0.5", false, "other", "alice"), HBA_MD5, 3);
	CHECK(r, tcp_client("11.0.0.5", false, "app", "alice"), HBA_REJECT, 0);
	hba_free(r);
}

static void test_hba_unmatched(void **state)
{
	HbaRules *r;
	TestClient t = unix_client("db", "u");
	int line = -1;

	(void)state;
	/* An empty file (only comments) loads and refuses everyone. */
	r = load("# nothing here\n\n   \t\n");
	assert_int_equal(hba_rule_count(r), 0);
	CHECK(r, unix_client("db", "u"), HBA_REJECT, 0);
	CHECK(r, tcp_client("10.0.0.1", true, "db", "u"), HBA_REJECT, 0);
	hba_free(r);
	assert_int_equal(hba_match(NULL, &t.c, &line), HBA_REJECT);
	assert_int_equal(line, 0);
	assert_int_equal(hba_rule_count(NULL), 0);
	hba_free(NULL);
	r = load("local db u trust\n");
	assert_int_equal(hba_match(r, &t.c, NULL), HBA_TRUST);
	hba_free(r);
}

static void test_hba_syntax(void **state)
{
	HbaRules *r;

	(void)state;
	/* Tabs, CRLF, trailing comments, a '#' ending a token, options, continuation lines. */
	r = load("# TYPE DATABASE USER ADDRESS METHOD\r\n"
		 "\r\n"
		 "local\tall\tpostgres\tpeer map=admins # the DBA\r\n"
		 "hostssl all all 10.0.0.0/8 cert clientcert=verify-full map=x\n"
		 "host all all 0.0.0.0/0 md5#no space before the comment\n"
		 "host db1,\\\n"
		 "  db2 all ::/0 \\\n"
		 "  scram-sha-256\n"
		 "host \"my db\" \"my\"\"user\" all password\n");
	assert_int_equal(hba_rule_count(r), 5);
	CHECK(r, unix_client("x", "postgres"), HBA_PEER, 3);
	CHECK(r, tcp_client("10.1.1.1", true, "x", "u"), HBA_CERT, 4);
	CHECK(r, tcp_client("10.1.1.1", false, "x", "u"), HBA_MD5, 5);
	/* A continued line counts as the line it starts on. */
	CHECK(r, tcp_client("::1", false, "db2", "u"), HBA_SCRAM, 6);
	CHECK(r, tcp_client("::1", false, "db3", "u"), HBA_REJECT, 0);
	/* Quotes keep blanks; "" inside quotes closes and reopens them, as in PostgreSQL. */
	CHECK(r, tcp_client("::1", false, "my db", "myuser"), HBA_PASSWORD, 9);
	hba_free(r);
}

static void test_hba_errors(void **state)
{
	(void)state;
	/* Missing fields. */
	check_error("local\n", 1, "missing database field");
	check_error("host all\n", 1, "missing user field");
	check_error("host all all\n", 1, "missing address field");
	check_error("host all all 10.0.0.0/8\n", 1, "missing authentication method");
	check_error("local all all # no method\n", 1, "missing authentication method");
	/* Line numbers count comments, blank lines and earlier rules. */
	check_error("# header\n\nlocal all all trust\nhost all all 10.0.0.0/33 md5\n", 4,
		    "invalid IP mask \"10.0.0.0/33\"");
	/* Addresses. */
	check_error("host all all 10.0.0.0/33 md5\n", 1, "invalid IP mask \"10.0.0.0/33\"");
	check_error("host all all ::/129 md5\n", 1, "invalid IP mask \"::/129\"");
	check_error("host all all 10.0.0.0/ md5\n", 1, "invalid IP mask \"10.0.0.0/\"");
	check_error("host all all 10.0.0.0/8x md5\n", 1, "invalid IP mask \"10.0.0.0/8x\"");
	check_error("host all all 10.0.0.0/-1 md5\n", 1, "invalid IP mask \"10.0.0.0/-1\"");
	check_error("host all all 10.0.0.0/0008 md5\n", 1, "invalid IP mask \"10.0.0.0/0008\"");
	check_error("host all all 10.0.0.300/8 md5\n", 1, "invalid IP address \"10.0.0.300/8\"");
	check_error("host all all 10.0.0.1 md5\n", 1,
		    "invalid IP mask \"md5\": address \"10.0.0.1\" has no /len, so a netmask must "
		    "follow it");
	check_error(
		"host all all 10.0.0.1\n", 1,
		"missing netmask: address \"10.0.0.1\" has no /len, so a netmask must follow it");
	check_error("host all all 10.0.0.0 ffff:: md5\n", 1,
		    "IP address \"10.0.0.0\" and mask \"ffff::\" are not of one family");
	check_error("host all all 10.0.0.0 255.0.0.0,255.255.0.0 md5\n", 1,
		    "multiple values for the netmask: \"255.0.0.0,255.255.0.0\"");
	check_error("host all all samehost md5\n", 1,
		    "\"samehost\" is not supported: write the address range");
	check_error("host all all samenet md5\n", 1,
		    "\"samenet\" is not supported: write the address range");
	check_error("host all all db.example.com md5\n", 1,
		    "host names are not supported: \"db.example.com\" (write an IP address range)");
	check_error("host all all .example.com md5\n", 1,
		    "host names are not supported: \".example.com\" (write an IP address range)");
	check_error("host all all 10.0.0.0/8,10.1.0.0/16 md5\n", 1,
		    "multiple values for the address: \"10.0.0.0/8,10.1.0.0/16\"");
	/* Methods and options. */
	check_error("local all all foo\n", 1, "invalid authentication method \"foo\"");
	check_error("local all all MD5\n", 1, "invalid authentication method \"MD5\"");
	check_error("host all all all ldap\n", 1, "unsupported authentication method \"ldap\"");
	check_error("local all all ident\n", 1, "unsupported authentication method \"ident\"");
	check_error("host all all all peer\n", 1,
		    "peer authentication is only supported on local lines");
	check_error("hostssl all all 10.0.0.0/8 peer\n", 1,
		    "peer authentication is only supported on local lines");
	check_error("local all all md5,trust\n", 1,
		    "multiple values for the authentication method: \"md5,trust\"");
	check_error("local all all trust foo\n", 1,
		    "authentication option not in name=value format: \"foo\"");
	check_error("local all all trust map=x =y\n", 1,
		    "authentication option not in name=value format: \"=y\"");
	/* Line types. */
	check_error("hots all all all md5\n", 1, "invalid connection type \"hots\"");
	check_error("local,host all all md5\n", 1,
		    "multiple values for the connection type: \"local,host\"");
	check_error("include other.conf\n", 1, "include directives are not supported: \"include\"");
	/* Tokens. */
	check_error("local \"all all md5\n", 1, "unterminated quoted string");
	check_error("local db1,,db2 all md5\n", 1, "empty name in a comma-separated list");
	check_error("local all alice, # nobody\n", 1, "comma-separated list ends with a comma");
	check_error("local /^db all md5\n", 1,
		    "regular expressions are not supported: \"/^db\" (quote it to mean the name)");
	check_error("local all @ md5\n", 1, "missing file name after \"@\"");
	/* A continued line reports the line it starts on. */
	check_error("local all all trust\nhost all \\\nall \\\n10.0.0.0/40 md5\n", 2,
		    "invalid IP mask \"10.0.0.0/40\"");
}

static void test_hba_include_errors(void **state)
{
	char want[512], err[512], inc[256];
	const char *path;

	(void)state;
	snprintf(want, sizeof(want),
		 "cannot open \"@nope.txt\" (%s/nope.txt): No such file or directory", tmpdir);
	check_error("local all all trust\nlocal @nope.txt all md5\n", 2, want);
	snprintf(want, sizeof(want),
		 "cannot open \"@/nonexistent/x\" (/nonexistent/x): No such file or directory");
	check_error("local all @/nonexistent/x md5\n", 1, want);

	/* A problem inside an included file names that file and its line. */
	path = write_file("badinc.txt", "alice\n\"bob\n");
	snprintf(inc, sizeof(inc), "%s", path);
	path = write_file("hba.conf", "local all @badinc.txt md5\n");
	assert_null(hba_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:2: unterminated quoted string", inc);
	assert_string_equal(err, want);

	/* A file that includes itself stops at the nesting limit. */
	path = write_file("loop.txt", "x @loop.txt\n");
	snprintf(inc, sizeof(inc), "%s", path);
	path = write_file("hba.conf", "local @loop.txt all md5\n");
	assert_null(hba_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want),
		 "%s:1: @file includes nested more than 10 deep at \"@loop.txt\"", inc);
	assert_string_equal(err, want);

	/* The hba file itself missing: no line number. */
	snprintf(inc, sizeof(inc), "%s/absent.conf", tmpdir);
	assert_null(hba_load(inc, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", inc);
	assert_string_equal(err, want);

	/* A small buffer is truncated, never overrun; no buffer at all is allowed. */
	char small[9];
	memset(small, 'x', sizeof(small));
	path = write_file("hba.conf", "local all all foo\n");
	assert_null(hba_load(path, small, 8));
	assert_int_equal(strlen(small), 7);
	assert_int_equal(small[8], 'x');
	assert_null(hba_load(path, NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hba_line_types), cmocka_unit_test(test_hba_databases),
		cmocka_unit_test(test_hba_users),      cmocka_unit_test(test_hba_include),
		cmocka_unit_test(test_hba_address_v4), cmocka_unit_test(test_hba_address_v6),
		cmocka_unit_test(test_hba_methods),    cmocka_unit_test(test_hba_first_match),
		cmocka_unit_test(test_hba_unmatched),  cmocka_unit_test(test_hba_syntax),
		cmocka_unit_test(test_hba_errors),     cmocka_unit_test(test_hba_include_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
