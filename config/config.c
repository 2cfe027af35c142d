/*
 * config: defaults, the ini file, the environment and the command line merged into one Config,
 * then validated. Every setting of the main section is one row of the `keys` table (name, type,
 * field, default as text, range, reload flag); the same table drives the ini reader, the
 * PGSIFT_<KEY> environment variables, the command-line flags that map onto keys, SHOW CONFIG and
 * config_free, so a key added there is known everywhere. Defaults are applied by parsing the
 * default text with the same code as a file value, so SHOW CONFIG's `default` column can never
 * disagree with what a fresh Config holds.
 *
 * Each key remembers where its value came from (FILE:LINE, PGSIFT_X or --flag), so that a
 * validation error found after everything is merged (trust on 0.0.0.0, say) still names the
 * line the user has to change. [databases] values are parsed by dbentry.c, auth_file by
 * userlist.c. Logging is left to the caller: this module only emits warnings via log_warn.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/config_internal.h"

typedef enum {
	KT_STR,	      /* char *, may be "" */
	KT_INT,	      /* int */
	KT_INT64,     /* int64_t */
	KT_BOOL,      /* bool */
	KT_TIME,      /* uint64_t ms; the file gives seconds, units allowed */
	KT_MS,	      /* int64_t ms, -1 allowed; the file gives ms */
	KT_SIZE,      /* size_t bytes; kB/MB/GB allowed */
	KT_MODE,      /* int, octal */
	KT_POOL_MODE, /* PoolMode */
	KT_AUTH_TYPE, /* AuthType */
	KT_LOG_LEVEL, /* LogLevel */
	KT_TLS_MODE,  /* TlsMode */
	KT_LIST,      /* char **, NULL-terminated, comma separated in the file */
	KT_ADDRS,     /* char *, comma-separated listen addresses */
	KT_HOSTPORT,  /* char *, "ADDR:PORT" or NULL */
	KT_VERBOSE,   /* PgBouncer's verbose: raises log_level; shown as log_level */
} KeyType;

enum {
	F_NORELOAD = 1,	  /* needs a restart: SHOW CONFIG says changeable = no */
	F_BYTES = 2,	  /* KT_INT that accepts kB/MB/GB */
	F_EMPTY_NULL = 4, /* KT_STR: "" means not set (NULL) */
	F_HIDDEN = 8,	  /* not listed by config_visit */
	F_DSN = 16,	  /* a libpq connection string: config_visit hides its password */
};

typedef struct KeyDef {
	const char *name;
	KeyType type;
	size_t off;
	const char *dflt;
	long long min, max;
	int flags;
} KeyDef;

#define OFF(field) offsetof(Config, field)
#define TMAX (1000LL * 3600 * 24 * 365 * 100) /* 100 years in ms: sanity bound */

/* syslog(3)'s facilities PgBouncer accepts, in its order. */
static const char *const syslog_facilities[] = {
	"auth",	  "authpriv", "daemon", "user",	  "local0", "local1", "local2",
	"local3", "local4",   "local5", "local6", "local7", NULL,
};

/* The only values a KT_STR key allows (any case), or NULL for any text. */
static const char *const *key_choices(const char *name)
{
	return strcmp(name, "syslog_facility") == 0 ? syslog_facilities : NULL;
}

