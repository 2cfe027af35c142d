/*
 * config: the ini file, the command line and the environment turned into one immutable Config.
 * Every default lives here. The ini format is PgBouncer's (pgbouncer.ini): the main section may
 * be called [pgsift] or [pgbouncer], keys use PgBouncer's names where PgBouncer has the setting,
 * [databases] maps a database name to a connection string (libpq key=value or URL, plus
 * PgBouncer's own keys such as pool_size and pool_mode), `*` is the fallback entry, and [users]
 * holds per-user pool_mode overrides. auth_file is read in PgBouncer's userlist.txt format.
 *
 * Precedence: defaults < file < environment (PGSIFT_<KEY IN UPPER CASE>, e.g.
 * PGSIFT_LISTEN_PORT, and PGSIFT_UPSTREAM) < command line. Unknown keys in the file give one
 * warning each; every error names the file, the line and the key.
 *
 * A Config is never changed after config_load() returns it; a reload builds a new one, and the
 * old one is freed by whoever held it when nothing points into it any more.
 */
#ifndef PGSIFT_CONFIG_H
#define PGSIFT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/log.h"

typedef enum { POOL_SESSION = 0, POOL_TRANSACTION, POOL_STATEMENT } PoolMode;
typedef enum { AUTH_TRUST = 0, AUTH_PLAIN, AUTH_MD5, AUTH_SCRAM, AUTH_CERT, AUTH_HBA } AuthType;
/* libpq's and PgBouncer's sslmode, weakest first. */
typedef enum {
	TLS_DISABLE = 0,
	TLS_ALLOW,
	TLS_PREFER,
	TLS_REQUIRE,
	TLS_VERIFY_CA,
	TLS_VERIFY_FULL,
} TlsMode;

/* PgBouncer 1.24's safe auth_query (an expired password is no password), schema-qualified so that
 * the auth user's search_path cannot redirect it; pgsift also runs it with search_path set to
 * pg_catalog. */
#define AUTH_QUERY_DEFAULT                                                                       \
	"SELECT rolname, CASE WHEN rolvaliduntil < pg_catalog.now() THEN NULL ELSE rolpassword " \
	"END FROM pg_catalog.pg_authid WHERE rolname = $1 AND rolcanlogin"

const char *pool_mode_str(PoolMode mode);
const char *auth_type_str(AuthType type);
const char *tls_mode_str(TlsMode mode);
/* "disable" ... "verify-full" (case-insensitive) into *mode; false for anything else. */
bool tls_mode_parse(const char *s, TlsMode *mode);

/* One entry of [databases] (or the --upstream shorthand, which is the `*` entry). */
typedef struct DbEntry {
	char *name; /* the name clients ask for; "*" for the fallback (owned) */
	char *host; /* host name, IP, or a Unix socket directory (starts with '/'); NULL = "/var/run/postgresql" */
	int port;	     /* default 5432 */
	bool port_given;     /* port= was written ([peers] defaults to 6432 instead) */
	char *dbname;	     /* database on the server; NULL = the name the client asked for */
	char *user;	     /* forced server user; NULL = the client's user */
	char *password;	     /* password towards the server; NULL = from auth_file for that user */
	char *connect_query; /* PgBouncer's connect_query, or NULL */
	char *application_name; /* PgBouncer's application_name key, or NULL */
	char *client_encoding;	/* PgBouncer's client_encoding key (sent to the server), or NULL */
	char *datestyle;	/* PgBouncer's datestyle key, or NULL */
	char *timezone;		/* PgBouncer's timezone key, or NULL */
	int pool_size;		/* -1 = default_pool_size */
	int min_pool_size;	/* -1 = min_pool_size */
	int reserve_pool;	/* -1 = reserve_pool_size */
	int max_db_connections; /* 0 = unlimited */
	int pool_mode;		/* -1 = the global pool_mode, else a PoolMode */
	int sslmode;		/* libpq's sslmode key: -1 = server_tls_sslmode, else a TlsMode */
	char *auth_user;	/* PgBouncer's per-database auth_user, or NULL */
	char *conninfo;		/* the text as written, for SHOW DATABASES and logs (owned) */
	int line;		/* where it was written, 0 for the command line */
} DbEntry;

/* One line of [peers]: `<peer_id> = host=... port=...`, as PgBouncer 1.19. */
typedef struct PeerEntry {
	int id;	    /* 1..16383 */
	char *host; /* IP address, host name, or a Unix socket directory (starts with '/') (owned) */
	int port;   /* default 6432 */
} PeerEntry;

/* What kind of secret an auth_file line holds; SECRET_NONE for a user known only from [users]. */
typedef enum { SECRET_NONE = 0, SECRET_PLAIN, SECRET_MD5, SECRET_SCRAM } SecretKind;

/* One line of auth_file: "user" "secret". The secret is plain text, "md5<32 hex>" or a SCRAM
 * secret "SCRAM-SHA-256$<iter>:<salt>$<storedkey>:<serverkey>", kept exactly as written.
 * A user named in [users] but not in auth_file is in the array too, with secret NULL and kind
 * SECRET_NONE; config_find_user() never returns such an entry. */
typedef struct UserEntry {
	char *name;   /* owned */
	char *secret; /* owned; NULL only for a [users]-only entry */
	SecretKind kind;
	int pool_mode;		  /* from [users], -1 = not set */
	int max_user_connections; /* from [users], -1 = max_user_connections */
} UserEntry;

typedef struct Config {
	char *config_file; /* PgBouncer's conffile: -c's file, or what the file's conffile says; the
			    * next reload reads it. NULL when started without -c (owned) */

	/* listening */
	char *listen_addr; /* "127.0.0.1" by default; "*" = every address; may list several, comma separated */
	int listen_port;	 /* 6432 */
	char *unix_socket_dir;	 /* "/tmp" like PgBouncer; "" = no Unix socket */
	int unix_socket_mode;	 /* 0777 */
	int listen_backlog;	 /* 128 */
	char *unix_socket_group; /* the socket's group (chown); NULL = the process's */
	bool so_reuseport;	 /* SO_REUSEPORT on TCP listeners; false */
	int peer_id;		 /* this process in its [peers] group, 1..16383; 0 = no peering */

	/* TCP options (PgBouncer's tcp_*), applied by proxy/sockopt.c; 0 = the kernel's default */
	int tcp_defer_accept;  /* 1 (Linux): TCP_DEFER_ACCEPT of 45 s on listeners; 0 = off */
	int tcp_socket_buffer; /* SO_SNDBUF and SO_RCVBUF, bytes */
	bool tcp_keepalive;    /* true: SO_KEEPALIVE */
	int tcp_keepcnt;       /* probes */
	int tcp_keepidle;      /* seconds */
	int tcp_keepintvl;     /* seconds */
	int tcp_user_timeout;  /* milliseconds */
	int sbuf_loopcnt;      /* 5; accepted, see README (libuv bounds reads per callback) */

	/* authentication */
	AuthType auth_type; /* trust; refused on non-loopback addresses (see config_validate) */
	char *auth_file;    /* NULL = none */
	UserEntry *users;
	size_t n_users;
	char **admin_users;  /* NULL-terminated list */
	char **stats_users;  /* NULL-terminated list */
	char *auth_hba_file; /* pg_hba.conf subset for auth_type = hba; NULL = none */
	char *auth_user;     /* looks up unknown users' secrets with auth_query; NULL = none */
	char *auth_query;    /* PgBouncer's safe default (rolvaliduntil honoured) */
	char *auth_dbname;   /* where auth_query runs; NULL = the client's database */

	/* TLS towards clients (PgBouncer's client_tls_* keys) */
	TlsMode client_tls_sslmode; /* disable */
	char *client_tls_key_file;  /* NULL = none */
	char *client_tls_cert_file;
	char *client_tls_ca_file;   /* verifies client certificates (verify-ca, verify-full) */
	char *client_tls_protocols; /* "secure" = tlsv1.2,tlsv1.3 */
	char *client_tls_ciphers;   /* TLS 1.2 cipher list; "default" */
	char *client_tls13_ciphers; /* TLS 1.3 cipher suites; NULL = OpenSSL's */
	char *client_tls_dheparams; /* "auto" (OpenSSL 3's built-in groups), "none", "legacy" */
	char *client_tls_ecdhcurve; /* "auto" or a group list such as "prime256v1" */
	/* TLS towards servers (server_tls_*) */
	TlsMode server_tls_sslmode; /* prefer, as libpq and PgBouncer 1.21+ */
	char *server_tls_key_file;  /* client certificate for the server; NULL = none */
	char *server_tls_cert_file;
	char *server_tls_ca_file; /* NULL = the system's trust store */
	char *server_tls_protocols;
	char *server_tls_ciphers;
	char *server_tls13_ciphers;

	/* pooling */
	PoolMode pool_mode;		  /* session */
	int default_pool_size;		  /* 20 */
	int min_pool_size;		  /* 0 */
	int reserve_pool_size;		  /* 0 */
	int max_client_conn;		  /* 100 */
	int max_db_connections;		  /* 0 = unlimited */
	int max_user_connections;	  /* 0 = unlimited */
	char *server_reset_query;	  /* "DISCARD ALL" */
	bool server_reset_query_always;	  /* false: only in session pooling, like PgBouncer */
	char *server_check_query;	  /* "select 1" */
	char **ignore_startup_parameters; /* NULL-terminated list */
	int max_prepared_statements;	  /* 200 */
	int max_packet_size;		  /* 2147483647 like PgBouncer; bytes */
	int pkt_buf;			  /* 4096; read buffer size in bytes */
	bool application_name_add_host;	  /* false */
	bool server_round_robin;	  /* false: the last released idle server first (LIFO) */
	bool server_fast_close;		  /* false */
	bool disable_pqexec;		  /* false: Query (simple protocol) messages are refused */
	int max_db_client_connections;	  /* 0 = unlimited; clients per database */
	int max_user_client_connections;  /* 0 = unlimited; clients per user */
	char **track_extra_parameters;	  /* "IntervalStyle"; pgsift tracks every parameter */
	int scram_iterations;		  /* 4096 */

	/* timeouts, all in milliseconds, 0 = disabled (the ini file gives PgBouncer's seconds) */
	uint64_t query_timeout;
	uint64_t query_wait_timeout; /* 120 s */
	uint64_t idle_transaction_timeout;
	uint64_t transaction_timeout;
	uint64_t client_idle_timeout;
	uint64_t client_login_timeout;	 /* 60 s */
	uint64_t server_connect_timeout; /* 15 s */
	uint64_t server_idle_timeout;	 /* 600 s */
	uint64_t server_lifetime;	 /* 3600 s */
	uint64_t server_login_retry;	 /* 15 s */
	uint64_t server_check_delay;	 /* 30 s */
	uint64_t shutdown_wait_timeout;	 /* 0 = wait for ever, like PgBouncer */
	uint64_t reserve_pool_timeout;	 /* 5 s: a client waiting this long may use the reserve */
	uint64_t query_wait_notify;	 /* 5 s: a waiting client gets a NOTICE; 0 = never */
	uint64_t suspend_timeout;	 /* 10 s; accepted (no SUSPEND or online restart) */
	uint64_t autodb_idle_timeout;	 /* 3600 s; accepted (pools are kept) */
	uint64_t cancel_wait_timeout;	 /* 10 s; accepted (cancels are sent at once) */
	uint64_t dns_max_ttl;		 /* 15 s; names are resolved at every connect */
	uint64_t dns_nxdomain_ttl;	 /* 15 s; failures are not cached either */
	uint64_t dns_zone_check_period;	 /* 0; accepted (no zone checks needed) */
	char *resolv_conf;		 /* NULL; the system resolver's file is used */

	/* process */
	char *logfile; /* NULL = stderr only */
	char *pidfile; /* NULL = none */
	LogLevel log_level;
	bool log_connections;	 /* true */
	bool log_disconnections; /* true */
	bool log_pooler_errors;	 /* true: errors pgsift sends to clients are logged */
	bool log_stats;		 /* true: one "stats:" line per stats_period */
	uint64_t stats_period;	 /* ms, 60 s */
	bool syslog;		 /* false: log lines also go to syslog(3) */
	char *syslog_ident;	 /* "pgsift" (PgBouncer: the program name) */
	char *syslog_facility;	 /* "daemon"; auth, authpriv, daemon, user, local0..local7 */
	char *user;		 /* drop root privileges to this user after start; NULL = stay */
	char *service_name;	 /* "pgsift"; Windows service name in PgBouncer, job_name alias */

	/* pgsift's own: statistics, slow-query log, metrics, advisor */
	bool track_statements;		/* true: every statement goes to the statistics */
	int64_t slow_query_ms;		/* -1 = slow-query log off */
	char *slow_query_log;		/* file; NULL = off */
	int slow_query_log_max_per_sec; /* 0 = unlimited */
	bool log_parameters;		/* false */
	char *stats_file;		/* NULL = statistics kept in memory only */
	uint64_t stats_flush_interval;	/* ms, 60 s */
	uint64_t stats_retention;	/* ms, 14 days */
	/* The fleet statistics store (stats/store_pg.c, docs in the README's "Fleet statistics") */
	char *stats_dsn;	/* libpq connection string; NULL = off */
	char *stats_dsn_schema; /* "pgsift": a plain lower-case identifier */
	char *stats_instance;	/* NULL = the host name */
	int stats_dsn_backlog;	/* 100000 statement-hour rows held while the store is down */
	int max_fingerprints;	/* 10000 */
	char *metrics_listen;	/* "ADDR:PORT" or NULL = off */
	/* Users (from auth_file) who may open the dashboard on metrics_listen with HTTP basic
	 * auth; NULL-terminated list. Empty: the dashboard is served without a password on a
	 * loopback metrics_listen and not at all elsewhere. */
	char **dashboard_users;
	size_t parser_cache_bytes;	/* 64 MiB; the ini key is parser_cache_size */
	int query_text_max;		/* 4096: normalized text is cut there */
	int stats_queue_size;		/* 65536 events */
	int64_t advisor_min_table_rows; /* 10000 */
	int advisor_min_saving_pct;	/* 30 */

	/* [databases] */
	DbEntry *dbs;
	size_t n_dbs;

	/* [peers]: where the other processes of a so_reuseport group (or other hosts) take the
	 * CancelRequests that name their clients (proxy/cancel.c) */
	PeerEntry *peers; /* by id, ascending */
	size_t n_peers;
} Config;