static const KeyDef keys[] = {
	{"listen_addr", KT_ADDRS, OFF(listen_addr), "127.0.0.1", 0, 0, F_NORELOAD},
	{"listen_port", KT_INT, OFF(listen_port), "6432", 1, 65535, F_NORELOAD},
	{"unix_socket_dir", KT_STR, OFF(unix_socket_dir), "/tmp", 0, 0, F_NORELOAD},
	{"unix_socket_mode", KT_MODE, OFF(unix_socket_mode), "0777", 0, 07777, F_NORELOAD},
	{"listen_backlog", KT_INT, OFF(listen_backlog), "128", 1, INT_MAX, F_NORELOAD},
	{"unix_socket_group", KT_STR, OFF(unix_socket_group), "", 0, 0, F_EMPTY_NULL | F_NORELOAD},
	{"so_reuseport", KT_BOOL, OFF(so_reuseport), "0", 0, 0, F_NORELOAD},
	{"peer_id", KT_INT, OFF(peer_id), "0", 0, 16383, 0},
	/* Linux's limits: TCP_KEEPCNT <= 127, TCP_KEEPIDLE and TCP_KEEPINTVL <= 32767 s. */
	{"tcp_defer_accept", KT_INT, OFF(tcp_defer_accept), "1", 0, INT_MAX, F_NORELOAD},
	{"tcp_socket_buffer", KT_INT, OFF(tcp_socket_buffer), "0", 0, INT_MAX, F_BYTES},
	{"tcp_keepalive", KT_BOOL, OFF(tcp_keepalive), "1", 0, 0, 0},
	{"tcp_keepcnt", KT_INT, OFF(tcp_keepcnt), "0", 0, 127, 0},
	{"tcp_keepidle", KT_INT, OFF(tcp_keepidle), "0", 0, 32767, 0},
	{"tcp_keepintvl", KT_INT, OFF(tcp_keepintvl), "0", 0, 32767, 0},
	{"tcp_user_timeout", KT_INT, OFF(tcp_user_timeout), "0", 0, INT_MAX, 0},
	{"sbuf_loopcnt", KT_INT, OFF(sbuf_loopcnt), "5", 0, INT_MAX, 0},
	{"auth_type", KT_AUTH_TYPE, OFF(auth_type), "trust", 0, 0, 0},
	{"auth_file", KT_STR, OFF(auth_file), "", 0, 0, F_EMPTY_NULL},
	{"admin_users", KT_LIST, OFF(admin_users), "", 0, 0, 0},
	{"stats_users", KT_LIST, OFF(stats_users), "", 0, 0, 0},
	{"auth_hba_file", KT_STR, OFF(auth_hba_file), "", 0, 0, F_EMPTY_NULL},
	{"auth_user", KT_STR, OFF(auth_user), "", 0, 0, F_EMPTY_NULL},
	{"auth_query", KT_STR, OFF(auth_query), AUTH_QUERY_DEFAULT, 0, 0, 0},
	{"auth_dbname", KT_STR, OFF(auth_dbname), "", 0, 0, F_EMPTY_NULL},
	{"client_tls_sslmode", KT_TLS_MODE, OFF(client_tls_sslmode), "disable", 0, 0, 0},
	{"client_tls_key_file", KT_STR, OFF(client_tls_key_file), "", 0, 0, F_EMPTY_NULL},
	{"client_tls_cert_file", KT_STR, OFF(client_tls_cert_file), "", 0, 0, F_EMPTY_NULL},
	{"client_tls_ca_file", KT_STR, OFF(client_tls_ca_file), "", 0, 0, F_EMPTY_NULL},
	{"client_tls_protocols", KT_STR, OFF(client_tls_protocols), "secure", 0, 0, 0},
	{"client_tls_ciphers", KT_STR, OFF(client_tls_ciphers), "default", 0, 0, 0},
	{"client_tls13_ciphers", KT_STR, OFF(client_tls13_ciphers), "", 0, 0, F_EMPTY_NULL},
	{"client_tls_dheparams", KT_STR, OFF(client_tls_dheparams), "auto", 0, 0, 0},
	{"client_tls_ecdhcurve", KT_STR, OFF(client_tls_ecdhcurve), "auto", 0, 0, 0},
	{"server_tls_sslmode", KT_TLS_MODE, OFF(server_tls_sslmode), "prefer", 0, 0, 0},
	{"server_tls_key_file", KT_STR, OFF(server_tls_key_file), "", 0, 0, F_EMPTY_NULL},
	{"server_tls_cert_file", KT_STR, OFF(server_tls_cert_file), "", 0, 0, F_EMPTY_NULL},
	{"server_tls_ca_file", KT_STR, OFF(server_tls_ca_file), "", 0, 0, F_EMPTY_NULL},
	{"server_tls_protocols", KT_STR, OFF(server_tls_protocols), "secure", 0, 0, 0},
	{"server_tls_ciphers", KT_STR, OFF(server_tls_ciphers), "default", 0, 0, 0},
	{"server_tls13_ciphers", KT_STR, OFF(server_tls13_ciphers), "", 0, 0, F_EMPTY_NULL},
	{"pool_mode", KT_POOL_MODE, OFF(pool_mode), "session", 0, 0, 0},
	{"default_pool_size", KT_INT, OFF(default_pool_size), "20", 1, 1000000, 0},
	{"min_pool_size", KT_INT, OFF(min_pool_size), "0", 0, 1000000, 0},
	{"reserve_pool_size", KT_INT, OFF(reserve_pool_size), "0", 0, 1000000, 0},
	{"max_client_conn", KT_INT, OFF(max_client_conn), "100", 1, 10000000, 0},
	{"max_db_connections", KT_INT, OFF(max_db_connections), "0", 0, 10000000, 0},
	{"max_user_connections", KT_INT, OFF(max_user_connections), "0", 0, 10000000, 0},
	{"server_reset_query", KT_STR, OFF(server_reset_query), "DISCARD ALL", 0, 0, 0},
	{"server_reset_query_always", KT_BOOL, OFF(server_reset_query_always), "0", 0, 0, 0},
	{"server_check_query", KT_STR, OFF(server_check_query), "select 1", 0, 0, 0},
	{"ignore_startup_parameters", KT_LIST, OFF(ignore_startup_parameters), "", 0, 0, 0},
	{"max_prepared_statements", KT_INT, OFF(max_prepared_statements), "200", 0, 1000000, 0},
	{"max_packet_size", KT_INT, OFF(max_packet_size), "2147483647", 1024, INT_MAX, F_BYTES},
	{"pkt_buf", KT_INT, OFF(pkt_buf), "4096", 512, 1 << 30, F_BYTES | F_NORELOAD},
	{"application_name_add_host", KT_BOOL, OFF(application_name_add_host), "0", 0, 0, 0},
	{"server_round_robin", KT_BOOL, OFF(server_round_robin), "0", 0, 0, 0},
	{"server_fast_close", KT_BOOL, OFF(server_fast_close), "0", 0, 0, 0},
	{"disable_pqexec", KT_BOOL, OFF(disable_pqexec), "0", 0, 0, 0},
	{"max_db_client_connections", KT_INT, OFF(max_db_client_connections), "0", 0, 10000000, 0},
	{"max_user_client_connections", KT_INT, OFF(max_user_client_connections), "0", 0, 10000000,
	 0},
	{"track_extra_parameters", KT_LIST, OFF(track_extra_parameters), "IntervalStyle", 0, 0, 0},
	{"scram_iterations", KT_INT, OFF(scram_iterations), "4096", 1, INT_MAX, 0},
	{"query_timeout", KT_TIME, OFF(query_timeout), "0", 0, TMAX, 0},
	{"query_wait_timeout", KT_TIME, OFF(query_wait_timeout), "120", 0, TMAX, 0},
	{"idle_transaction_timeout", KT_TIME, OFF(idle_transaction_timeout), "0", 0, TMAX, 0},
	{"transaction_timeout", KT_TIME, OFF(transaction_timeout), "0", 0, TMAX, 0},
	{"client_idle_timeout", KT_TIME, OFF(client_idle_timeout), "0", 0, TMAX, 0},
	{"client_login_timeout", KT_TIME, OFF(client_login_timeout), "60", 0, TMAX, 0},
	{"server_connect_timeout", KT_TIME, OFF(server_connect_timeout), "15", 0, TMAX, 0},
	{"server_idle_timeout", KT_TIME, OFF(server_idle_timeout), "600", 0, TMAX, 0},
	{"server_lifetime", KT_TIME, OFF(server_lifetime), "3600", 0, TMAX, 0},
	{"server_login_retry", KT_TIME, OFF(server_login_retry), "15", 0, TMAX, 0},
	{"server_check_delay", KT_TIME, OFF(server_check_delay), "30", 0, TMAX, 0},
	{"shutdown_wait_timeout", KT_TIME, OFF(shutdown_wait_timeout), "0", 0, TMAX, 0},
	{"reserve_pool_timeout", KT_TIME, OFF(reserve_pool_timeout), "5", 0, TMAX, 0},
	{"query_wait_notify", KT_TIME, OFF(query_wait_notify), "5", 0, TMAX, 0},
	{"suspend_timeout", KT_TIME, OFF(suspend_timeout), "10", 0, TMAX, 0},
	{"autodb_idle_timeout", KT_TIME, OFF(autodb_idle_timeout), "3600", 0, TMAX, 0},
	{"cancel_wait_timeout", KT_TIME, OFF(cancel_wait_timeout), "10", 0, TMAX, 0},
	{"dns_max_ttl", KT_TIME, OFF(dns_max_ttl), "15", 0, TMAX, 0},
	{"dns_nxdomain_ttl", KT_TIME, OFF(dns_nxdomain_ttl), "15", 0, TMAX, 0},
	{"dns_zone_check_period", KT_TIME, OFF(dns_zone_check_period), "0", 0, TMAX, 0},
	{"resolv_conf", KT_STR, OFF(resolv_conf), "", 0, 0, F_EMPTY_NULL},
	{"logfile", KT_STR, OFF(logfile), "", 0, 0, F_EMPTY_NULL},
	{"pidfile", KT_STR, OFF(pidfile), "", 0, 0, F_EMPTY_NULL | F_NORELOAD},
	{"conffile", KT_STR, OFF(config_file), "", 0, 0, F_EMPTY_NULL},
	{"user", KT_STR, OFF(user), "", 0, 0, F_EMPTY_NULL | F_NORELOAD},
	{"service_name", KT_STR, OFF(service_name), "pgsift", 0, 0, F_NORELOAD},
	{"job_name", KT_STR, OFF(service_name), "pgsift", 0, 0, F_NORELOAD | F_HIDDEN},
	{"syslog", KT_BOOL, OFF(syslog), "0", 0, 0, 0},
	{"syslog_ident", KT_STR, OFF(syslog_ident), "pgsift", 0, 0, 0},
	{"syslog_facility", KT_STR, OFF(syslog_facility), "daemon", 0, 0, 0},
	{"log_level", KT_LOG_LEVEL, OFF(log_level), "info", 0, 0, 0},
	{"verbose", KT_VERBOSE, OFF(log_level), "0", 0, 2, F_HIDDEN},
	{"log_connections", KT_BOOL, OFF(log_connections), "1", 0, 0, 0},
	{"log_disconnections", KT_BOOL, OFF(log_disconnections), "1", 0, 0, 0},
	{"log_pooler_errors", KT_BOOL, OFF(log_pooler_errors), "1", 0, 0, 0},
	{"log_stats", KT_BOOL, OFF(log_stats), "1", 0, 0, 0},
	{"stats_period", KT_TIME, OFF(stats_period), "60", 1, TMAX, 0},
	{"track_statements", KT_BOOL, OFF(track_statements), "1", 0, 0, 0},
	{"slow_query_ms", KT_MS, OFF(slow_query_ms), "-1", -1, TMAX, 0},
	{"slow_query_log", KT_STR, OFF(slow_query_log), "", 0, 0, F_EMPTY_NULL},
	{"slow_query_log_max_per_sec", KT_INT, OFF(slow_query_log_max_per_sec), "0", 0, INT_MAX, 0},
	{"log_parameters", KT_BOOL, OFF(log_parameters), "0", 0, 0, 0},
	{"stats_file", KT_STR, OFF(stats_file), "", 0, 0, F_EMPTY_NULL | F_NORELOAD},
	{"stats_flush_interval", KT_TIME, OFF(stats_flush_interval), "60", 1, TMAX, 0},
	{"stats_retention", KT_TIME, OFF(stats_retention), "1209600", 1, TMAX, 0},
	{"stats_dsn", KT_STR, OFF(stats_dsn), "", 0, 0, F_EMPTY_NULL | F_DSN},
	{"stats_dsn_schema", KT_STR, OFF(stats_dsn_schema), "pgsift", 0, 0, 0},
	{"stats_instance", KT_STR, OFF(stats_instance), "", 0, 0, F_EMPTY_NULL},
	{"stats_dsn_backlog", KT_INT, OFF(stats_dsn_backlog), "100000", 1, 100000000, 0},
	{"max_fingerprints", KT_INT, OFF(max_fingerprints), "10000", 1, 100000000, 0},
	{"metrics_listen", KT_HOSTPORT, OFF(metrics_listen), "", 0, 0, F_NORELOAD},
	{"dashboard_users", KT_LIST, OFF(dashboard_users), "", 0, 0, 0},
	{"parser_cache_size", KT_SIZE, OFF(parser_cache_bytes), "67108864", 0, 1LL << 40,
	 F_NORELOAD},
	{"query_text_max", KT_INT, OFF(query_text_max), "4096", 16, 1 << 24, F_BYTES},
	{"stats_queue_size", KT_INT, OFF(stats_queue_size), "65536", 16, 1 << 26, F_NORELOAD},
	{"advisor_min_table_rows", KT_INT64, OFF(advisor_min_table_rows), "10000", 0, LLONG_MAX, 0},
	{"advisor_min_saving_pct", KT_INT, OFF(advisor_min_saving_pct), "30", 0, 100, 0},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* PgBouncer settings pgsift does not implement: one warning each, never an error. Both are
 * authentication methods pgsift refuses (auth_type ldap; hba user maps). */
static const char *const unsupported_keys[] = {
	"auth_ldap_options",
	"auth_ident_file",
	NULL,
};
/* ...and whole families of them (none left: kept for the next one). */
static const char *const unsupported_prefixes[] = {
	NULL,
};

/* The flags that set one key; --listen and --upstream are handled on their own. */
static const struct {
	size_t arg_off;
	const char *flag;
	const char *key;
	bool in_ms; /* the flag takes milliseconds where the file takes seconds */
} flag_keys[] = {
	{offsetof(ConfigArgs, pool_mode), "--pool-mode", "pool_mode", false},
	{offsetof(ConfigArgs, pool_size), "--pool-size", "default_pool_size", false},
	{offsetof(ConfigArgs, max_client_conn), "--max-client-conn", "max_client_conn", false},
	{offsetof(ConfigArgs, auth_type), "--auth-type", "auth_type", false},
	{offsetof(ConfigArgs, auth_file), "--auth-file", "auth_file", false},
	{offsetof(ConfigArgs, admin_users), "--admin-users", "admin_users", false},
	{offsetof(ConfigArgs, query_timeout), "--query-timeout", "query_timeout", true},
	{offsetof(ConfigArgs, slow_ms), "--slow-ms", "slow_query_ms", false},
	{offsetof(ConfigArgs, slow_log), "--slow-log", "slow_query_log", false},
	{offsetof(ConfigArgs, stats_file), "--stats-file", "stats_file", false},
	{offsetof(ConfigArgs, metrics_listen), "--metrics-listen", "metrics_listen", false},
	{offsetof(ConfigArgs, log_level), "--log-level", "log_level", false},
};

/* The command line: long name, short letter (0 = none), field (or a bool for help/version). */
static const struct {
	const char *name;
	char letter;
	size_t off;
	bool takes_value;
} cli_flags[] = {
	{"config", 'c', offsetof(ConfigArgs, config_file), true},
	{"listen", 0, offsetof(ConfigArgs, listen), true},
	{"upstream", 0, offsetof(ConfigArgs, upstream), true},
	{"pool-mode", 0, offsetof(ConfigArgs, pool_mode), true},
	{"pool-size", 0, offsetof(ConfigArgs, pool_size), true},
	{"max-client-conn", 0, offsetof(ConfigArgs, max_client_conn), true},
	{"auth-type", 0, offsetof(ConfigArgs, auth_type), true},
	{"auth-file", 0, offsetof(ConfigArgs, auth_file), true},
	{"admin-users", 0, offsetof(ConfigArgs, admin_users), true},
	{"query-timeout", 0, offsetof(ConfigArgs, query_timeout), true},
	{"slow-ms", 0, offsetof(ConfigArgs, slow_ms), true},
	{"slow-log", 0, offsetof(ConfigArgs, slow_log), true},
	{"stats-file", 0, offsetof(ConfigArgs, stats_file), true},
	{"metrics-listen", 0, offsetof(ConfigArgs, metrics_listen), true},
	{"log-level", 0, offsetof(ConfigArgs, log_level), true},
	{"takeover", 'R', offsetof(ConfigArgs, takeover), false},
	{"help", 'h', offsetof(ConfigArgs, help), false},
	{"version", 'V', offsetof(ConfigArgs, version), false},
};

/* A [users] line, kept until auth_file is read (which may only be named later, by a flag). */
typedef struct UserOverride {
	char *name;
	int pool_mode;
	int max_user_connections;
} UserOverride;

/* State of one config_load: where each key was set, and what has been warned about. */
typedef struct Loader {
	Config *cfg;
	const char *src[N_KEYS]; /* "FILE", "PGSIFT_X" or "--flag"; NULL = default */
	int src_line[N_KEYS];	 /* > 0 for a file */
	char **names;		 /* interned file names and labels, owned */
	size_t n_names;
	char **warned; /* keys already warned about, owned */
	size_t n_warned;
	UserOverride *uo;
	size_t n_uo;
	int section; /* the current section, which an %include'd file continues, as PgBouncer */
	char *err;
	size_t errlen;
} Loader;

enum { SEC_NONE, SEC_MAIN, SEC_DATABASES, SEC_USERS, SEC_PEERS, SEC_IGNORED };

static const KeyDef *key_find(const char *name);
static bool key_set(Config *cfg, const KeyDef *k, const char *value, bool in_ms, char *why,
		    size_t whylen);
static void key_format(const Config *cfg, const KeyDef *k, char *buf, size_t len);
static void key_free(Config *cfg, const KeyDef *k);
static bool cfg_apply_defaults(Config *cfg);
static bool loader_ini(Loader *ld, const char *path, int depth);
static bool loader_set(Loader *ld, const KeyDef *k, const char *value, const char *src, int line,
		       bool in_ms);
static bool loader_db(Loader *ld, const char *name, const char *value, const char *src, int line);
static bool loader_users(Loader *ld, const char *name, const char *value, const char *src,
			 int line);
static bool loader_peer(Loader *ld, const char *name, const char *value, const char *src, int line);
static bool loader_listen_flag(Loader *ld, const char *value, const char *label);
static bool loader_upstream(Loader *ld, const char *value, const char *label);
static bool loader_auth_file(Loader *ld);
static bool loader_validate(Loader *ld);
static bool validate_process(Loader *ld, Config *cfg);
static bool validate_stats_dsn(Loader *ld, Config *cfg);
static const char *loader_intern(Loader *ld, const char *s);
static void loader_warn_once(Loader *ld, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void loader_free(Loader *ld);
static bool is_unsupported_key(const char *key);
static bool is_loopback(const char *addr);
static bool parse_time_ms(const char *s, double unit_ms, long long min, long long max,
			  long long *out);
static bool parse_size(const char *s, long long min, long long max, long long *out);
static bool parse_bool(const char *s, bool *out);
static bool parse_hostport(const char *s, char *addr, size_t addrlen, int *port);
static bool parse_list(const char *s, char ***out);
static void list_free(char **list);
static int db_upsert(Config *cfg, DbEntry *db);

/* ---------------------------------------------------------------------------------------- */

const char *pool_mode_str(PoolMode mode)
{
	switch (mode) {
	case POOL_SESSION:
		return "session";
	case POOL_TRANSACTION:
		return "transaction";
	case POOL_STATEMENT:
		return "statement";
	}
	return "unknown";
}

const char *auth_type_str(AuthType type)
{
	switch (type) {
	case AUTH_TRUST:
		return "trust";
	case AUTH_PLAIN:
		return "plain";
	case AUTH_MD5:
		return "md5";
	case AUTH_SCRAM:
		return "scram-sha-256";
	case AUTH_CERT:
		return "cert";
	case AUTH_HBA:
		return "hba";
	}
	return "unknown";
}

static const char *const tls_mode_names[] = {
	[TLS_DISABLE] = "disable", [TLS_ALLOW] = "allow",	  [TLS_PREFER] = "prefer",
	[TLS_REQUIRE] = "require", [TLS_VERIFY_CA] = "verify-ca", [TLS_VERIFY_FULL] = "verify-full",
};

const char *tls_mode_str(TlsMode mode)
{
	return (unsigned)mode <= TLS_VERIFY_FULL ? tls_mode_names[mode] : "unknown";
}

bool tls_mode_parse(const char *s, TlsMode *mode)
{
	for (int m = TLS_DISABLE; m <= TLS_VERIFY_FULL; m++) {
		if (strcasecmp(s, tls_mode_names[m]) == 0) {
			*mode = (TlsMode)m;
			return true;
		}
	}
	return false;
}

const char *config_usage(void)
{
	return "Usage: pgsift [OPTION]... [CONFIG_FILE]\n"
	       "A PostgreSQL connection pooler that records per-query statistics, a slow-query\n"
	       "log and suggests missing indexes. Reads pgbouncer.ini files.\n"
	       "\n"
	       "  -c, --config FILE          read settings from FILE (PgBouncer's ini format)\n"
	       "      --listen ADDR:PORT     listen here (also :PORT or PORT); default "
	       "127.0.0.1:6432\n"
	       "      --upstream URL         the server, as a libpq URL or key=value string;\n"
	       "                             shorthand for [databases] * = URL\n"
	       "      --pool-mode MODE       session, transaction or statement (default session)\n"
	       "      --pool-size N          server connections per database and user (20)\n"
	       "      --max-client-conn N    client connections allowed (100)\n"
	       "      --auth-type TYPE       trust, plain, md5 or scram-sha-256 (default trust,\n"
	       "                             allowed only on loopback addresses)\n"
	       "      --auth-file FILE       users and secrets, PgBouncer's userlist.txt format\n"
	       "      --admin-users LIST     comma-separated users allowed on the admin console\n"
	       "      --query-timeout MS     cancel statements running longer (0 = off)\n"
	       "      --slow-ms MS           log statements taking at least MS milliseconds\n"
	       "      --slow-log FILE        the slow-query log (JSON lines)\n"
	       "      --stats-file FILE      keep query statistics across restarts\n"
	       "      --metrics-listen ADDR:PORT  serve Prometheus metrics at /metrics\n"
	       "      --log-level LEVEL      fatal, error, warning, info, debug or noise\n"
	       "  -R, --takeover             take the listening sockets over from the running\n"
	       "                             pgsift of this configuration (online restart)\n"
	       "  -h, --help                 show this help and exit\n"
	       "  -V, --version              show the version and exit\n"
	       "\n"
	       "Every setting can also be given as PGSIFT_<KEY> in the environment (for example\n"
	       "PGSIFT_LISTEN_PORT=6432, PGSIFT_UPSTREAM=postgresql://localhost/app); the command\n"
	       "line overrides the environment, which overrides the file.\n"
	       "\n"
	       "  pgsift suggest [--stats-file FILE | --admin URL] [--dsn URL] [--since 7d]\n"
	       "                 [--format sql|json|csv|markdown] [--validate] [--min-calls N]\n"
	       "  pgsift indexes --dsn URL [--format ...]\n";
}

bool config_parse_args(int argc, char **argv, ConfigArgs *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	bool only_positional = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_positional || a[0] != '-' || a[1] == '\0') {
			if (out->config_file) {
				snprintf(
					err, errlen,
					"unexpected argument '%s': the config file is already '%s'",
					a, out->config_file);
				return false;
			}
			out->config_file = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_positional = true;
			continue;
		}
		size_t f;
		const char *inline_value = NULL;
		bool found = false;
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
			for (f = 0; f < sizeof(cli_flags) / sizeof(cli_flags[0]); f++) {
				if (strlen(cli_flags[f].name) == nlen &&
				    strncmp(cli_flags[f].name, name, nlen) == 0) {
					found = true;
					break;
				}
			}
			if (found && eq) {
				if (!cli_flags[f].takes_value) {
					snprintf(err, errlen, "option '--%s' takes no value",
						 cli_flags[f].name);
					return false;
				}
				inline_value = eq + 1;
			}
		} else {
			for (f = 0; f < sizeof(cli_flags) / sizeof(cli_flags[0]); f++) {
				if (cli_flags[f].letter && cli_flags[f].letter == a[1]) {
					found = true;
					break;
				}
			}
			if (found && a[2] != '\0') {
				if (!cli_flags[f].takes_value) {
					found = false;
				} else {
					inline_value = a + 2; /* -cFILE */
				}
			}
		}
		if (!found) {
			snprintf(err, errlen, "unknown option '%s' (see --help)", a);
			return false;
		}
		if (!cli_flags[f].takes_value) {
			*(bool *)((char *)out + cli_flags[f].off) = true;
			continue;
		}
		const char *value = inline_value;
		if (!value) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "option '%s' needs a value", a);
				return false;
			}
			value = argv[++i];
		}
		*(const char **)((char *)out + cli_flags[f].off) = value;
	}
	return true;
}