/* What the command line said; fields left NULL / -1 were not given. Filled by config_parse_args. */
typedef struct ConfigArgs {
	const char *config_file;
	const char *listen;   /* ADDR:PORT, [V6]:PORT, :PORT or PORT */
	const char *upstream; /* libpq URL or key=value string */
	const char *pool_mode;
	const char *pool_size;
	const char *max_client_conn;
	const char *auth_type;
	const char *auth_file;
	const char *admin_users;
	const char *query_timeout; /* ms */
	const char *slow_ms;
	const char *slow_log;
	const char *stats_file;
	const char *metrics_listen;
	const char *log_level;
	bool takeover; /* --takeover / -R: take the listening sockets of the running process */
	bool help;
	bool version;
} ConfigArgs;

/*
 * Parses the proxy's command line (README.md, "Running it": -c FILE, --listen, --upstream, ...).
 * argv[0] is the program name. Returns false and a message in err on an unknown flag or a missing
 * value.
 * The strings in *out point into argv.
 */
bool config_parse_args(int argc, char **argv, ConfigArgs *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The --help text. */
const char *config_usage(void);

/*
 * Builds a Config from defaults, the file named by args->config_file (if any), the environment
 * and the arguments, then validates it. Returns NULL with a message in err ("FILE:LINE: key: why
 * (got 'value')"; "PGSIFT_X: ..." or "--flag: ..." when the environment or a flag set it) on any
 * error. Warnings (unknown keys, settings pgsift does not have) are logged with log_warn, once
 * per key. Environment values use the file's units (PGSIFT_QUERY_TIMEOUT=2 is 2 s), while
 * --query-timeout and --slow-ms take milliseconds. Times accept a unit (500ms, 5min, 24h, 14d)
 * and sizes kB/MB/GB. auth_file is read here, after every source had its say.
 * A relative %include is relative to the including file.
 */
Config *config_load(const ConfigArgs *args, char *err, size_t errlen);

/* Frees a Config and everything it owns. NULL is allowed. */
void config_free(Config *cfg);

/* The [databases] entry for a client's database name: exact match, else `*`, else NULL. */
const DbEntry *config_find_db(const Config *cfg, const char *dbname);
/* The [peers] entry of that id, or NULL. */
const PeerEntry *config_find_peer(const Config *cfg, int id);

/* The auth_file entry for a user (secret never NULL), or NULL. */
const UserEntry *config_find_user(const Config *cfg, const char *name);

/* True when name is in a NULL-terminated list such as admin_users. */
bool config_list_has(char *const *list, const char *name);

/*
 * The effective pool mode / size for a database entry and user. Pool mode follows PgBouncer:
 * the user's [users] pool_mode, else the database's pool_mode, else the global pool_mode.
 * db may be NULL (then only the user and the global setting count).
 */
PoolMode config_pool_mode(const Config *cfg, const DbEntry *db, const char *user);
int config_pool_size(const Config *cfg, const DbEntry *db);

/*
 * SHOW CONFIG support: calls fn once per setting, with PgBouncer's key name, the current value
 * as text, the default as text and whether it can change on reload ("yes"/"no").
 */
typedef void (*ConfigVisitFn)(void *arg, const char *key, const char *value, const char *dflt,
			      bool changeable);
void config_visit(const Config *cfg, ConfigVisitFn fn, void *arg);

#endif