Config *config_load(const ConfigArgs *args, char *err, size_t errlen)
{
	static const ConfigArgs none;
	Loader ld = {.err = err, .errlen = errlen};
	if (!args)
		args = &none;
	if (errlen)
		err[0] = '\0';
	ld.cfg = calloc(1, sizeof(Config));
	if (!ld.cfg || !cfg_apply_defaults(ld.cfg)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	if (args->config_file) {
		ld.cfg->config_file = strdup(args->config_file);
		if (!ld.cfg->config_file) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (!loader_ini(&ld, args->config_file, 0))
			goto fail;
	}

	/* The environment: PGSIFT_<KEY>, with the file's units. */
	for (size_t i = 0; i < N_KEYS; i++) {
		char var[64] = "PGSIFT_";
		size_t n = strlen(var);
		for (const char *p = keys[i].name; *p && n < sizeof(var) - 1; p++)
			var[n++] = (char)toupper((unsigned char)*p);
		var[n] = '\0';
		const char *v = getenv(var);
		if (v && !loader_set(&ld, &keys[i], v, loader_intern(&ld, var), 0, false))
			goto fail;
	}
	const char *env_upstream = getenv("PGSIFT_UPSTREAM");
	if (env_upstream && !args->upstream &&
	    !loader_upstream(&ld, env_upstream, "PGSIFT_UPSTREAM"))
		goto fail;

	/* The command line. */
	if (args->listen && !loader_listen_flag(&ld, args->listen, "--listen"))
		goto fail;
	for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++) {
		const char *v = *(const char *const *)((const char *)args + flag_keys[i].arg_off);
		if (v && !loader_set(&ld, key_find(flag_keys[i].key), v, flag_keys[i].flag, 0,
				     flag_keys[i].in_ms))
			goto fail;
	}
	if (args->upstream && !loader_upstream(&ld, args->upstream, "--upstream"))
		goto fail;

	if (!loader_auth_file(&ld) || !loader_validate(&ld))
		goto fail;
	Config *cfg = ld.cfg;
	ld.cfg = NULL;
	loader_free(&ld);
	return cfg;
fail:
	loader_free(&ld);
	return NULL;
}

void config_free(Config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < N_KEYS; i++)
		key_free(cfg, &keys[i]);
	for (size_t i = 0; i < cfg->n_users; i++) {
		free(cfg->users[i].name);
		free(cfg->users[i].secret);
	}
	free(cfg->users);
	for (size_t i = 0; i < cfg->n_dbs; i++)
		dbentry_clear(&cfg->dbs[i]);
	free(cfg->dbs);
	for (size_t i = 0; i < cfg->n_peers; i++)
		free(cfg->peers[i].host);
	free(cfg->peers);
	free(cfg);
}

const DbEntry *config_find_db(const Config *cfg, const char *dbname)
{
	const DbEntry *fallback = NULL;
	for (size_t i = 0; i < cfg->n_dbs; i++) {
		if (strcmp(cfg->dbs[i].name, dbname) == 0)
			return &cfg->dbs[i];
		if (strcmp(cfg->dbs[i].name, "*") == 0)
			fallback = &cfg->dbs[i];
	}
	return fallback;
}

const PeerEntry *config_find_peer(const Config *cfg, int id)
{
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (cfg->peers[i].id == id)
			return &cfg->peers[i];
	return NULL;
}

static const UserEntry *user_find_any(const Config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_users; i++)
		if (strcmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	return NULL;
}

const UserEntry *config_find_user(const Config *cfg, const char *name)
{
	const UserEntry *u = user_find_any(cfg, name);
	return u && u->secret ? u : NULL;
}

bool config_list_has(char *const *list, const char *name)
{
	if (!list || !name)
		return false;
	for (; *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

PoolMode config_pool_mode(const Config *cfg, const DbEntry *db, const char *user)
{
	const UserEntry *u = user ? user_find_any(cfg, user) : NULL;
	if (u && u->pool_mode >= 0)
		return (PoolMode)u->pool_mode;
	if (db && db->pool_mode >= 0)
		return (PoolMode)db->pool_mode;
	return cfg->pool_mode;
}

int config_pool_size(const Config *cfg, const DbEntry *db)
{
	if (db && db->pool_size > 0)
		return db->pool_size;
	return cfg->default_pool_size;
}

/* A connection string as SHOW CONFIG may print it: the value of password=... (key=value
 * form) or the password of postgres://user:password@host (URI form) becomes ********. */
static void dsn_hide_password(char *v)
{
	char out[1024];
	size_t o = 0;
	const char *p = v;
	bool uri = strncmp(v, "postgres://", 11) == 0 || strncmp(v, "postgresql://", 13) == 0;
	if (uri) {
		char *auth = strstr(v, "://") + 3;
		char *at = strchr(auth, '@'), *colon = strchr(auth, ':'),
		     *slash = strchr(auth, '/');
		if (at && colon && colon < at && (!slash || at < slash)) {
			snprintf(out, sizeof(out), "%.*s:********%s", (int)(colon - v), v, at);
			strcpy(v, out);
		}
		char *q = strstr(v, "password=");
		if (q) { /* in the query string */
			char *end = strchr(q, '&');
			snprintf(out, sizeof(out), "%.*spassword=********%s", (int)(q - v), v,
				 end ? end : "");
			strcpy(v, out);
		}
		return;
	}
	while (*p && o + 16 < sizeof(out)) {
		if ((p == v || isspace((unsigned char)p[-1])) && strncmp(p, "password", 8) == 0) {
			const char *e = p + 8;
			while (isspace((unsigned char)*e))
				e++;
			if (*e == '=') {
				e++;
				while (isspace((unsigned char)*e))
					e++;
				if (*e == '\'') { /* quoted: to the closing quote */
					for (e++; *e && *e != '\''; e++)
						if (*e == '\\' && e[1])
							e++;
					if (*e)
						e++;
				} else {
					while (*e && !isspace((unsigned char)*e))
						e++;
				}
				o += (size_t)snprintf(out + o, sizeof(out) - o,
						      "password=********");
				p = e;
				continue;
			}
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
	strcpy(v, out);
}

void config_visit(const Config *cfg, ConfigVisitFn fn, void *arg)
{
	Config *dflt = calloc(1, sizeof(Config));
	if (dflt && !cfg_apply_defaults(dflt)) {
		config_free(dflt);
		dflt = NULL;
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		if (keys[i].flags & F_HIDDEN)
			continue;
		char value[1024], dv[1024] = "";
		key_format(cfg, &keys[i], value, sizeof(value));
		if (keys[i].flags & F_DSN)
			dsn_hide_password(value);
		if (dflt)
			key_format(dflt, &keys[i], dv, sizeof(dv));
		fn(arg, keys[i].name, value, dv, !(keys[i].flags & F_NORELOAD));
	}
	config_free(dflt);
}

/* ---------------------------------------------------------------------------------------- */
/* Helpers shared with dbentry.c and userlist.c (declared in config_internal.h). */

int config_read_line(FILE *f, char **buf, size_t *cap, size_t *len)
{
	size_t n = 0;
	int c;
	bool got = false, nul = false;
	while ((c = getc_unlocked(f)) != EOF) {
		got = true;
		if (c == '\n')
			break;
		if (c == '\0')
			nul = true;
		if (n + 2 > *cap) {
			if (*cap >= CONFIG_MAX_LINE) {
				*len = 1;
				return -2;
			}
			size_t ncap = *cap ? *cap * 2 : 256;
			char *grown = realloc(*buf, ncap);
			if (!grown)
				return -1;
			*buf = grown;
			*cap = ncap;
		}
		(*buf)[n++] = (char)c;
	}
	if (ferror(f))
		return -1;
	if (!got)
		return 0;
	if (!*buf) {
		*buf = malloc(1);
		if (!*buf)
			return -1;
		*cap = 1;
	}
	if (n && (*buf)[n - 1] == '\r')
		n--;
	(*buf)[n] = '\0';
	*len = n;
	if (nul) {
		*len = 0;
		return -2;
	}
	return 1;
}

char *config_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

void config_echo(char *dst, size_t dstlen, const char *value)
{
	size_t n = 0, i;
	if (!dstlen)
		return;
	for (i = 0; value[i] && n + 1 < dstlen && i < 60; i++)
		dst[n++] = isprint((unsigned char)value[i]) ? value[i] : '?';
	if (value[i] && n + 4 < dstlen) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
}

bool config_parse_pool_mode(const char *s, int *out)
{
	for (int m = POOL_SESSION; m <= POOL_STATEMENT; m++) {
		if (strcasecmp(s, pool_mode_str((PoolMode)m)) == 0) {
			*out = m;
			return true;
		}
	}
	return false;
}

bool config_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	errno = 0;
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	long long v = strtoll(s, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* ---------------------------------------------------------------------------------------- */

static const KeyDef *key_find(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcasecmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

#define FIELD(cfg, k, T) ((T *)((char *)(cfg) + (k)->off))

static void range_why(const KeyDef *k, const char *what, char *why, size_t whylen)
{
	if (k->max >= INT_MAX)
		snprintf(why, whylen, "must be %s >= %lld", what, k->min);
	else
		snprintf(why, whylen, "must be %s between %lld and %lld", what, k->min, k->max);
}

/*
 * Parses value for key k into cfg. On failure returns false with the reason in why (without
 * location or value: the caller adds both). in_ms: a bare number of a time key is milliseconds.
 * One function: one switch over the key types of the KeyDef table.
 */
static bool key_set(Config *cfg, const KeyDef *k, const char *value, bool in_ms, char *why,
		    size_t whylen)
{
	long long v;
	switch (k->type) {
	case KT_STR:
	case KT_ADDRS:
	case KT_HOSTPORT: {
		char **field = FIELD(cfg, k, char *);
		if (k->type == KT_ADDRS) {
			/* Each address must at least look like one; resolving is the listener's job. */
			const char *p = value;
			while (*p) {
				size_t n = strcspn(p, ",");
				size_t b = 0, e = n;
				while (b < e && isspace((unsigned char)p[b]))
					b++;
				while (e > b && isspace((unsigned char)p[e - 1]))
					e--;
				for (size_t i = b; i < e; i++) {
					if (!isgraph((unsigned char)p[i])) {
						snprintf(why, whylen,
							 "must be addresses separated by commas");
						return false;
					}
				}
				p += n + (p[n] == ',');
			}
		}
		if (k->type == KT_HOSTPORT && *value) {
			char addr[256];
			int port;
			if (!parse_hostport(value, addr, sizeof(addr), &port) || !addr[0]) {
				snprintf(why, whylen,
					 "must be ADDR:PORT with a port between 1 and 65535");
				return false;
			}
		}
		const char *const *choices = key_choices(k->name);
		if (choices) {
			size_t i;
			for (i = 0; choices[i]; i++)
				if (strcasecmp(value, choices[i]) == 0)
					break;
			if (!choices[i]) {
				size_t n = (size_t)snprintf(why, whylen, "must be one of");
				for (i = 0; choices[i] && n < whylen; i++)
					n += (size_t)snprintf(why + n, whylen - n, "%s %s",
							      i ? "," : "", choices[i]);
				return false;
			}
		}
		char *dup = NULL;
		if (*value || !(k->flags & F_EMPTY_NULL || k->type == KT_HOSTPORT)) {
			dup = strdup(value);
			if (!dup) {
				snprintf(why, whylen, "out of memory");
				return false;
			}
		}
		free(*field);
		*field = dup;
		return true;
	}
	case KT_INT:
		if (k->flags & F_BYTES ? !parse_size(value, k->min, k->max, &v) :
					 !config_parse_int(value, k->min, k->max, &v)) {
			if (strcmp(k->name, "listen_port") == 0)
				snprintf(why, whylen, "must be a port number between 1 and 65535");
			else
				range_why(k, k->flags & F_BYTES ? "a size in bytes" : "an integer",
					  why, whylen);
			return false;
		}
		*FIELD(cfg, k, int) = (int)v;
		return true;
	case KT_INT64:
		if (!config_parse_int(value, k->min, k->max, &v)) {
			range_why(k, "an integer", why, whylen);
			return false;
		}
		*FIELD(cfg, k, int64_t) = v;
		return true;
	case KT_SIZE:
		if (!parse_size(value, k->min, k->max, &v)) {
			snprintf(why, whylen, "must be a size in bytes (e.g. 8192, 64kB, 64MB)");
			return false;
		}
		*FIELD(cfg, k, size_t) = (size_t)v;
		return true;
	case KT_BOOL: {
		bool b;
		if (!parse_bool(value, &b)) {
			snprintf(why, whylen,
				 "must be a boolean (0/1, on/off, true/false, yes/no)");
			return false;
		}
		*FIELD(cfg, k, bool) = b;
		return true;
	}
	case KT_TIME:
		if (!parse_time_ms(value, in_ms ? 1 : 1000, k->min, k->max, &v)) {
			if (in_ms)
				snprintf(why, whylen,
					 "must be a time in milliseconds >= %lld (e.g. 1500 or 2s)",
					 k->min);
			else
				snprintf(why, whylen,
					 "must be a time in seconds%s (e.g. 30, 0.5, 500ms, 14d)",
					 k->min > 0 ? " greater than 0" : "");
			return false;
		}
		*FIELD(cfg, k, uint64_t) = (uint64_t)v;
		return true;
	case KT_MS:
		if (!parse_time_ms(value, 1, k->min, k->max, &v)) {
			snprintf(why, whylen, "must be a time in milliseconds, or -1 for off");
			return false;
		}
		*FIELD(cfg, k, int64_t) = v;
		return true;
	case KT_MODE: {
		char *end;
		errno = 0;
		long m = strtol(value, &end, 8);
		if (!*value || errno || *config_trim(end) || m < 0 || m > k->max) {
			snprintf(why, whylen, "must be an octal file mode such as 0777");
			return false;
		}
		*FIELD(cfg, k, int) = (int)m;
		return true;
	}
	case KT_POOL_MODE: {
		int m;
		if (!config_parse_pool_mode(value, &m)) {
			snprintf(why, whylen, "must be session, transaction or statement");
			return false;
		}
		*FIELD(cfg, k, PoolMode) = (PoolMode)m;
		return true;
	}
	case KT_AUTH_TYPE: {
		for (int t = AUTH_TRUST; t <= AUTH_HBA; t++) {
			if (strcasecmp(value, auth_type_str((AuthType)t)) == 0) {
				*FIELD(cfg, k, AuthType) = (AuthType)t;
				return true;
			}
		}
		if (!strcasecmp(value, "any") || !strcasecmp(value, "pam") ||
		    !strcasecmp(value, "ldap") || !strcasecmp(value, "peer"))
			snprintf(why, whylen,
				 "this PgBouncer auth_type is not supported by pgsift; use trust, "
				 "plain, md5, scram-sha-256, cert or hba");
		else
			snprintf(why, whylen,
				 "must be trust, plain, md5, scram-sha-256, cert or hba");
		return false;
	}
	case KT_TLS_MODE:
		if (!tls_mode_parse(value, FIELD(cfg, k, TlsMode))) {
			snprintf(why, whylen,
				 "must be disable, allow, prefer, require, verify-ca or "
				 "verify-full");
			return false;
		}
		return true;
	case KT_LOG_LEVEL: {
		LogLevel l;
		if (!log_level_parse(value, &l)) {
			snprintf(why, whylen,
				 "must be fatal, error, warning, info, debug or noise");
			return false;
		}
		*FIELD(cfg, k, LogLevel) = l;
		return true;
	}
	case KT_VERBOSE:
		if (!config_parse_int(value, 0, INT_MAX, &v)) {
			snprintf(why, whylen, "must be an integer >= 0");
			return false;
		}
		/* PgBouncer's -v count: 1 = debug, 2 or more = noise; 0 leaves log_level alone. */
		if (v > 0)
			*FIELD(cfg, k, LogLevel) = v == 1 ? LL_DEBUG : LL_NOISE;
		return true;
	case KT_LIST: {
		char **list;
		if (!parse_list(value, &list)) {
			snprintf(why, whylen, "out of memory");
			return false;
		}
		list_free(*FIELD(cfg, k, char **));
		*FIELD(cfg, k, char **) = list;
		return true;
	}
	}
	snprintf(why, whylen, "unknown key type");
	return false;
}

/* The value in PgBouncer's text form: times in seconds, booleans 0/1, lists with commas. */
static void key_format(const Config *cfg, const KeyDef *k, char *buf, size_t len)
{
	const void *f = (const char *)cfg + k->off;
	switch (k->type) {
	case KT_STR:
	case KT_ADDRS:
	case KT_HOSTPORT: {
		const char *s = *(char *const *)f;
		snprintf(buf, len, "%s", s ? s : "");
		return;
	}
	case KT_INT:
		snprintf(buf, len, "%d", *(const int *)f);
		return;
	case KT_INT64:
	case KT_MS:
		snprintf(buf, len, "%lld", (long long)*(const int64_t *)f);
		return;
	case KT_SIZE:
		snprintf(buf, len, "%zu", *(const size_t *)f);
		return;
	case KT_BOOL:
		snprintf(buf, len, "%d", *(const bool *)f ? 1 : 0);
		return;
	case KT_TIME: {
		uint64_t ms = *(const uint64_t *)f;
		if (ms % 1000 == 0) {
			snprintf(buf, len, "%llu", (unsigned long long)(ms / 1000));
		} else {
			snprintf(buf, len, "%llu.%03llu", (unsigned long long)(ms / 1000),
				 (unsigned long long)(ms % 1000));
			/* 0.500 -> 0.5 */
			size_t n = strlen(buf);
			while (n && buf[n - 1] == '0')
				buf[--n] = '\0';
		}
		return;
	}
	case KT_MODE:
		snprintf(buf, len, "0%o", (unsigned)*(const int *)f);
		return;
	case KT_POOL_MODE:
		snprintf(buf, len, "%s", pool_mode_str(*(const PoolMode *)f));
		return;
	case KT_AUTH_TYPE:
		snprintf(buf, len, "%s", auth_type_str(*(const AuthType *)f));
		return;
	case KT_TLS_MODE:
		snprintf(buf, len, "%s", tls_mode_str(*(const TlsMode *)f));
		return;
	case KT_LOG_LEVEL:
	case KT_VERBOSE:
		snprintf(buf, len, "%s", log_level_str(*(const LogLevel *)f));
		return;
	case KT_LIST: {
		char *const *list = *(char *const *const *)f;
		size_t n = 0;
		buf[0] = '\0';
		for (size_t i = 0; list && list[i] && n < len; i++)
			n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "," : "", list[i]);
		return;
	}
	}
	buf[0] = '\0';
}

static void key_free(Config *cfg, const KeyDef *k)
{
	switch (k->type) {
	case KT_STR:
	case KT_ADDRS:
	case KT_HOSTPORT:
		free(*FIELD(cfg, k, char *));
		*FIELD(cfg, k, char *) = NULL;
		break;
	case KT_LIST:
		list_free(*FIELD(cfg, k, char **));
		*FIELD(cfg, k, char **) = NULL;
		break;
	default:
		break;
	}
}

static bool cfg_apply_defaults(Config *cfg)
{
	char why[256];
	for (size_t i = 0; i < N_KEYS; i++)
		if (!key_set(cfg, &keys[i], keys[i].dflt, false, why, sizeof(why)))
			return false;
	return true;
}

/* ---------------------------------------------------------------------------------------- */
/* The ini file. */

static int section_of(const char *name)
{
	if (!strcasecmp(name, "pgsift") || !strcasecmp(name, "pgbouncer"))
		return SEC_MAIN;
	if (!strcasecmp(name, "databases"))
		return SEC_DATABASES;
	if (!strcasecmp(name, "users"))
		return SEC_USERS;
	if (!strcasecmp(name, "peers"))
		return SEC_PEERS;
	return SEC_IGNORED;
}

/*
 * Reads one ini file; %include recurses with depth + 1. As in PgBouncer, an included file
 * starts in the section of the %include line and the includer goes on in whatever section the
 * included file ended in. One function: a line-by-line reader whose state (section, line number)
 * every kind of line uses.
 */
static bool loader_ini(Loader *ld, const char *path, int depth)
{
	const char *file = loader_intern(ld, path);
	if (!file) {
		snprintf(ld->err, ld->errlen, "out of memory");
		return false;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(ld->err, ld->errlen, "cannot open config file '%s': %s", path,
			 strerror(errno));
		return false;
	}
	char *buf = NULL, echo[80];
	size_t cap = 0, len = 0;
	int lineno = 0, rc;
	bool ok = false;
	while ((rc = config_read_line(f, &buf, &cap, &len)) == 1) {
		lineno++;
		char *line = config_trim(buf);
		if (!*line || *line == ';' || *line == '#')
			continue;
		if (*line == '%') {
			char *arg = line + 1;
			while (*arg && !isspace((unsigned char)*arg))
				arg++;
			if (*arg)
				*arg++ = '\0';
			arg = config_trim(arg);
			if (strcasecmp(line, "%include") != 0) {
				config_echo(echo, sizeof(echo), line);
				snprintf(ld->err, ld->errlen, "%s:%d: unknown directive '%s'", file,
					 lineno, echo);
				goto out;
			}
			if (!*arg) {
				snprintf(ld->err, ld->errlen, "%s:%d: %%include needs a file name",
					 file, lineno);
				goto out;
			}
			if (depth >= 10) {
				snprintf(ld->err, ld->errlen,
					 "%s:%d: %%include nested more than 10 deep (a loop?)",
					 file, lineno);
				goto out;
			}
			/* A relative name is relative to the including file, not the cwd. */
			char inc[4096];
			const char *slash = strrchr(path, '/');
			if (*arg != '/' && slash)
				snprintf(inc, sizeof(inc), "%.*s/%s", (int)(slash - path), path,
					 arg);
			else
				snprintf(inc, sizeof(inc), "%s", arg);
			char sub[1024];
			if (!loader_ini(ld, inc, depth + 1)) {
				snprintf(sub, sizeof(sub), "%s", ld->err);
				snprintf(ld->err, ld->errlen, "%s:%d: %%include: %s", file, lineno,
					 sub);
				goto out;
			}
			continue;
		}
		if (*line == '[') {
			char *end = strchr(line, ']');
			if (!end || *config_trim(end + 1)) {
				config_echo(echo, sizeof(echo), line);
				snprintf(ld->err, ld->errlen, "%s:%d: bad section header '%s'",
					 file, lineno, echo);
				goto out;
			}
			*end = '\0';
			char *name = config_trim(line + 1);
			ld->section = section_of(name);
			if (ld->section == SEC_IGNORED) {
				config_echo(echo, sizeof(echo), name);
				log_warn("%s:%d: section [%s] is not supported by pgsift and is "
					 "ignored",
					 file, lineno, echo);
			}
			continue;
		}
		char *eq = strchr(line, '=');
		if (!eq) {
			config_echo(echo, sizeof(echo), line);
			snprintf(ld->err, ld->errlen, "%s:%d: expected 'key = value' (got '%s')",
				 file, lineno, echo);
			goto out;
		}
		*eq = '\0';
		char *key = config_trim(line);
		char *value = config_trim(eq + 1);
		if (!*key) {
			snprintf(ld->err, ld->errlen, "%s:%d: missing key before '='", file,
				 lineno);
			goto out;
		}
		switch (ld->section) {
		case SEC_NONE:
			config_echo(echo, sizeof(echo), key);
			snprintf(ld->err, ld->errlen,
				 "%s:%d: %s: setting outside of any section (start the file with "
				 "[pgsift] or [pgbouncer])",
				 file, lineno, echo);
			goto out;
		case SEC_IGNORED:
			continue;
		case SEC_DATABASES:
			if (!loader_db(ld, key, value, file, lineno))
				goto out;
			continue;
		case SEC_USERS:
			if (!loader_users(ld, key, value, file, lineno))
				goto out;
			continue;
		case SEC_PEERS:
			if (!loader_peer(ld, key, value, file, lineno))
				goto out;
			continue;
		}
		const KeyDef *k = key_find(key);
		config_echo(echo, sizeof(echo), key);
		if (!k) {
			if (is_unsupported_key(key))
				loader_warn_once(ld, key,
						 "%s:%d: setting %s is not supported by pgsift and "
						 "is ignored",
						 file, lineno, echo);
			else
				loader_warn_once(ld, key, "%s:%d: unknown setting %s is ignored",
						 file, lineno, echo);
			continue;
		}
		if (!loader_set(ld, k, value, file, lineno, false))
			goto out;
	}
	if (rc == -1) {
		snprintf(ld->err, ld->errlen, "cannot read config file '%s': %s", path,
			 strerror(errno));
		goto out;
	}
	if (rc == -2) {
		snprintf(ld->err, ld->errlen, "%s:%d: %s", file, lineno + 1,
			 len ? "line longer than 1 MiB" :
			       "line contains a NUL byte (binary file?)");
		goto out;
	}
	ok = true;
out:
	free(buf);
	fclose(f);
	return ok;
}

/* Sets one key and records where it came from; the error names that place. */
static bool loader_set(Loader *ld, const KeyDef *k, const char *value, const char *src, int line,
		       bool in_ms)
{
	char why[256], echo[80];
	if (!key_set(ld->cfg, k, value, in_ms, why, sizeof(why))) {
		config_echo(echo, sizeof(echo), value);
		if (line > 0)
			snprintf(ld->err, ld->errlen, "%s:%d: %s: %s (got '%s')", src, line,
				 k->name, why, echo);
		else
			snprintf(ld->err, ld->errlen, "%s: %s (got '%s')", src, why, echo);
		return false;
	}
	/* verbose sets log_level: errors about the level should point at it too. */
	size_t i = (size_t)(k - keys);
	if (k->type == KT_VERBOSE)
		i = (size_t)(key_find("log_level") - keys);
	ld->src[i] = src;
	ld->src_line[i] = line;
	return true;
}

static bool loader_db(Loader *ld, const char *name, const char *value, const char *src, int line)
{
	char why[512], loc[600];
	DbEntry db;
	snprintf(loc, sizeof(loc), "%s:%d", src, line);
	if (!dbentry_parse(name, value, loc, &db, why, sizeof(why))) {
		char echo[80];
		config_echo(echo, sizeof(echo), name);
		snprintf(ld->err, ld->errlen, "%s: %s: %s", loc, echo, why);
		return false;
	}
	db.line = line;
	if (db_upsert(ld->cfg, &db) < 0) {
		dbentry_clear(&db);
		snprintf(ld->err, ld->errlen, "out of memory");
		return false;
	}
	return true;
}

/* `<id> = host=... port=...`: the peer's address, read with the [databases] parser, whose
 * host and port mean the same; PgBouncer's pool_size (its cancel connections) is accepted and
 * unused, since pgsift opens one connection per forwarded cancel. A later line of the same id
 * replaces the earlier one. */
static bool loader_peer(Loader *ld, const char *name, const char *value, const char *src, int line)
{
	char why[512], loc[600], echo[80];
	snprintf(loc, sizeof(loc), "%s:%d", src, line);
	config_echo(echo, sizeof(echo), name);
	char *end;
	errno = 0;
	long id = strtol(name, &end, 10);
	if (*end || end == name || errno || id < 1 || id > 16383) {
		snprintf(ld->err, ld->errlen, "%s: [peers]: '%s' is not a peer_id (1..16383)", loc,
			 echo);
		return false;
	}
	DbEntry db;
	if (!dbentry_parse(name, value, loc, &db, why, sizeof(why))) {
		snprintf(ld->err, ld->errlen, "%s: [peers] %s: %s", loc, echo, why);
		return false;
	}
	PeerEntry pe = {.id = (int)id, .host = db.host, .port = db.port_given ? db.port : 6432};
	db.host = NULL;
	dbentry_clear(&db);
	if (!pe.host || !pe.host[0]) {
		free(pe.host);
		snprintf(ld->err, ld->errlen,
			 "%s: [peers] %s: host= is required (an address, a host name or a Unix "
			 "socket directory)",
			 loc, echo);
		return false;
	}
	Config *cfg = ld->cfg;
	size_t at = 0;
	while (at < cfg->n_peers && cfg->peers[at].id < pe.id)
		at++;
	if (at < cfg->n_peers && cfg->peers[at].id == pe.id) {
		free(cfg->peers[at].host);
		cfg->peers[at] = pe;
		return true;
	}
	PeerEntry *grown = realloc(cfg->peers, (cfg->n_peers + 1) * sizeof(*grown));
	if (!grown) {
		free(pe.host);
		snprintf(ld->err, ld->errlen, "out of memory");
		return false;
	}
	memmove(grown + at + 1, grown + at, (cfg->n_peers - at) * sizeof(*grown));
	grown[at] = pe;
	cfg->peers = grown;
	cfg->n_peers++;
	return true;
}

static bool loader_users(Loader *ld, const char *name, const char *value, const char *src, int line)
{
	char why[512], loc[600];
	int pm, muc;
	snprintf(loc, sizeof(loc), "%s:%d", src, line);
	if (!dbentry_parse_user(value, loc, name, &pm, &muc, why, sizeof(why))) {
		char echo[80];
		config_echo(echo, sizeof(echo), name);
		snprintf(ld->err, ld->errlen, "%s: %s: %s", loc, echo, why);
		return false;
	}
	for (size_t i = 0; i < ld->n_uo; i++) {
		if (strcmp(ld->uo[i].name, name) == 0) {
			ld->uo[i].pool_mode = pm;
			ld->uo[i].max_user_connections = muc;
			return true;
		}
	}
	UserOverride *grown = realloc(ld->uo, (ld->n_uo + 1) * sizeof(*grown));
	char *dup = strdup(name);
	if (!grown || !dup) {
		if (grown)
			ld->uo = grown;
		free(dup);
		snprintf(ld->err, ld->errlen, "out of memory");
		return false;
	}
	ld->uo = grown;
	grown[ld->n_uo++] = (UserOverride){dup, pm, muc};
	return true;
}

/* --listen ADDR:PORT, [ADDR]:PORT, :PORT or PORT. */
static bool loader_listen_flag(Loader *ld, const char *value, const char *label)
{
	char addr[256];
	int port;
	long long p;
	if (config_parse_int(value, 1, 65535, &p)) {
		port = (int)p;
		addr[0] = '\0';
	} else if (!parse_hostport(value, addr, sizeof(addr), &port)) {
		char echo[80];
		config_echo(echo, sizeof(echo), value);
		snprintf(ld->err, ld->errlen,
			 "%s: must be ADDR:PORT, :PORT or PORT with a port between 1 and 65535 "
			 "(got '%s')",
			 label, echo);
		return false;
	}
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (!loader_set(ld, key_find("listen_port"), portstr, label, 0, false))
		return false;
	if (addr[0] && !loader_set(ld, key_find("listen_addr"), addr, label, 0, false))
		return false;
	return true;
}

/* --upstream / PGSIFT_UPSTREAM: replaces the `*` entry. */
static bool loader_upstream(Loader *ld, const char *value, const char *label)
{
	char why[512];
	DbEntry db;
	if (!dbentry_parse("*", value, label, &db, why, sizeof(why))) {
		snprintf(ld->err, ld->errlen, "%s: %s", label, why);
		return false;
	}
	if (db_upsert(ld->cfg, &db) < 0) {
		dbentry_clear(&db);
		snprintf(ld->err, ld->errlen, "out of memory");
		return false;
	}
	return true;
}

/* Reads auth_file (whoever named it last) and merges the [users] overrides into it. */
static bool loader_auth_file(Loader *ld)
{
	Config *cfg = ld->cfg;
	if (cfg->auth_file) {
		char sub[1024];
		if (!userlist_load(cfg->auth_file, &cfg->users, &cfg->n_users, sub, sizeof(sub))) {
			size_t i = (size_t)(key_find("auth_file") - keys);
			if (ld->src[i] && ld->src_line[i] > 0 &&
			    strncmp(sub, "cannot open", 11) == 0)
				snprintf(ld->err, ld->errlen, "%s:%d: auth_file: %s", ld->src[i],
					 ld->src_line[i], sub);
			else if (ld->src[i] && ld->src_line[i] == 0 &&
				 strncmp(sub, "cannot", 6) == 0)
				snprintf(ld->err, ld->errlen, "%s: %s", ld->src[i], sub);
			else
				snprintf(ld->err, ld->errlen, "%s", sub);
			return false;
		}
	}
	for (size_t i = 0; i < ld->n_uo; i++) {
		UserEntry *u = (UserEntry *)user_find_any(cfg, ld->uo[i].name);
		if (!u) {
			UserEntry *grown = realloc(cfg->users, (cfg->n_users + 1) * sizeof(*grown));
			if (!grown) {
				snprintf(ld->err, ld->errlen, "out of memory");
				return false;
			}
			cfg->users = grown;
			u = &grown[cfg->n_users];
			*u = (UserEntry){.name = ld->uo[i].name, .kind = SECRET_NONE};
			ld->uo[i].name = NULL;
			cfg->n_users++;
		}
		u->pool_mode = ld->uo[i].pool_mode;
		u->max_user_connections = ld->uo[i].max_user_connections;
	}
	return true;
}

/* Where key `name` was set, for an error: "FILE:LINE: name: ", "--flag: " or "name: ". */
static void loader_where(const Loader *ld, const char *name, char *buf, size_t len)
{
	size_t i = (size_t)(key_find(name) - keys);
	if (ld->src[i] && ld->src_line[i] > 0)
		snprintf(buf, len, "%s:%d: %s: ", ld->src[i], ld->src_line[i], name);
	else if (ld->src[i])
		snprintf(buf, len, "%s: ", ld->src[i]);
	else
		snprintf(buf, len, "%s: ", name);
}

/* Where passwords come from: auth_file, or auth_user's auth_query; hba needs its file, cert
 * needs TLS with a CA to check client certificates against. */
static bool validate_auth(Loader *ld, Config *cfg)
{
	char where[700];
	bool passwords = cfg->auth_type != AUTH_TRUST && cfg->auth_type != AUTH_CERT;
	if (cfg->auth_type == AUTH_HBA && !cfg->auth_hba_file) {
		loader_where(ld, "auth_type", where, sizeof(where));
		snprintf(
			ld->err, ld->errlen,
			"%sauth_type = hba needs auth_hba_file (PgBouncer's subset of pg_hba.conf)",
			where);
		return false;
	}
	if (cfg->auth_type == AUTH_CERT &&
	    (cfg->client_tls_sslmode == TLS_DISABLE || !cfg->client_tls_ca_file)) {
		loader_where(ld, "auth_type", where, sizeof(where));
		snprintf(ld->err, ld->errlen,
			 "%sauth_type = cert needs client_tls_sslmode (not disable) and "
			 "client_tls_ca_file to verify client certificates",
			 where);
		return false;
	}
	if (passwords && !cfg->auth_file && !cfg->auth_user) {
		loader_where(ld, "auth_type", where, sizeof(where));
		snprintf(ld->err, ld->errlen,
			 "%sauth_type = %s needs auth_file (users and passwords in PgBouncer's "
			 "userlist.txt format) or auth_user (secrets read with auth_query)",
			 where, auth_type_str(cfg->auth_type));
		return false;
	}
	size_t n_auth = 0;
	for (size_t i = 0; i < cfg->n_users; i++)
		n_auth += cfg->users[i].secret != NULL;
	if (passwords && cfg->auth_file && n_auth == 0 && !cfg->auth_user)
		log_warn("auth_file '%s' lists no users: every login will fail", cfg->auth_file);
	return true;
}

/* TLS towards clients needs a key and a certificate; verifying clients needs a CA. The files
 * themselves are read by the proxy (which keeps the old ones when a reload brings bad ones). */
static bool validate_tls(Loader *ld, Config *cfg)
{
	char where[700];
	if (cfg->client_tls_sslmode != TLS_DISABLE &&
	    (!cfg->client_tls_key_file || !cfg->client_tls_cert_file)) {
		loader_where(ld, "client_tls_sslmode", where, sizeof(where));
		snprintf(ld->err, ld->errlen,
			 "%sclient_tls_sslmode = %s needs client_tls_key_file and "
			 "client_tls_cert_file",
			 where, tls_mode_str(cfg->client_tls_sslmode));
		return false;
	}
	if (cfg->client_tls_sslmode >= TLS_VERIFY_CA && !cfg->client_tls_ca_file) {
		loader_where(ld, "client_tls_sslmode", where, sizeof(where));
		snprintf(ld->err, ld->errlen,
			 "%sclient_tls_sslmode = %s needs client_tls_ca_file (the CA that signs "
			 "client certificates)",
			 where, tls_mode_str(cfg->client_tls_sslmode));
		return false;
	}
	if (!!cfg->server_tls_key_file != !!cfg->server_tls_cert_file) {
		loader_where(ld,
			     cfg->server_tls_key_file ? "server_tls_key_file" :
							"server_tls_cert_file",
			     where, sizeof(where));
		snprintf(ld->err, ld->errlen,
			 "%sserver_tls_key_file and server_tls_cert_file go together (a client "
			 "certificate for the servers)",
			 where);
		return false;
	}
	return true;
}

static bool loader_validate(Loader *ld)
{
	Config *cfg = ld->cfg;
	char where[700];
	bool has_tcp = false;

	/* Every listen address, for the trust check and to reject empty items. */
	char *addrs = strdup(cfg->listen_addr);
	if (!addrs) {
		snprintf(ld->err, ld->errlen, "out of memory");
		return false;
	}
	char *save = NULL;
	for (char *a = strtok_r(addrs, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		a = config_trim(a);
		if (!*a)
			continue;
		has_tcp = true;
		if (cfg->auth_type == AUTH_TRUST && !is_loopback(a)) {
			loader_where(ld, "listen_addr", where, sizeof(where));
			snprintf(
				ld->err, ld->errlen,
				"%sauth_type = trust is only allowed on loopback addresses or a "
				"Unix socket; set auth_type (md5 or scram-sha-256) to listen on %s",
				where, a);
			free(addrs);
			return false;
		}
	}
	free(addrs);
	if (!has_tcp && !cfg->unix_socket_dir[0]) {
		loader_where(ld, "listen_addr", where, sizeof(where));
		snprintf(ld->err, ld->errlen,
			 "%snothing to listen on: listen_addr and unix_socket_dir are both empty",
			 where);
		return false;
	}
	if (!validate_auth(ld, cfg) || !validate_tls(ld, cfg))
		return false;
	if (cfg->min_pool_size > cfg->default_pool_size) {
		loader_where(ld, "min_pool_size", where, sizeof(where));
		snprintf(ld->err, ld->errlen,
			 "%smin_pool_size (%d) is larger than default_pool_size (%d)", where,
			 cfg->min_pool_size, cfg->default_pool_size);
		return false;
	}
	if (!validate_stats_dsn(ld, cfg))
		return false;
	if (cfg->slow_query_ms >= 0 && !cfg->slow_query_log)
		log_warn("slow_query_ms is set but slow_query_log is not: slow statements are "
			 "counted but not written anywhere");
	return validate_process(ld, cfg);
}

/* stats_dsn_schema is written into SQL as a bare identifier (CREATE SCHEMA S, S.table), so it
 * must be one PostgreSQL accepts unquoted and keeps as written: lower-case letters, digits and
 * underscores, not starting with a digit, at most 63 bytes. stats_instance is part of a key and
 * must not be blank. */
static bool validate_stats_dsn(Loader *ld, Config *cfg)
{
	char where[700];
	const char *s = cfg->stats_dsn_schema;
	size_t n = strlen(s);
	bool ok = n > 0 && n <= 63 && !isdigit((unsigned char)s[0]);
	for (size_t i = 0; ok && i < n; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || isdigit((unsigned char)s[i]) || s[i] == '_';
	if (!ok) {
		loader_where(ld, "stats_dsn_schema", where, sizeof(where));
		snprintf(ld->err, ld->errlen,
			 "%sstats_dsn_schema = '%s' is not a plain identifier: use lower-case "
			 "letters, digits and underscores (not starting with a digit), at most 63 "
			 "bytes",
			 where, s);
		return false;
	}
	if (cfg->stats_instance && !*config_trim(cfg->stats_instance)) {
		loader_where(ld, "stats_instance", where, sizeof(where));
		snprintf(ld->err, ld->errlen, "%sstats_instance is blank", where);
		return false;
	}
	return true;
}

/* The names the process side looks up (a user to become, a group for the socket) must exist
 * now, so that the error names the line; and the settings pgsift accepts but cannot follow all
 * the way say so once. */
static bool validate_process(Loader *ld, Config *cfg)
{
	char where[700];
	if (cfg->user && !getpwnam(cfg->user)) {
		loader_where(ld, "user", where, sizeof(where));
		snprintf(ld->err, ld->errlen, "%sno such user '%s'", where, cfg->user);
		return false;
	}
	if (cfg->unix_socket_group && !getgrnam(cfg->unix_socket_group)) {
		loader_where(ld, "unix_socket_group", where, sizeof(where));
		snprintf(ld->err, ld->errlen, "%sno such group '%s'", where,
			 cfg->unix_socket_group);
		return false;
	}
	if (cfg->resolv_conf)
		log_warn("resolv_conf = %s: pgsift resolves host names with the system resolver "
			 "(getaddrinfo and /etc/resolv.conf) and does not read this file",
			 cfg->resolv_conf);
	if (cfg->scram_iterations != 4096)
		log_warn("scram_iterations = %d: pgsift derives SCRAM secrets for plain-text "
			 "passwords with 4096 iterations",
			 cfg->scram_iterations);
	if (!cfg->peer_id && cfg->n_peers)
		log_warn("[peers] is set but peer_id = 0: peering is off, cancel requests reach "
			 "only this process");
	if (cfg->peer_id && !config_find_peer(cfg, cfg->peer_id))
		log_warn("peer_id = %d is not in [peers]: the other processes cannot forward this "
			 "one's cancel requests to it",
			 cfg->peer_id);
	return true;
}

static const char *loader_intern(Loader *ld, const char *s)
{
	for (size_t i = 0; i < ld->n_names; i++)
		if (strcmp(ld->names[i], s) == 0)
			return ld->names[i];
	char **grown = realloc(ld->names, (ld->n_names + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	ld->names = grown;
	grown[ld->n_names] = strdup(s);
	if (!grown[ld->n_names])
		return NULL;
	return grown[ld->n_names++];
}

static void loader_warn_once(Loader *ld, const char *key, const char *fmt, ...)
{
	for (size_t i = 0; i < ld->n_warned; i++)
		if (strcasecmp(ld->warned[i], key) == 0)
			return;
	char **grown = realloc(ld->warned, (ld->n_warned + 1) * sizeof(*grown));
	if (grown) {
		ld->warned = grown;
		grown[ld->n_warned] = strdup(key);
		if (grown[ld->n_warned])
			ld->n_warned++;
	}
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LL_WARNING, NULL, fmt, ap);
	va_end(ap);
}

static void loader_free(Loader *ld)
{
	config_free(ld->cfg);
	for (size_t i = 0; i < ld->n_names; i++)
		free(ld->names[i]);
	free(ld->names);
	for (size_t i = 0; i < ld->n_warned; i++)
		free(ld->warned[i]);
	free(ld->warned);
	for (size_t i = 0; i < ld->n_uo; i++)
		free(ld->uo[i].name);
	free(ld->uo);
}

/* ---------------------------------------------------------------------------------------- */

static bool is_unsupported_key(const char *key)
{
	for (size_t i = 0; unsupported_keys[i]; i++)
		if (strcasecmp(unsupported_keys[i], key) == 0)
			return true;
	for (size_t i = 0; unsupported_prefixes[i]; i++)
		if (strncasecmp(unsupported_prefixes[i], key, strlen(unsupported_prefixes[i])) == 0)
			return true;
	return false;
}

/* 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and the name localhost. */
static bool is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	size_t n = strlen(addr);
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, addr + 1, n - 2);
		buf[n - 2] = '\0';
		addr = buf;
	}
	if (strcasecmp(addr, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return false;
}

/*
 * A time: a non-negative number (fractions allowed) with an optional unit (us, ms, s, min, m,
 * h, d, w); a bare number is in unit_ms milliseconds. "-1" is accepted when min is -1.
 * A positive value below 1 ms rounds up to 1 ms, so that it never turns into "disabled".
 */
static bool parse_time_ms(const char *s, double unit_ms, long long min, long long max,
			  long long *out)
{
	static const struct {
		const char *name;
		double ms;
	} units[] = {{"us", 0.001},  {"ms", 1},	      {"s", 1000},
		     {"sec", 1000},  {"min", 60000},  {"m", 60000},
		     {"h", 3600000}, {"d", 86400000}, {"w", 604800000}};
	char *end;
	while (isspace((unsigned char)*s))
		s++;
	if (min < 0 && strcmp(s, "-1") == 0) {
		*out = -1;
		return true;
	}
	if (!*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || !isfinite(v) || v < 0)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	double unit = unit_ms;
	if (*end) {
		char u[8];
		size_t n = strlen(end);
		while (n && isspace((unsigned char)end[n - 1]))
			n--;
		if (n >= sizeof(u))
			return false;
		memcpy(u, end, n);
		u[n] = '\0';
		size_t i;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcasecmp(u, units[i].name) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return false;
		unit = units[i].ms;
	}
	double ms = v * unit;
	if (ms > (double)max)
		return false;
	long long r = (long long)(ms + 0.5);
	if (ms > 0 && r == 0)
		r = 1;
	if (r < min)
		return false;
	*out = r;
	return true;
}

/* Bytes, with an optional B, kB, MB or GB (1024-based, as PostgreSQL's units). */
static bool parse_size(const char *s, long long min, long long max, long long *out)
{
	char *end;
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	long long mult = 1;
	if (*end) {
		char *u = end;
		size_t n = strlen(u);
		while (n && isspace((unsigned char)u[n - 1]))
			n--;
		if (n == 1 && (*u == 'B' || *u == 'b'))
			mult = 1;
		else if ((n == 2 && !strncasecmp(u, "kB", 2)) || (n == 1 && (*u | 32) == 'k'))
			mult = 1024;
		else if ((n == 2 && !strncasecmp(u, "MB", 2)) || (n == 1 && (*u | 32) == 'm'))
			mult = 1024 * 1024;
		else if ((n == 2 && !strncasecmp(u, "GB", 2)) || (n == 1 && (*u | 32) == 'g'))
			mult = 1024LL * 1024 * 1024;
		else
			return false;
	}
	if (v > LLONG_MAX / mult)
		return false;
	v *= mult;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "on", "true", "yes"};
	static const char *const no[] = {"0", "off", "false", "no"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* "ADDR:PORT", "[V6]:PORT" or ":PORT" (addr ""). */
static bool parse_hostport(const char *s, char *addr, size_t addrlen, int *port)
{
	const char *colon;
	const char *a = s;
	size_t alen;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		a = s + 1;
		alen = (size_t)(close - a);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return false; /* no port, or a bare IPv6 address: use [ADDR]:PORT */
		alen = (size_t)(colon - s);
	}
	long long p;
	if (alen >= addrlen || !config_parse_int(colon + 1, 1, 65535, &p))
		return false;
	for (size_t i = 0; i < alen; i++)
		if (!isgraph((unsigned char)a[i]))
			return false;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	*port = (int)p;
	return true;
}

/* "a, b,,c" -> {"a","b","c",NULL}; always a list, possibly empty. */
static bool parse_list(const char *s, char ***out)
{
	size_t cap = 1;
	for (const char *p = s; *p; p++)
		cap += *p == ',';
	char **list = calloc(cap + 1, sizeof(*list));
	char *copy = strdup(s);
	if (!list || !copy)
		goto nomem;
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t = config_trim(t);
		if (!*t)
			continue;
		list[n] = strdup(t);
		if (!list[n])
			goto nomem;
		n++;
	}
	free(copy);
	*out = list;
	return true;
nomem:
	free(copy);
	list_free(list);
	return false;
}

static void list_free(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

/* Adds db, replacing an entry of the same name (PgBouncer: the later line wins). */
static int db_upsert(Config *cfg, DbEntry *db)
{
	for (size_t i = 0; i < cfg->n_dbs; i++) {
		if (strcmp(cfg->dbs[i].name, db->name) == 0) {
			dbentry_clear(&cfg->dbs[i]);
			cfg->dbs[i] = *db;
			return 0;
		}
	}
	DbEntry *grown = realloc(cfg->dbs, (cfg->n_dbs + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	cfg->dbs = grown;
	grown[cfg->n_dbs++] = *db;
	return 0;
}
