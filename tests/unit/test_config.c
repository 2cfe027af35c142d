/*
 * test_config: config/ against real files written to a temporary directory: a PgBouncer-style
 * pgbouncer.ini, the stock /etc/pgbouncer/pgbouncer.ini when installed, userlist.txt files,
 * the environment and the command line, and every error a user can make, with the exact
 * message they will read. Warnings are checked by pointing the real logger at a file.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

extern char **environ;

static char tmpdir[256];
static char logpath[512];
static char errbuf[1024];

/* ---------------------------------------------------------------------------------------- */

static const char *tpath(const char *name)
{
	static char bufs[8][512];
	static int next;
	char *b = bufs[next++ % 8];
	snprintf(b, 512, "%s/%s", tmpdir, name);
	return b;
}

static const char *write_file(const char *name, const char *content)
{
	const char *p = tpath(name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return p;
}

static void write_bytes(const char *name, const void *data, size_t n)
{
	FILE *f = fopen(tpath(name), "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

/* Parses a NULL-terminated argument list (without argv[0]) and loads; errbuf gets the error. */
static Config *load_argv(const char *first, ...)
{
	char *argv[32] = {"pgsift"};
	int argc = 1;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	ConfigArgs args;
	errbuf[0] = '\0';
	if (!config_parse_args(argc, argv, &args, errbuf, sizeof(errbuf)))
		return NULL;
	return config_load(&args, errbuf, sizeof(errbuf));
}

/* Loads an ini text written to a file named name; the error is in errbuf. */
static Config *load_ini(const char *name, const char *text)
{
	return load_argv("-c", write_file(name, text), NULL);
}

static void expect_error(const char *name, const char *text, const char *expected_fmt)
{
	char expected[1024];
	snprintf(expected, sizeof(expected), expected_fmt, tpath(name));
	Config *cfg = load_ini(name, text);
	if (cfg)
		fail_msg("loaded, expected error: %s", expected);
	assert_string_equal(errbuf, expected);
}

static void log_reset(void)
{
	assert_int_equal(truncate(logpath, 0), 0);
}

/* The warnings logged since log_reset(), one "WARNING <text>" per line without timestamps. */
static char *log_read(void)
{
	static char out[65536];
	FILE *f = fopen(logpath, "r");
	assert_non_null(f);
	char line[4096];
	size_t n = 0;
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		char *w = strstr(line, "WARNING ");
		if (w && n + strlen(w) < sizeof(out))
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%s", w + 8);
	}
	fclose(f);
	return out;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* ---------------------------------------------------------------------------------------- */

static void test_config_defaults(void **state)
{
	(void)state;
	Config *cfg = config_load(NULL, errbuf, sizeof(errbuf));
	assert_non_null(cfg);
	assert_null(cfg->config_file);
	assert_string_equal(cfg->listen_addr, "127.0.0.1");
	assert_int_equal(cfg->listen_port, 6432);
	assert_string_equal(cfg->unix_socket_dir, "/tmp");
	assert_int_equal(cfg->unix_socket_mode, 0777);
	assert_int_equal(cfg->listen_backlog, 128);
	assert_int_equal(cfg->auth_type, AUTH_TRUST);
	assert_null(cfg->auth_file);
	assert_int_equal(cfg->n_users, 0);
	assert_non_null(cfg->admin_users);
	assert_null(cfg->admin_users[0]);
	assert_null(cfg->stats_users[0]);
	assert_int_equal(cfg->pool_mode, POOL_SESSION);
	assert_int_equal(cfg->default_pool_size, 20);
	assert_int_equal(cfg->min_pool_size, 0);
	assert_int_equal(cfg->reserve_pool_size, 0);
	assert_int_equal(cfg->max_client_conn, 100);
	assert_int_equal(cfg->max_db_connections, 0);
	assert_int_equal(cfg->max_user_connections, 0);
	assert_string_equal(cfg->server_reset_query, "DISCARD ALL");
	assert_false(cfg->server_reset_query_always);
	assert_string_equal(cfg->server_check_query, "select 1");
	assert_null(cfg->ignore_startup_parameters[0]);
	assert_int_equal(cfg->max_prepared_statements, 200);
	assert_int_equal(cfg->max_packet_size, 2147483647);
	assert_int_equal(cfg->pkt_buf, 4096);
	assert_false(cfg->application_name_add_host);
	assert_int_equal(cfg->query_timeout, 0);
	assert_int_equal(cfg->query_wait_timeout, 120000);
	assert_int_equal(cfg->idle_transaction_timeout, 0);
	assert_int_equal(cfg->transaction_timeout, 0);
	assert_int_equal(cfg->client_idle_timeout, 0);
	assert_int_equal(cfg->client_login_timeout, 60000);
	assert_int_equal(cfg->server_connect_timeout, 15000);
	assert_int_equal(cfg->server_idle_timeout, 600000);
	assert_int_equal(cfg->server_lifetime, 3600000);
	assert_int_equal(cfg->server_login_retry, 15000);
	assert_int_equal(cfg->server_check_delay, 30000);
	assert_int_equal(cfg->shutdown_wait_timeout, 0);
	assert_null(cfg->logfile);
	assert_null(cfg->pidfile);
	assert_int_equal(cfg->log_level, LL_INFO);
	assert_true(cfg->log_connections);
	assert_true(cfg->log_disconnections);
	assert_int_equal(cfg->slow_query_ms, -1);
	assert_null(cfg->slow_query_log);
	assert_int_equal(cfg->slow_query_log_max_per_sec, 0);
	assert_false(cfg->log_parameters);
	assert_true(cfg->track_statements);
	assert_null(cfg->stats_file);
	assert_int_equal(cfg->stats_flush_interval, 60000);
	assert_int_equal(cfg->stats_retention, 14ULL * 24 * 3600 * 1000);
	assert_int_equal(cfg->max_fingerprints, 10000);
	assert_null(cfg->metrics_listen);
	assert_int_equal(cfg->parser_cache_bytes, 64 * 1024 * 1024);
	assert_int_equal(cfg->query_text_max, 4096);
	assert_int_equal(cfg->stats_queue_size, 65536);
	assert_int_equal(cfg->advisor_min_table_rows, 10000);
	assert_int_equal(cfg->advisor_min_saving_pct, 30);
	assert_int_equal(cfg->n_dbs, 0);
	assert_null(config_find_db(cfg, "app"));
	config_free(cfg);
}

static const char *realistic_ini =
	";; pgbouncer.ini as a Debian admin would write it\n"
	"[databases]\n"
	"; plain key=value, PgBouncer keys mixed in\n"
	"app = host=10.0.0.5 port=5433 dbname=app_prod user=app password='s3 cr\\'et' "
	"pool_size=40 min_pool_size=5 reserve_pool=3 max_db_connections=80 pool_mode=transaction "
	"connect_query='SET search_path = app, public' application_name=pgsift-app "
	"client_encoding=UTF8 datestyle=ISO timezone=UTC\n"
	"reports = postgresql://ro:pw%40x@db.example.com:6543/warehouse?pool_size=3&"
	"connect_timeout=5&pool_mode=session\n"
	"local = dbname=local_db\n"
	"sock = host=/var/run/postgresql\n"
	"* = host=127.0.0.1 port=5432\n"
	"\n"
	"[users]\n"
	"alice = pool_mode=session max_user_connections=7\n"
	"\n"
	"[pgbouncer]\n"
	"logfile = /var/log/postgresql/pgbouncer.log\n"
	"pidfile = /var/run/postgresql/pgbouncer.pid\n"
	"listen_addr = 127.0.0.1, ::1\n"
	"listen_port = 6543\n"
	"unix_socket_dir = /var/run/postgresql\n"
	"unix_socket_mode = 0700\n"
	"auth_type = scram-sha-256\n"
	"auth_file = USERLIST\n"
	"admin_users = postgres, admin\n"
	"stats_users = stats,monitor\n"
	"pool_mode = transaction\n"
	"server_reset_query = DISCARD ALL; SELECT 1\n"
	"server_reset_query_always = yes\n"
	"ignore_startup_parameters = extra_float_digits, search_path\n"
	"max_client_conn = 1000\n"
	"default_pool_size = 25\n"
	"min_pool_size = 2\n"
	"reserve_pool_size = 5\n"
	"max_db_connections = 90\n"
	"max_user_connections = 60\n"
	"max_prepared_statements = 100\n"
	"pkt_buf = 8kB\n"
	"max_packet_size = 1048576\n"
	"application_name_add_host = on\n"
	"query_timeout = 0.5\n"
	"query_wait_timeout = 30\n"
	"client_idle_timeout = 3600\n"
	"idle_transaction_timeout = 10.25\n"
	"server_lifetime = 1800\n"
	"server_idle_timeout = 60\n"
	"server_connect_timeout = 5\n"
	"server_login_retry = 2\n"
	"client_login_timeout = 30\n"
	"log_connections = 0\n"
	"log_disconnections = off\n"
	"verbose = 1\n"
	"# pgsift's own keys\n"
	"track_statements = off\n"
	"slow_query_ms = 250\n"
	"slow_query_log = /var/log/pgsift/slow.json\n"
	"slow_query_log_max_per_sec = 100\n"
	"log_parameters = true\n"
	"stats_file = /var/lib/pgsift/stats.bin\n"
	"stats_flush_interval = 30\n"
	"stats_retention = 7d\n"
	"max_fingerprints = 5000\n"
	"metrics_listen = 127.0.0.1:9127\n"
	"parser_cache_size = 16MB\n"
	"query_text_max = 2048\n"
	"stats_queue_size = 4096\n"
	"advisor_min_table_rows = 50000\n"
	"advisor_min_saving_pct = 20\n";

static Config *load_realistic(void)
{
	const char *ul =
		write_file("userlist.txt", "\"alice\" \"md5e5f8ff1b8f70ad4cd8f0e79b7b4a1a2e\"\n"
					   "\"bob\" \"plainsecret\"\n");
	char text[8192];
	const char *at = strstr(realistic_ini, "USERLIST");
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - realistic_ini), realistic_ini, ul,
		 at + strlen("USERLIST"));
	return load_ini("pgbouncer.ini", text);
}

static void test_config_realistic_pgbouncer_ini(void **state)
{
	(void)state;
	log_reset();
	Config *cfg = load_realistic();
	if (!cfg)
		fail_msg("%s", errbuf);
	assert_string_equal(cfg->config_file, tpath("pgbouncer.ini"));
	assert_string_equal(cfg->logfile, "/var/log/postgresql/pgbouncer.log");
	assert_string_equal(cfg->pidfile, "/var/run/postgresql/pgbouncer.pid");
	assert_string_equal(cfg->listen_addr, "127.0.0.1, ::1");
	assert_int_equal(cfg->listen_port, 6543);
	assert_string_equal(cfg->unix_socket_dir, "/var/run/postgresql");
	assert_int_equal(cfg->unix_socket_mode, 0700);
	assert_int_equal(cfg->auth_type, AUTH_SCRAM);
	assert_string_equal(cfg->auth_file, tpath("userlist.txt"));
	assert_string_equal(cfg->admin_users[0], "postgres");
	assert_string_equal(cfg->admin_users[1], "admin");
	assert_null(cfg->admin_users[2]);
	assert_true(config_list_has(cfg->stats_users, "monitor"));
	assert_false(config_list_has(cfg->stats_users, "postgres"));
	assert_int_equal(cfg->pool_mode, POOL_TRANSACTION);
	assert_string_equal(cfg->server_reset_query, "DISCARD ALL; SELECT 1");
	assert_true(cfg->server_reset_query_always);
	assert_string_equal(cfg->ignore_startup_parameters[0], "extra_float_digits");
	assert_string_equal(cfg->ignore_startup_parameters[1], "search_path");
	assert_int_equal(cfg->max_client_conn, 1000);
	assert_int_equal(cfg->default_pool_size, 25);
	assert_int_equal(cfg->min_pool_size, 2);
	assert_int_equal(cfg->reserve_pool_size, 5);
	assert_int_equal(cfg->max_db_connections, 90);
	assert_int_equal(cfg->max_user_connections, 60);
	assert_int_equal(cfg->max_prepared_statements, 100);
	assert_int_equal(cfg->pkt_buf, 8192);
	assert_int_equal(cfg->max_packet_size, 1048576);
	assert_true(cfg->application_name_add_host);
	assert_int_equal(cfg->query_timeout, 500);
	assert_int_equal(cfg->query_wait_timeout, 30000);
	assert_int_equal(cfg->client_idle_timeout, 3600000);
	assert_int_equal(cfg->idle_transaction_timeout, 10250);
	assert_int_equal(cfg->server_lifetime, 1800000);
	assert_int_equal(cfg->server_idle_timeout, 60000);
	assert_int_equal(cfg->server_connect_timeout, 5000);
	assert_int_equal(cfg->server_login_retry, 2000);
	assert_int_equal(cfg->client_login_timeout, 30000);
	assert_false(cfg->log_connections);
	assert_false(cfg->log_disconnections);
	assert_int_equal(cfg->log_level, LL_DEBUG);
	assert_int_equal(cfg->slow_query_ms, 250);
	assert_string_equal(cfg->slow_query_log, "/var/log/pgsift/slow.json");
	assert_int_equal(cfg->slow_query_log_max_per_sec, 100);
	assert_true(cfg->log_parameters);
	assert_false(cfg->track_statements);
	assert_string_equal(cfg->stats_file, "/var/lib/pgsift/stats.bin");
	assert_int_equal(cfg->stats_flush_interval, 30000);
	assert_int_equal(cfg->stats_retention, 7ULL * 86400 * 1000);
	assert_int_equal(cfg->max_fingerprints, 5000);
	assert_string_equal(cfg->metrics_listen, "127.0.0.1:9127");
	assert_int_equal(cfg->parser_cache_bytes, 16 * 1024 * 1024);
	assert_int_equal(cfg->query_text_max, 2048);
	assert_int_equal(cfg->stats_queue_size, 4096);
	assert_int_equal(cfg->advisor_min_table_rows, 50000);
	assert_int_equal(cfg->advisor_min_saving_pct, 20);

	/* [databases], key=value form with quotes, escapes and every PgBouncer key. */
	assert_int_equal(cfg->n_dbs, 5);
	const DbEntry *app = config_find_db(cfg, "app");
	assert_non_null(app);
	assert_string_equal(app->name, "app");
	assert_string_equal(app->host, "10.0.0.5");
	assert_int_equal(app->port, 5433);
	assert_string_equal(app->dbname, "app_prod");
	assert_string_equal(app->user, "app");
	assert_string_equal(app->password, "s3 cr'et");
	assert_int_equal(app->pool_size, 40);
	assert_int_equal(app->min_pool_size, 5);
	assert_int_equal(app->reserve_pool, 3);
	assert_int_equal(app->max_db_connections, 80);
	assert_int_equal(app->pool_mode, POOL_TRANSACTION);
	assert_string_equal(app->connect_query, "SET search_path = app, public");
	assert_string_equal(app->application_name, "pgsift-app");
	assert_string_equal(app->client_encoding, "UTF8");
	assert_string_equal(app->datestyle, "ISO");
	assert_string_equal(app->timezone, "UTC");
	assert_int_equal(app->line, 4);
	assert_true(strncmp(app->conninfo, "host=10.0.0.5 port=5433", 23) == 0);

	/* URL form: percent-decoding by libpq, PgBouncer keys taken from the query string. */
	const DbEntry *rep = config_find_db(cfg, "reports");
	assert_non_null(rep);
	assert_string_equal(rep->host, "db.example.com");
	assert_int_equal(rep->port, 6543);
	assert_string_equal(rep->dbname, "warehouse");
	assert_string_equal(rep->user, "ro");
	assert_string_equal(rep->password, "pw@x");
	assert_int_equal(rep->pool_size, 3);
	assert_int_equal(rep->pool_mode, POOL_SESSION);
	assert_int_equal(rep->min_pool_size, -1);

	const DbEntry *local = config_find_db(cfg, "local");
	assert_null(local->host);
	assert_int_equal(local->port, 5432);
	assert_string_equal(local->dbname, "local_db");
	assert_null(local->user);
	assert_null(local->password);
	assert_int_equal(local->pool_size, -1);
	assert_int_equal(local->pool_mode, -1);
	assert_string_equal(config_find_db(cfg, "sock")->host, "/var/run/postgresql");

	/* Unknown names go to `*`, which keeps the client's database name (dbname NULL). */
	const DbEntry *any = config_find_db(cfg, "whatever");
	assert_non_null(any);
	assert_string_equal(any->name, "*");
	assert_string_equal(any->host, "127.0.0.1");
	assert_null(any->dbname);

	/* Pool mode: user's [users] > database's > global, as PgBouncer. */
	assert_int_equal(config_pool_mode(cfg, app, "bob"), POOL_TRANSACTION);
	assert_int_equal(config_pool_mode(cfg, app, "alice"), POOL_SESSION);
	assert_int_equal(config_pool_mode(cfg, local, "bob"), POOL_TRANSACTION);
	assert_int_equal(config_pool_mode(cfg, rep, "bob"), POOL_SESSION);
	assert_int_equal(config_pool_mode(cfg, NULL, NULL), POOL_TRANSACTION);
	assert_int_equal(config_pool_size(cfg, app), 40);
	assert_int_equal(config_pool_size(cfg, local), 25);
	assert_int_equal(config_pool_size(cfg, NULL), 25);

	const UserEntry *alice = config_find_user(cfg, "alice");
	assert_non_null(alice);
	assert_string_equal(alice->secret, "md5e5f8ff1b8f70ad4cd8f0e79b7b4a1a2e");
	assert_int_equal(alice->kind, SECRET_MD5);
	assert_int_equal(alice->pool_mode, POOL_SESSION);
	assert_int_equal(alice->max_user_connections, 7);
	assert_int_equal(config_find_user(cfg, "bob")->pool_mode, -1);
	assert_null(config_find_user(cfg, "carol"));

	/* The one unsupported libpq option (connect_timeout) is the only warning. */
	char expect[1024];
	snprintf(expect, sizeof(expect),
		 "%s:5: reports: connection option connect_timeout is not supported by pgsift "
		 "and is ignored\n",
		 tpath("pgbouncer.ini"));
	assert_string_equal(log_read(), expect);
	config_free(cfg);
}

/* The file Debian's pgbouncer package installs must load, with warnings at most. */
static void test_config_stock_debian_file(void **state)
{
	(void)state;
	const char *stock = "/etc/pgbouncer/pgbouncer.ini";
	if (access(stock, R_OK) != 0)
		skip();
	log_reset();
	Config *cfg = load_argv(stock, NULL);
	if (!cfg)
		fail_msg("%s", errbuf);
	assert_string_equal(cfg->listen_addr, "localhost");
	assert_int_equal(cfg->listen_port, 6432);
	assert_int_equal(cfg->auth_type, AUTH_MD5);
	assert_string_equal(cfg->auth_file, "/etc/pgbouncer/userlist.txt");
	assert_string_equal(cfg->unix_socket_dir, "/var/run/postgresql");
	assert_string_equal(cfg->logfile, "/var/log/postgresql/pgbouncer.log");
	assert_int_equal(cfg->pool_mode, POOL_SESSION);
	assert_int_equal(cfg->default_pool_size, 20);
	print_message("stock file warnings:\n%s", log_read());
	config_free(cfg);
}

static void test_config_precedence_file_env_flags(void **state)
{
	(void)state;
	const char *ini = write_file("prec.ini", "[pgsift]\n"
						 "listen_port = 7000\n"
						 "pool_mode = transaction\n"
						 "query_timeout = 3\n"
						 "default_pool_size = 11\n"
						 "slow_query_ms = 100\n");
	Config *cfg = load_argv("-c", ini, NULL);
	assert_non_null(cfg);
	assert_int_equal(cfg->listen_port, 7000);
	assert_int_equal(cfg->query_timeout, 3000);
	config_free(cfg);

	setenv("PGSIFT_LISTEN_PORT", "7001", 1);
	setenv("PGSIFT_POOL_MODE", "session", 1);
	setenv("PGSIFT_QUERY_TIMEOUT", "2", 1); /* seconds, like the file */
	setenv("PGSIFT_DEFAULT_POOL_SIZE", "12", 1);
	cfg = load_argv("-c", ini, NULL);
	assert_non_null(cfg);
	assert_int_equal(cfg->listen_port, 7001);
	assert_int_equal(cfg->pool_mode, POOL_SESSION);
	assert_int_equal(cfg->query_timeout, 2000);
	assert_int_equal(cfg->default_pool_size, 12);
	assert_int_equal(cfg->slow_query_ms, 100);
	config_free(cfg);

	/* Flags win over both; --query-timeout is in milliseconds. */
	cfg = load_argv("-c", ini, "--listen", ":7002", "--pool-mode=transaction",
			"--query-timeout", "1500", "--pool-size", "13", "--slow-ms", "0", NULL);
	assert_non_null(cfg);
	assert_int_equal(cfg->listen_port, 7002);
	assert_string_equal(cfg->listen_addr, "127.0.0.1");
	assert_int_equal(cfg->pool_mode, POOL_TRANSACTION);
	assert_int_equal(cfg->query_timeout, 1500);
	assert_int_equal(cfg->default_pool_size, 13);
	assert_int_equal(cfg->slow_query_ms, 0);
	config_free(cfg);

	/* An error in the environment names the variable. */
	setenv("PGSIFT_POOL_MODE", "weekly", 1);
	assert_null(load_argv("-c", ini, NULL));
	assert_string_equal(errbuf, "PGSIFT_POOL_MODE: must be session, transaction or statement "
				    "(got 'weekly')");
	unsetenv("PGSIFT_LISTEN_PORT");
	unsetenv("PGSIFT_POOL_MODE");
	unsetenv("PGSIFT_QUERY_TIMEOUT");
	unsetenv("PGSIFT_DEFAULT_POOL_SIZE");
}

static void test_config_all_flags(void **state)
{
	(void)state;
	const char *ul = write_file("flags_users.txt", "\"admin\" \"pw\"\n");
	Config *cfg = load_argv("--listen", "0.0.0.0:6000", "--upstream",
				"postgresql://app@db1:5433/appdb", "--pool-mode", "transaction",
				"--pool-size", "7", "--max-client-conn", "500", "--auth-type",
				"scram-sha-256", "--auth-file", ul, "--admin-users", "admin,ops",
				"--query-timeout", "250", "--slow-ms=40", "--slow-log",
				"/tmp/slow.json", "--stats-file", "/tmp/stats.bin",
				"--metrics-listen", "127.0.0.1:9100", "--log-level", "debug", NULL);
	if (!cfg)
		fail_msg("%s", errbuf);
	assert_string_equal(cfg->listen_addr, "0.0.0.0");
	assert_int_equal(cfg->listen_port, 6000);
	assert_int_equal(cfg->pool_mode, POOL_TRANSACTION);
	assert_int_equal(cfg->default_pool_size, 7);
	assert_int_equal(cfg->max_client_conn, 500);
	assert_int_equal(cfg->auth_type, AUTH_SCRAM);
	assert_string_equal(cfg->auth_file, ul);
	assert_true(config_list_has(cfg->admin_users, "ops"));
	assert_int_equal(cfg->query_timeout, 250);
	assert_int_equal(cfg->slow_query_ms, 40);
	assert_string_equal(cfg->slow_query_log, "/tmp/slow.json");
	assert_string_equal(cfg->stats_file, "/tmp/stats.bin");
	assert_string_equal(cfg->metrics_listen, "127.0.0.1:9100");
	assert_int_equal(cfg->log_level, LL_DEBUG);
	assert_int_equal(cfg->n_dbs, 1);
	const DbEntry *db = config_find_db(cfg, "anything");
	assert_string_equal(db->name, "*");
	assert_string_equal(db->host, "db1");
	assert_int_equal(db->port, 5433);
	assert_string_equal(db->dbname, "appdb");
	assert_string_equal(db->user, "app");
	assert_int_equal(db->line, 0);
	config_free(cfg);

	/* --listen forms. */
	cfg = load_argv("--listen", "6001", NULL);
	assert_int_equal(cfg->listen_port, 6001);
	assert_string_equal(cfg->listen_addr, "127.0.0.1");
	config_free(cfg);
	cfg = load_argv("--listen", "[::1]:6003", NULL);
	assert_string_equal(cfg->listen_addr, "::1");
	assert_int_equal(cfg->listen_port, 6003);
	config_free(cfg);
	cfg = load_argv("--listen=localhost:6004", NULL);
	assert_string_equal(cfg->listen_addr, "localhost");
	config_free(cfg);
	assert_null(load_argv("--listen", "db:70000", NULL));
	assert_string_equal(errbuf, "--listen: must be ADDR:PORT, :PORT or PORT with a port "
				    "between 1 and 65535 (got 'db:70000')");
	assert_null(load_argv("--pool-size", "0", NULL));
	assert_string_equal(errbuf, "--pool-size: must be an integer between 1 and 1000000 "
				    "(got '0')");
	assert_null(load_argv("--query-timeout", "-5", NULL));
	assert_string_equal(errbuf, "--query-timeout: must be a time in milliseconds >= 0 (e.g. "
				    "1500 or 2s) (got '-5')");
	assert_null(load_argv("--log-level", "loud", NULL));
	assert_string_equal(errbuf, "--log-level: must be fatal, error, warning, info, debug or "
				    "noise (got 'loud')");
	assert_null(load_argv("--metrics-listen", "9100", NULL));
	assert_string_equal(errbuf, "--metrics-listen: must be ADDR:PORT with a port between 1 "
				    "and 65535 (got '9100')");
	assert_null(load_argv("--upstream", "host=db port=x", NULL));
	assert_string_equal(errbuf, "--upstream: port: must be a port number between 1 and 65535 "
				    "(got 'x')");
}

static void test_config_parse_args(void **state)
{
	(void)state;
	ConfigArgs a;
	char *v1[] = {"pgsift", "-c", "a.ini", "--pool-size=5", "--upstream", "postgres://x", NULL};
	assert_true(config_parse_args(6, v1, &a, errbuf, sizeof(errbuf)));
	assert_string_equal(a.config_file, "a.ini");
	assert_string_equal(a.pool_size, "5");
	assert_string_equal(a.upstream, "postgres://x");
	assert_null(a.listen);
	assert_false(a.help);

	char *v2[] = {"pgsift", "pgbouncer.ini", NULL};
	assert_true(config_parse_args(2, v2, &a, errbuf, sizeof(errbuf)));
	assert_string_equal(a.config_file, "pgbouncer.ini");

	char *v3[] = {"pgsift", "-cmy.ini", "-h", "--version", NULL};
	assert_true(config_parse_args(4, v3, &a, errbuf, sizeof(errbuf)));
	assert_string_equal(a.config_file, "my.ini");
	assert_true(a.help);
	assert_true(a.version);

	char *v4[] = {"pgsift", "--config", "b.ini", "-V", NULL};
	assert_true(config_parse_args(4, v4, &a, errbuf, sizeof(errbuf)));
	assert_string_equal(a.config_file, "b.ini");
	assert_true(a.version);

	char *e1[] = {"pgsift", "--frobnicate", NULL};
	assert_false(config_parse_args(2, e1, &a, errbuf, sizeof(errbuf)));
	assert_string_equal(errbuf, "unknown option '--frobnicate' (see --help)");
	char *e2[] = {"pgsift", "--pool-mode", NULL};
	assert_false(config_parse_args(2, e2, &a, errbuf, sizeof(errbuf)));
	assert_string_equal(errbuf, "option '--pool-mode' needs a value");
	char *e3[] = {"pgsift", "-c", "a.ini", "b.ini", NULL};
	assert_false(config_parse_args(4, e3, &a, errbuf, sizeof(errbuf)));
	assert_string_equal(errbuf,
			    "unexpected argument 'b.ini': the config file is already 'a.ini'");
	char *e4[] = {"pgsift", "--help=yes", NULL};
	assert_false(config_parse_args(2, e4, &a, errbuf, sizeof(errbuf)));
	assert_string_equal(errbuf, "option '--help' takes no value");
	char *e5[] = {"pgsift", "-x", NULL};
	assert_false(config_parse_args(2, e5, &a, errbuf, sizeof(errbuf)));
	assert_string_equal(errbuf, "unknown option '-x' (see --help)");

	assert_non_null(strstr(config_usage(), "--upstream URL"));
	assert_non_null(strstr(config_usage(), "--metrics-listen ADDR:PORT"));
}

static void test_config_upstream_replaces_star(void **state)
{
	(void)state;
	const char *ini = write_file("star.ini", "[databases]\n"
						 "* = host=filehost\n"
						 "app = host=apphost dbname=app\n");
	Config *cfg = load_argv(ini, "--upstream", "host=flaghost port=6000 pool_size=4", NULL);
	assert_non_null(cfg);
	assert_int_equal(cfg->n_dbs, 2);
	const DbEntry *d = config_find_db(cfg, "other");
	assert_string_equal(d->host, "flaghost");
	assert_int_equal(d->port, 6000);
	assert_int_equal(d->pool_size, 4);
	assert_null(d->dbname);
	assert_string_equal(config_find_db(cfg, "app")->host, "apphost");
	config_free(cfg);

	setenv("PGSIFT_UPSTREAM", "postgresql://envhost/", 1);
	cfg = load_argv(ini, NULL);
	assert_string_equal(config_find_db(cfg, "other")->host, "envhost");
	assert_null(config_find_db(cfg, "other")->dbname);
	config_free(cfg);
	/* The flag beats the environment. */
	cfg = load_argv(ini, "--upstream", "postgresql://flaghost", NULL);
	assert_string_equal(config_find_db(cfg, "other")->host, "flaghost");
	config_free(cfg);
	unsetenv("PGSIFT_UPSTREAM");

	/* Without `*`, an unknown database has no entry. */
	const char *ini2 = write_file("nostar.ini", "[databases]\napp = dbname=app\n");
	cfg = load_argv(ini2, NULL);
	assert_null(config_find_db(cfg, "other"));
	assert_string_equal(config_find_db(cfg, "app")->dbname, "app");
	config_free(cfg);
}

static void test_config_databases_forms(void **state)
{
	(void)state;
	log_reset();
	Config *cfg = load_ini("dbforms.ini",
			       "[databases]\n"
			       "u1 = postgresql://h1:5440/d1 pool_size=9 pool_mode=statement\n"
			       "u2 = postgres://h2\n"
			       "kv = hostaddr=192.168.1.9 host=db.local sslmode=require "
			       "auth_user=pgb\n"
			       "empty =\n"
			       "dup = host=first\n"
			       "dup = host=second\n");
	if (!cfg)
		fail_msg("%s", errbuf);
	const DbEntry *u1 = config_find_db(cfg, "u1");
	assert_string_equal(u1->host, "h1");
	assert_int_equal(u1->port, 5440);
	assert_string_equal(u1->dbname, "d1");
	assert_int_equal(u1->pool_size, 9);
	assert_int_equal(u1->pool_mode, POOL_STATEMENT);
	const DbEntry *u2 = config_find_db(cfg, "u2");
	assert_string_equal(u2->host, "h2");
	assert_int_equal(u2->port, 5432);
	assert_null(u2->dbname);
	/* hostaddr is what is connected to. */
	assert_string_equal(config_find_db(cfg, "kv")->host, "192.168.1.9");
	const DbEntry *e = config_find_db(cfg, "empty");
	assert_null(e->host);
	assert_string_equal(e->conninfo, "");
	/* The later line wins, as in PgBouncer. */
	assert_int_equal(cfg->n_dbs, 5);
	assert_string_equal(config_find_db(cfg, "dup")->host, "second");
	assert_int_equal(config_find_db(cfg, "dup")->line, 7);
	/* libpq's sslmode and PgBouncer's per-database auth_user are taken, without a warning */
	const DbEntry *kv = config_find_db(cfg, "kv");
	assert_int_equal(kv->sslmode, TLS_REQUIRE);
	assert_string_equal(kv->auth_user, "pgb");
	assert_int_equal(u1->sslmode, -1);
	assert_null(u1->auth_user);
	assert_string_equal(log_read(), "");
	config_free(cfg);
}

static void test_config_userlist(void **state)
{
	(void)state;
	const char *scram = "SCRAM-SHA-256$4096:c2FsdHNhbHQ=$storedKeyAAAA=:serverKeyBBBB=";
	char text[2048];
	snprintf(text, sizeof(text),
		 ";; comment line\n"
		 "\n"
		 "# another comment\n"
		 "\"plain\" \"p@ss word\"\n"
		 "  \"md5user\"   \"md5c4ca4238a0b923820dcc509a6f75849b\"\n"
		 "\"scram\" \"%s\"\n"
		 "\"we\"\"ird\" \"a\"\"b\"\"\" trailing words ignored\r\n"
		 "\"notmd5\" \"md5xyz\"\n"
		 "\"empty\" \"\"\n"
		 "\"plain\" \"second wins\"\n",
		 scram);
	const char *ul = write_file("users.txt", text);
	Config *cfg = load_argv("--auth-type", "md5", "--auth-file", ul, NULL);
	if (!cfg)
		fail_msg("%s", errbuf);
	assert_int_equal(cfg->n_users, 6);
	assert_string_equal(config_find_user(cfg, "plain")->secret, "second wins");
	assert_int_equal(config_find_user(cfg, "plain")->kind, SECRET_PLAIN);
	assert_string_equal(config_find_user(cfg, "md5user")->secret,
			    "md5c4ca4238a0b923820dcc509a6f75849b");
	assert_int_equal(config_find_user(cfg, "md5user")->kind, SECRET_MD5);
	assert_string_equal(config_find_user(cfg, "scram")->secret, scram);
	assert_int_equal(config_find_user(cfg, "scram")->kind, SECRET_SCRAM);
	assert_string_equal(config_find_user(cfg, "we\"ird")->secret, "a\"b\"");
	assert_int_equal(config_find_user(cfg, "notmd5")->kind, SECRET_PLAIN);
	assert_string_equal(config_find_user(cfg, "empty")->secret, "");
	assert_int_equal(config_find_user(cfg, "plain")->pool_mode, -1);
	config_free(cfg);

	/* A [users]-only user sets a pool mode but is no auth_file user. */
	const char *ini = write_file("uonly.ini", "[users]\nghost = pool_mode=transaction\n");
	cfg = load_argv(ini, "--auth-type", "md5", "--auth-file", ul, NULL);
	assert_non_null(cfg);
	assert_null(config_find_user(cfg, "ghost"));
	assert_int_equal(config_pool_mode(cfg, NULL, "ghost"), POOL_TRANSACTION);
	assert_int_equal(cfg->n_users, 7);
	config_free(cfg);
}

static void expect_userlist_error(const char *text, const char *expected_fmt)
{
	char expected[1024];
	const char *ul = write_file("bad_users.txt", text);
	snprintf(expected, sizeof(expected), expected_fmt, ul);
	Config *cfg = load_argv("--auth-type", "md5", "--auth-file", ul, NULL);
	if (cfg)
		fail_msg("loaded, expected error: %s", expected);
	assert_string_equal(errbuf, expected);
}

static void test_config_userlist_errors(void **state)
{
	(void)state;
	expect_userlist_error("\"a\" \"b\"\n\"unterminated \"x\"\n",
			      "%s:2: user 'unterminated ' has no quoted password");
	expect_userlist_error("\"a\" \"b\"\n\"open\n", "%s:2: unterminated quoted user name");
	expect_userlist_error("\n\"u\" \"secret\n",
			      "%s:2: unterminated quoted password for user 'u'");
	expect_userlist_error("alice md5abc\n", "%s:1: expected \"username\" \"password\"");
	expect_userlist_error("\"\" \"x\"\n", "%s:1: empty user name");
	expect_userlist_error("\"u\"\n", "%s:1: user 'u' has no quoted password");
	write_bytes("nul_users.txt", "\"a\" \"b\"\n\"c\0\" \"d\"\n", 16);
	assert_null(load_argv("--auth-type", "md5", "--auth-file", tpath("nul_users.txt"), NULL));
	char expected[600];
	snprintf(expected, sizeof(expected), "%s:2: line contains a NUL byte",
		 tpath("nul_users.txt"));
	assert_string_equal(errbuf, expected);

	assert_null(load_argv("--auth-type", "md5", "--auth-file", tpath("nope.txt"), NULL));
	snprintf(expected, sizeof(expected),
		 "--auth-file: cannot open auth_file '%s': No such file or directory",
		 tpath("nope.txt"));
	assert_string_equal(errbuf, expected);
	expect_error("authmissing.ini",
		     "[pgsift]\nauth_type = md5\nauth_file = /nonexistent/u.txt\n",
		     "%s:3: auth_file: cannot open auth_file '/nonexistent/u.txt': No such file or "
		     "directory");
}

static void test_config_main_section_errors(void **state)
{
	(void)state;
	expect_error("e1.ini", "[pgbouncer]\nlisten_port = 70000\n",
		     "%s:2: listen_port: must be a port number between 1 and 65535 (got '70000')");
	expect_error(
		"e2.ini", "[pgbouncer]\n\nmax_client_conn = lots\n",
		"%s:3: max_client_conn: must be an integer between 1 and 10000000 (got 'lots')");
	expect_error("e3.ini", "[pgsift]\npool_mode = weekly\n",
		     "%s:2: pool_mode: must be session, transaction or statement (got 'weekly')");
	expect_error("e4.ini", "[pgsift]\nlog_connections = maybe\n",
		     "%s:2: log_connections: must be a boolean (0/1, on/off, true/false, yes/no) "
		     "(got 'maybe')");
	expect_error("e5.ini", "[pgsift]\nquery_timeout = -1\n",
		     "%s:2: query_timeout: must be a time in seconds (e.g. 30, 0.5, 500ms, 14d) "
		     "(got '-1')");
	expect_error("e6.ini", "[pgsift]\nstats_retention = 2 fortnights\n",
		     "%s:2: stats_retention: must be a time in seconds greater than 0 (e.g. 30, "
		     "0.5, 500ms, 14d) (got '2 fortnights')");
	expect_error("e7.ini", "[pgsift]\nparser_cache_size = -64MB\n",
		     "%s:2: parser_cache_size: must be a size in bytes (e.g. 8192, 64kB, 64MB) "
		     "(got '-64MB')");
	expect_error("e8.ini", "[pgsift]\npkt_buf = 100\n",
		     "%s:2: pkt_buf: must be a size in bytes between 512 and 1073741824 (got "
		     "'100')");
	expect_error("e9.ini", "[pgsift]\nauth_type = pam\n",
		     "%s:2: auth_type: this PgBouncer auth_type is not supported by pgsift; use "
		     "trust, plain, md5, scram-sha-256, cert or hba (got 'pam')");
	expect_error("e10.ini", "[pgsift]\nauth_type = kerberos\n",
		     "%s:2: auth_type: must be trust, plain, md5, scram-sha-256, cert or hba (got "
		     "'kerberos')");
	expect_error("e9b.ini", "[pgsift]\nauth_type = hba\n",
		     "%s:2: auth_type: auth_type = hba needs auth_hba_file (PgBouncer's subset of "
		     "pg_hba.conf)");
	expect_error("e9c.ini", "[pgsift]\nauth_type = cert\n",
		     "%s:2: auth_type: auth_type = cert needs client_tls_sslmode (not disable) and "
		     "client_tls_ca_file to verify client certificates");
	expect_error("e9d.ini", "[pgsift]\nclient_tls_sslmode = require\n",
		     "%s:2: client_tls_sslmode: client_tls_sslmode = require needs "
		     "client_tls_key_file and client_tls_cert_file");
	expect_error("e9e.ini",
		     "[pgsift]\nclient_tls_sslmode = verify-full\nclient_tls_key_file = k\n"
		     "client_tls_cert_file = c\n",
		     "%s:2: client_tls_sslmode: client_tls_sslmode = verify-full needs "
		     "client_tls_ca_file (the CA that signs client certificates)");
	expect_error("e9f.ini", "[pgsift]\nserver_tls_sslmode = required\n",
		     "%s:2: server_tls_sslmode: must be disable, allow, prefer, require, verify-ca "
		     "or verify-full (got 'required')");
	expect_error("e9g.ini", "[pgsift]\nserver_tls_key_file = k\n",
		     "%s:2: server_tls_key_file: server_tls_key_file and server_tls_cert_file go "
		     "together (a client certificate for the servers)");
	expect_error("e9h.ini", "[databases]\nd = host=x sslmode=always\n",
		     "%s:2: d: sslmode: must be disable, allow, prefer, require, verify-ca or "
		     "verify-full");
	expect_error("e11.ini", "[pgsift]\nlisten_port\n",
		     "%s:2: expected 'key = value' (got 'listen_port')");
	expect_error("e12.ini", "listen_port = 1\n",
		     "%s:1: listen_port: setting outside of any section (start the file with "
		     "[pgsift] or [pgbouncer])");
	expect_error("e13.ini", "[pgsift\n", "%s:1: bad section header '[pgsift'");
	expect_error("e14.ini", "[pgsift]\n= 5\n", "%s:2: missing key before '='");
	expect_error("e15.ini", "[pgsift]\n%exclude x\n", "%s:2: unknown directive '%%exclude'");
	expect_error("e16.ini", "[pgsift]\nunix_socket_mode = 0999\n",
		     "%s:2: unix_socket_mode: must be an octal file mode such as 0777 (got "
		     "'0999')");
	expect_error("e17.ini", "[pgsift]\nmetrics_listen = localhost\n",
		     "%s:2: metrics_listen: must be ADDR:PORT with a port between 1 and 65535 "
		     "(got 'localhost')");
	expect_error("e18.ini", "[pgsift]\nslow_query_ms = -2\n",
		     "%s:2: slow_query_ms: must be a time in milliseconds, or -1 for off (got "
		     "'-2')");
	expect_error("e19.ini", "[pgsift]\nadvisor_min_saving_pct = 101\n",
		     "%s:2: advisor_min_saving_pct: must be an integer between 0 and 100 (got "
		     "'101')");
	expect_error("e20.ini", "[pgsift]\nmin_pool_size = 30\n",
		     "%s:2: min_pool_size: min_pool_size (30) is larger than default_pool_size "
		     "(20)");
	expect_error("e21.ini", "[pgsift]\nlisten_addr =\nunix_socket_dir =\n",
		     "%s:2: listen_addr: nothing to listen on: listen_addr and unix_socket_dir are "
		     "both empty");
	expect_error("e22.ini", "[pgsift]\nquery_wait_timeout = inf\n",
		     "%s:2: query_wait_timeout: must be a time in seconds (e.g. 30, 0.5, 500ms, "
		     "14d) (got 'inf')");

	/* A long value is cut in the message and non-printable bytes are shown as '?'. */
	char text[400];
	snprintf(text, sizeof(text), "[pgsift]\nlisten_port = %s\x01\n",
		 "123456789012345678901234567890123456789012345678901234567890abc");
	expect_error("e23.ini", text,
		     "%s:2: listen_port: must be a port number between 1 and 65535 (got "
		     "'123456789012345678901234567890123456789012345678901234567890...')");

	assert_null(load_argv("-c", tpath("does-not-exist.ini"), NULL));
	char expected[600];
	snprintf(expected, sizeof(expected),
		 "cannot open config file '%s': No such file or directory",
		 tpath("does-not-exist.ini"));
	assert_string_equal(errbuf, expected);
	assert_null(load_argv("-c", tmpdir, NULL));
	snprintf(expected, sizeof(expected), "cannot read config file '%s': Is a directory",
		 tmpdir);
	assert_string_equal(errbuf, expected);
}

static void test_config_database_errors(void **state)
{
	(void)state;
	expect_error("d1.ini", "[databases]\napp = host=db port=99999\n",
		     "%s:2: app: port: must be a port number between 1 and 65535 (got '99999')");
	expect_error("d2.ini", "[databases]\n\napp = host=db pool_size=0\n",
		     "%s:3: app: pool_size: must be an integer >= 1 (got '0')");
	expect_error("d3.ini", "[databases]\napp = host=db pool_mode=sometimes\n",
		     "%s:2: app: pool_mode: must be session, transaction or statement (got "
		     "'sometimes')");
	expect_error("d4.ini", "[databases]\napp = host=db frobnicate=1\n",
		     "%s:2: app: invalid connection option \"frobnicate\"");
	expect_error("d5.ini", "[databases]\napp = host='db\n",
		     "%s:2: app: unterminated quoted value for host");
	expect_error("d6.ini", "[databases]\napp = host db\n",
		     "%s:2: app: expected key=value (got 'host')");
	expect_error("d7.ini", "[databases]\napp = postgresql://db/x sslmode=require\n",
		     "%s:2: app: sslmode: libpq options go into the URL's query string "
		     "(?sslmode=...)");
	expect_error("d8.ini", "[databases]\napp = postgresql://db:notaport/x\n",
		     "%s:2: app: port: must be a port number between 1 and 65535 (got "
		     "'notaport')");
	expect_error("d9.ini", "[users]\nbob = pool_mode=never\n",
		     "%s:2: bob: pool_mode: must be session, transaction or statement (got "
		     "'never')");
	expect_error("d10.ini", "[users]\nbob = max_user_connections=-1\n",
		     "%s:2: bob: max_user_connections: must be an integer >= 0 (got '-1')");
}

static void test_config_trust_refused_off_loopback(void **state)
{
	(void)state;
	const char *msg = "%s:3: listen_addr: auth_type = trust is only allowed on loopback "
			  "addresses or a Unix socket; set auth_type (md5 or scram-sha-256) to "
			  "listen on %s";
	const char *bad[] = {"*", "0.0.0.0", "10.1.2.3", "127.0.0.1, 0.0.0.0", "::", "db.local"};
	const char *shown[] = {"*", "0.0.0.0", "10.1.2.3", "0.0.0.0", "::", "db.local"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256], fmt[512];
		snprintf(text, sizeof(text), "[pgsift]\nlisten_port = 6432\nlisten_addr = %s\n",
			 bad[i]);
		snprintf(fmt, sizeof(fmt), msg, "%s", shown[i]);
		expect_error("trust.ini", text, fmt);
	}
	const char *good[] = {"127.0.0.1", "127.8.9.10",    "localhost", "::1",
			      "[::1]",	   "127.0.0.1,::1", ""};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "[pgsift]\nlisten_addr = %s\n", good[i]);
		Config *cfg = load_ini("trust_ok.ini", text);
		if (!cfg)
			fail_msg("%s: %s", good[i], errbuf);
		assert_int_equal(cfg->auth_type, AUTH_TRUST);
		config_free(cfg);
	}
	/* From the command line, the flag is named. */
	assert_null(load_argv("--listen", "0.0.0.0:6432", NULL));
	assert_string_equal(errbuf, "--listen: auth_type = trust is only allowed on loopback "
				    "addresses or a Unix socket; set auth_type (md5 or "
				    "scram-sha-256) to listen on 0.0.0.0");
	/* md5 needs an auth_file. */
	assert_null(load_argv("--listen", "0.0.0.0:6432", "--auth-type", "md5", NULL));
	assert_string_equal(errbuf, "--auth-type: auth_type = md5 needs auth_file (users and "
				    "passwords in PgBouncer's userlist.txt format) or auth_user "
				    "(secrets read with auth_query)");
	expect_error("md5nofile.ini", "[pgsift]\nauth_type = scram-sha-256\n",
		     "%s:2: auth_type: auth_type = scram-sha-256 needs auth_file (users and "
		     "passwords in PgBouncer's userlist.txt format) or auth_user (secrets read "
		     "with auth_query)");
}

static void test_config_unknown_keys_warn_once(void **state)
{
	(void)state;
	log_reset();
	/* tcp_keepalive, dns_max_ttl, syslog_ident and stats_period are PgBouncer keys pgsift has:
	 * silent. */
	const char *ini = write_file("warn.ini", "[pgbouncer]\n"
						 "auth_ldap_options = ldapurl=x\n"
						 "frobnicate = 3\n"
						 "dns_max_ttl = 15\n"
						 "syslog_ident = pgsift\n"
						 "stats_period = 60\n"
						 "auth_ldap_options = ldapurl=y\n"
						 "frobnicate = 4\n"
						 "listen_port = 6500\n"
						 "[peers]\n"
						 "1 = host=other\n"
						 "[pgbouncer]\n"
						 "tcp_keepalive = 0\n");
	Config *cfg = load_argv(ini, NULL);
	if (!cfg)
		fail_msg("%s", errbuf);
	assert_int_equal(cfg->listen_port, 6500);
	assert_false(cfg->tcp_keepalive);
	char expect[2048];
	snprintf(expect, sizeof(expect),
		 "%1$s:2: setting auth_ldap_options is not supported by pgsift and is ignored\n"
		 "%1$s:3: unknown setting frobnicate is ignored\n"
		 "[peers] is set but peer_id = 0: peering is off, cancel requests reach only "
		 "this process\n",
		 ini);
	assert_string_equal(log_read(), expect);
	assert_int_equal(count_of(log_read(), "auth_ldap_options"), 1);
	config_free(cfg);
}

static void test_config_include(void **state)
{
	(void)state;
	mkdir(tpath("conf.d"), 0700);
	write_file("conf.d/pool.ini", "pool_mode = transaction\n[databases]\nx = dbname=y\n");
	const char *ini = write_file("main_inc.ini", "[pgsift]\n"
						     "listen_port = 6001\n"
						     "%include conf.d/pool.ini\n"
						     "[pgsift]\n"
						     "default_pool_size = 3\n");
	Config *cfg = load_argv(ini, NULL);
	if (!cfg)
		fail_msg("%s", errbuf);
	assert_int_equal(cfg->pool_mode, POOL_TRANSACTION);
	assert_int_equal(cfg->default_pool_size, 3);
	assert_string_equal(config_find_db(cfg, "x")->dbname, "y");
	config_free(cfg);

	char expected[1024];
	write_file("loop.ini", "[pgsift]\n%include loop.ini\n");
	assert_null(load_argv(tpath("loop.ini"), NULL));
	assert_non_null(strstr(errbuf, "%include nested more than 10 deep (a loop?)"));
	assert_true(strncmp(errbuf, tpath("loop.ini"), strlen(tpath("loop.ini"))) == 0);

	write_file("inc_bad.ini", "[pgsift]\nlisten_port = x\n");
	snprintf(expected, sizeof(expected),
		 "%s:2: %%include: %s/./inc_bad.ini:2: listen_port: must be a port number "
		 "between 1 and 65535 (got 'x')",
		 tpath("inc_parent.ini"), tmpdir);
	assert_null(load_ini("inc_parent.ini", "[pgsift]\n%include ./inc_bad.ini\n"));
	assert_string_equal(errbuf, expected);

	snprintf(expected, sizeof(expected),
		 "%s:1: %%include: cannot open config file '%s/missing.ini': No such file or "
		 "directory",
		 tpath("inc_missing.ini"), tmpdir);
	assert_null(load_ini("inc_missing.ini", "%include missing.ini\n"));
	assert_string_equal(errbuf, expected);
}

typedef struct Seen {
	char keys[128][64];
	char values[128][256];
	char dflts[128][256];
	bool changeable[128];
	int n;
} Seen;

static void visit_cb(void *arg, const char *key, const char *value, const char *dflt,
		     bool changeable)
{
	Seen *s = arg;
	assert_true(s->n < 128);
	snprintf(s->keys[s->n], 64, "%s", key);
	snprintf(s->values[s->n], 256, "%s", value);
	snprintf(s->dflts[s->n], 256, "%s", dflt);
	s->changeable[s->n] = changeable;
	s->n++;
}

static int seen_find(const Seen *s, const char *key)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->keys[i], key) == 0)
			return i;
	fail_msg("SHOW CONFIG has no %s", key);
	return -1;
}

/* The fleet store's keys: the schema must be a plain identifier, SHOW CONFIG hides a DSN's
 * password in both forms. */
static void test_config_stats_dsn(void **state)
{
	(void)state;
	expect_error(
		"sd1.ini", "[pgsift]\nstats_dsn = host=x\nstats_dsn_schema = Fleet\n",
		"%s:3: stats_dsn_schema: stats_dsn_schema = 'Fleet' is not a plain "
		"identifier: use lower-case letters, digits and underscores (not starting with "
		"a digit), at most 63 bytes");
	expect_error(
		"sd2.ini", "[pgsift]\nstats_dsn_schema = a;drop\n",
		"%s:2: stats_dsn_schema: stats_dsn_schema = 'a;drop' is not a plain "
		"identifier: use lower-case letters, digits and underscores (not starting with "
		"a digit), at most 63 bytes");
	static const struct {
		const char *dsn, *shown;
	} cases[] = {
		{"host=x password=secret dbname=s", "host=x password=******** dbname=s"},
		{"host=x password = 'se cr\\'et' dbname=s", "host=x password=******** dbname=s"},
		{"postgresql://u:pw@h:5/db", "postgresql://u:********@h:5/db"},
		{"postgres://h/db?user=u&password=pw&sslmode=require",
		 "postgres://h/db?user=u&password=********&sslmode=require"},
		{"host=x dbname=s", "host=x dbname=s"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text),
			 "[pgsift]\nstats_dsn = %s\nstats_dsn_schema = fleet_1\nstats_instance = "
			 "web-3\nstats_dsn_backlog = 10\n",
			 cases[i].dsn);
		Config *cfg = load_ini("sd3.ini", text);
		assert_non_null(cfg);
		assert_string_equal(cfg->stats_dsn, cases[i].dsn);
		assert_string_equal(cfg->stats_dsn_schema, "fleet_1");
		assert_string_equal(cfg->stats_instance, "web-3");
		assert_int_equal(cfg->stats_dsn_backlog, 10);
		static Seen s;
		memset(&s, 0, sizeof(s));
		config_visit(cfg, visit_cb, &s);
		assert_string_equal(s.values[seen_find(&s, "stats_dsn")], cases[i].shown);
		config_free(cfg);
	}
}

static void test_config_show_config(void **state)
{
	(void)state;
	Config *cfg = load_realistic();
	assert_non_null(cfg);
	static Seen s;
	memset(&s, 0, sizeof(s));
	config_visit(cfg, visit_cb, &s);
	struct {
		const char *key, *value, *dflt;
		bool changeable;
	} want[] = {
		{"listen_addr", "127.0.0.1, ::1", "127.0.0.1", false},
		{"listen_port", "6543", "6432", false},
		{"unix_socket_mode", "0700", "0777", false},
		{"auth_type", "scram-sha-256", "trust", true},
		{"admin_users", "postgres,admin", "", true},
		{"pool_mode", "transaction", "session", true},
		{"query_timeout", "0.5", "0", true},
		{"idle_transaction_timeout", "10.25", "0", true},
		{"query_wait_timeout", "30", "120", true},
		{"server_reset_query_always", "1", "0", true},
		{"log_connections", "0", "1", true},
		{"max_packet_size", "1048576", "2147483647", true},
		{"log_level", "debug", "info", true},
		{"slow_query_ms", "250", "-1", true},
		{"stats_retention", "604800", "1209600", true},
		{"parser_cache_size", "16777216", "67108864", false},
		{"metrics_listen", "127.0.0.1:9127", "", false},
		{"dashboard_users", "", "", true},
		{"logfile", "/var/log/postgresql/pgbouncer.log", "", true},
		{"conffile", tpath("pgbouncer.ini"), "", true},
		{"user", "", "", false},
		{"service_name", "pgsift", "pgsift", false},
		{"syslog", "0", "0", true},
		{"syslog_ident", "pgsift", "pgsift", true},
		{"syslog_facility", "daemon", "daemon", true},
		{"log_pooler_errors", "1", "1", true},
		{"log_stats", "1", "1", true},
		{"stats_period", "60", "60", true},
		{"unix_socket_group", "", "", false},
		{"so_reuseport", "0", "0", false},
		{"tcp_defer_accept", "1", "1", false},
		{"tcp_socket_buffer", "0", "0", true},
		{"tcp_keepalive", "1", "1", true},
		{"tcp_keepcnt", "0", "0", true},
		{"tcp_keepidle", "0", "0", true},
		{"tcp_keepintvl", "0", "0", true},
		{"tcp_user_timeout", "0", "0", true},
		{"sbuf_loopcnt", "5", "5", true},
		{"server_round_robin", "0", "0", true},
		{"server_fast_close", "0", "0", true},
		{"disable_pqexec", "0", "0", true},
		{"max_db_client_connections", "0", "0", true},
		{"max_user_client_connections", "0", "0", true},
		{"track_extra_parameters", "IntervalStyle", "IntervalStyle", true},
		{"scram_iterations", "4096", "4096", true},
		{"peer_id", "0", "0", true},
		{"reserve_pool_timeout", "5", "5", true},
		{"query_wait_notify", "5", "5", true},
		{"suspend_timeout", "10", "10", true},
		{"autodb_idle_timeout", "3600", "3600", true},
		{"cancel_wait_timeout", "10", "10", true},
		{"dns_max_ttl", "15", "15", true},
		{"dns_nxdomain_ttl", "15", "15", true},
		{"dns_zone_check_period", "0", "0", true},
		{"resolv_conf", "", "", true},
		{"stats_dsn", "", "", true},
		{"stats_dsn_schema", "pgsift", "pgsift", true},
		{"stats_instance", "", "", true},
		{"stats_dsn_backlog", "100000", "100000", true},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int j = seen_find(&s, want[i].key);
		assert_string_equal(s.values[j], want[i].value);
		assert_string_equal(s.dflts[j], want[i].dflt);
		assert_int_equal(s.changeable[j], want[i].changeable);
	}
	/* verbose is folded into log_level and not listed twice. */
	for (int i = 0; i < s.n; i++) {
		assert_string_not_equal(s.keys[i], "verbose");
		assert_string_not_equal(s.keys[i], "job_name");
	}
	assert_int_equal(s.n, 117);
	config_free(cfg);
	assert_string_equal(pool_mode_str(POOL_TRANSACTION), "transaction");
	assert_string_equal(auth_type_str(AUTH_SCRAM), "scram-sha-256");
}

/* Every PgBouncer key pgsift took over from the "not supported" list, set to a value that is not
 * its default, lands in its field with PgBouncer's units. */
static void test_config_pgbouncer_keys(void **state)
{
	(void)state;
	log_reset();
	Config *cfg = load_ini("keys.ini", "[pgbouncer]\n"
					   "user = root\n"
					   "unix_socket_group = root\n"
					   "so_reuseport = 1\n"
					   "peer_id = 0\n"
					   "tcp_defer_accept = 0\n"
					   "tcp_socket_buffer = 64kB\n"
					   "tcp_keepalive = off\n"
					   "tcp_keepcnt = 4\n"
					   "tcp_keepidle = 30\n"
					   "tcp_keepintvl = 7\n"
					   "tcp_user_timeout = 2500\n"
					   "sbuf_loopcnt = 0\n"
					   "server_round_robin = 1\n"
					   "server_fast_close = yes\n"
					   "disable_pqexec = 1\n"
					   "max_db_client_connections = 40\n"
					   "max_user_client_connections = 30\n"
					   "track_extra_parameters = search_path, IntervalStyle\n"
					   "scram_iterations = 4096\n"
					   "reserve_pool_timeout = 0.5\n"
					   "query_wait_notify = 0\n"
					   "suspend_timeout = 3\n"
					   "autodb_idle_timeout = 1h\n"
					   "cancel_wait_timeout = 0\n"
					   "dns_max_ttl = 30\n"
					   "dns_nxdomain_ttl = 5\n"
					   "dns_zone_check_period = 60\n"
					   "log_pooler_errors = 0\n"
					   "log_stats = 0\n"
					   "stats_period = 2\n"
					   "syslog = 1\n"
					   "syslog_ident = pgb\n"
					   "syslog_facility = LOCAL3\n"
					   "job_name = jobs\n"
					   "conffile = /etc/pgsift/next.ini\n");
	if (!cfg)
		fail_msg("%s", errbuf);
	assert_string_equal(cfg->user, "root");
	assert_string_equal(cfg->unix_socket_group, "root");
	assert_true(cfg->so_reuseport);
	assert_int_equal(cfg->peer_id, 0);
	assert_int_equal(cfg->tcp_defer_accept, 0);
	assert_int_equal(cfg->tcp_socket_buffer, 65536);
	assert_false(cfg->tcp_keepalive);
	assert_int_equal(cfg->tcp_keepcnt, 4);
	assert_int_equal(cfg->tcp_keepidle, 30);
	assert_int_equal(cfg->tcp_keepintvl, 7);
	assert_int_equal(cfg->tcp_user_timeout, 2500);
	assert_int_equal(cfg->sbuf_loopcnt, 0);
	assert_true(cfg->server_round_robin);
	assert_true(cfg->server_fast_close);
	assert_true(cfg->disable_pqexec);
	assert_int_equal(cfg->max_db_client_connections, 40);
	assert_int_equal(cfg->max_user_client_connections, 30);
	assert_string_equal(cfg->track_extra_parameters[0], "search_path");
	assert_string_equal(cfg->track_extra_parameters[1], "IntervalStyle");
	assert_null(cfg->track_extra_parameters[2]);
	assert_int_equal(cfg->scram_iterations, 4096);
	assert_int_equal(cfg->reserve_pool_timeout, 500);
	assert_int_equal(cfg->query_wait_notify, 0);
	assert_int_equal(cfg->suspend_timeout, 3000);
	assert_int_equal(cfg->autodb_idle_timeout, 3600000);
	assert_int_equal(cfg->cancel_wait_timeout, 0);
	assert_int_equal(cfg->dns_max_ttl, 30000);
	assert_int_equal(cfg->dns_nxdomain_ttl, 5000);
	assert_int_equal(cfg->dns_zone_check_period, 60000);
	assert_false(cfg->log_pooler_errors);
	assert_false(cfg->log_stats);
	assert_int_equal(cfg->stats_period, 2000);
	assert_true(cfg->syslog);
	assert_string_equal(cfg->syslog_ident, "pgb");
	assert_string_equal(cfg->syslog_facility, "LOCAL3");
	assert_string_equal(cfg->service_name, "jobs"); /* job_name is its alias */
	/* conffile is what the next reload reads */
	assert_string_equal(cfg->config_file, "/etc/pgsift/next.ini");
	assert_string_equal(log_read(), "");
	config_free(cfg);

	/* Settings pgsift accepts but cannot follow all the way say so, once. */
	log_reset();
	cfg = load_ini("keys2.ini", "[pgbouncer]\n"
				    "resolv_conf = /etc/pgbouncer/resolv.conf\n"
				    "scram_iterations = 10000\n"
				    "peer_id = 3\n");
	if (!cfg)
		fail_msg("%s", errbuf);
	assert_string_equal(
		log_read(),
		"resolv_conf = /etc/pgbouncer/resolv.conf: pgsift resolves host names with the "
		"system resolver (getaddrinfo and /etc/resolv.conf) and does not read this file\n"
		"scram_iterations = 10000: pgsift derives SCRAM secrets for plain-text passwords "
		"with 4096 iterations\n"
		"peer_id = 3 is not in [peers]: the other processes cannot forward this one's "
		"cancel requests to it\n");
	config_free(cfg);
}

/* [peers]: PgBouncer's lines, sorted by id, a later line of an id replacing the earlier one,
 * port 6432 unless given; bad ids and a missing host are errors naming the line. */
static void test_config_peers(void **state)
{
	(void)state;
	log_reset();
	Config *cfg = load_ini("peers.ini", "[pgbouncer]\n"
					    "peer_id = 2\n"
					    "[peers]\n"
					    "3 = host=10.0.0.3 port=6500 pool_size=4\n"
					    "1 = host=/run/pgsift/1\n"
					    "2 = host=db-2.example port=6433\n"
					    "1 = host=/run/pgsift/one port=7000\n");
	if (!cfg)
		fail_msg("%s", errbuf);
	assert_string_equal(log_read(), "");
	assert_int_equal(cfg->peer_id, 2);
	assert_int_equal(cfg->n_peers, 3);
	static const struct {
		int id;
		const char *host;
		int port;
	} want[] = {{1, "/run/pgsift/one", 7000}, {2, "db-2.example", 6433}, {3, "10.0.0.3", 6500}};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(cfg->peers[i].id, want[i].id);
		assert_string_equal(cfg->peers[i].host, want[i].host);
		assert_int_equal(cfg->peers[i].port, want[i].port);
		assert_ptr_equal(config_find_peer(cfg, want[i].id), &cfg->peers[i]);
	}
	assert_null(config_find_peer(cfg, 4));
	config_free(cfg);

	cfg = load_ini("peers2.ini", "[pgbouncer]\n[peers]\n5 = host=/tmp\n");
	if (!cfg)
		fail_msg("%s", errbuf);
	assert_int_equal(cfg->peers[0].port, 6432);
	config_free(cfg);

	expect_error("peers3.ini", "[peers]\n0 = host=/tmp\n",
		     "%s:2: [peers]: '0' is not a peer_id (1..16383)");
	expect_error("peers4.ini", "[peers]\n16384 = host=/tmp\n",
		     "%s:2: [peers]: '16384' is not a peer_id (1..16383)");
	expect_error("peers5.ini", "[peers]\nx1 = host=/tmp\n",
		     "%s:2: [peers]: 'x1' is not a peer_id (1..16383)");
	expect_error("peers6.ini", "[peers]\n1 = port=6432\n",
		     "%s:2: [peers] 1: host= is required (an address, a host name or a Unix "
		     "socket directory)");
	expect_error("peers7.ini", "[peers]\n1 = host=/tmp port=0\n",
		     "%s:2: [peers] 1: port: must be a port number between 1 and 65535 (got '0')");
}

static void test_config_pgbouncer_key_errors(void **state)
{
	(void)state;
	expect_error("k1.ini", "[pgbouncer]\nsyslog_facility = local9\n",
		     "%s:2: syslog_facility: must be one of auth, authpriv, daemon, user, local0, "
		     "local1, local2, local3, local4, local5, local6, local7 (got 'local9')");
	expect_error("k2.ini", "[pgbouncer]\ntcp_keepcnt = 200\n",
		     "%s:2: tcp_keepcnt: must be an integer between 0 and 127 (got '200')");
	expect_error("k3.ini", "[pgbouncer]\ntcp_keepidle = -1\n",
		     "%s:2: tcp_keepidle: must be an integer between 0 and 32767 (got '-1')");
	expect_error("k4.ini", "[pgbouncer]\nstats_period = 0\n",
		     "%s:2: stats_period: must be a time in seconds greater than 0 (e.g. 30, 0.5, "
		     "500ms, 14d) (got '0')");
	expect_error("k5.ini", "[pgbouncer]\n\nuser = no-such-user-pgsift\n",
		     "%s:3: user: no such user 'no-such-user-pgsift'");
	expect_error("k6.ini", "[pgbouncer]\nunix_socket_group = no-such-group-pgsift\n",
		     "%s:2: unix_socket_group: no such group 'no-such-group-pgsift'");
	expect_error("k7.ini", "[pgbouncer]\ndisable_pqexec = sometimes\n",
		     "%s:2: disable_pqexec: must be a boolean (0/1, on/off, true/false, yes/no) "
		     "(got 'sometimes')");
	expect_error("k8.ini", "[pgbouncer]\npeer_id = 16384\n",
		     "%s:2: peer_id: must be an integer between 0 and 16383 (got '16384')");
	expect_error("k9.ini", "[pgbouncer]\nreserve_pool_timeout = soon\n",
		     "%s:2: reserve_pool_timeout: must be a time in seconds (e.g. 30, 0.5, 500ms, "
		     "14d) (got 'soon')");
	expect_error("k10.ini", "[pgbouncer]\ntcp_socket_buffer = 1TB\n",
		     "%s:2: tcp_socket_buffer: must be a size in bytes >= 0 (got '1TB')");
}

/*
 * The acceptance test: Debian's stock pgbouncer.ini (PgBouncer 1.18; a copy is in
 * tests/fixtures so that CI needs no pgbouncer package) with every ";key = value" line of
 * [pgbouncer] uncommented loads without one "not supported" or "unknown setting" warning, and
 * every key in it is listed by SHOW CONFIG (verbose and job_name as the keys they are aliases
 * of). Only auth_file is changed: it names a file that CI machines do not have.
 */
static void test_config_debian_every_key_uncommented(void **state)
{
	(void)state;
	const char *fixture = PGSIFT_SOURCE_DIR "/tests/fixtures/debian-pgbouncer.ini";
	FILE *in = fopen(fixture, "r");
	assert_non_null(in);
	const char *ul = write_file("debian-userlist.txt", "\"someuser\" \"secret\"\n");
	FILE *out = fopen(tpath("debian-all.ini"), "w");
	assert_non_null(out);
	static char keys[128][64];
	int n_keys = 0, n_lines = 0;
	bool main_section = false;
	char line[4096];
	while (fgets(line, sizeof(line), in)) {
		if (line[0] == '[')
			main_section = strncmp(line, "[pgbouncer]", 11) == 0;
		char key[64];
		int klen = 0;
		/* ";key = value" (";conffile" has no value and stays a comment, as PgBouncer
		 * would not read it either) */
		if (main_section && line[0] == ';' &&
		    sscanf(line + 1, "%63[a-z0-9_] =%n", key, &klen) == 1 && klen > 0) {
			memmove(line, line + 1, strlen(line));
			n_lines++;
		} else if (main_section && sscanf(line, "%63[a-z0-9_] =%n", key, &klen) == 1 &&
			   klen > 0) {
			n_lines++;
		} else {
			fputs(line, out);
			continue;
		}
		if (strcmp(key, "auth_file") == 0)
			fprintf(out, "auth_file = %s\n", ul);
		else
			fputs(line, out);
		bool dup = false;
		for (int i = 0; i < n_keys; i++)
			dup = dup || strcmp(keys[i], key) == 0;
		if (!dup && n_keys < 128)
			snprintf(keys[n_keys++], sizeof(keys[0]), "%s", key);
	}
	fclose(in);
	fclose(out);
	/* 81 keys; unix_socket_dir is written twice */
	assert_int_equal(n_keys, 81);
	assert_int_equal(n_lines, 82);

	log_reset();
	Config *cfg = load_argv("-c", tpath("debian-all.ini"), NULL);
	if (!cfg)
		fail_msg("%s", errbuf);
	const char *warnings = log_read();
	print_message("warnings:\n%s", warnings);
	assert_int_equal(count_of(warnings, "is not supported"), 0);
	assert_int_equal(count_of(warnings, "unknown setting"), 0);
	/* the uncommented values, spot-checked */
	assert_true(cfg->tcp_keepalive);
	assert_int_equal(cfg->tcp_defer_accept, 0);
	assert_int_equal(cfg->stats_period, 60000);
	assert_string_equal(cfg->syslog_ident, "pgbouncer");
	assert_string_equal(cfg->service_name, "pgbouncer");
	assert_string_equal(cfg->resolv_conf, "/etc/pgbouncer/resolv.conf");
	assert_int_equal(cfg->reserve_pool_timeout, 5000);
	assert_false(cfg->disable_pqexec);

	static Seen s;
	memset(&s, 0, sizeof(s));
	config_visit(cfg, visit_cb, &s);
	for (int i = 0; i < n_keys; i++) {
		const char *k = keys[i];
		if (strcmp(k, "verbose") == 0)
			k = "log_level";
		else if (strcmp(k, "job_name") == 0)
			k = "service_name";
		(void)seen_find(&s, k);
	}
	config_free(cfg);
}

/* Every facility syslog_facility accepts maps to syslog's own constant (the names config_load
 * lets through are exactly the ones log_set_syslog takes). */
static void test_config_syslog_facility(void **state)
{
	(void)state;
	const char *names[] = {"auth",	 "authpriv", "daemon", "user",	 "local0", "local1",
			       "local2", "local3",   "local4", "local5", "local6", "LOCAL7"};
	const int want[] = {LOG_AUTH,	LOG_AUTHPRIV, LOG_DAEMON, LOG_USER,
			    LOG_LOCAL0, LOG_LOCAL1,   LOG_LOCAL2, LOG_LOCAL3,
			    LOG_LOCAL4, LOG_LOCAL5,   LOG_LOCAL6, LOG_LOCAL7};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int f = -1;
		assert_true(log_syslog_facility(names[i], &f));
		assert_int_equal(f, want[i]);
	}
	int f;
	assert_false(log_syslog_facility("local8", &f));
	assert_int_equal(log_set_syslog(true, "pgsift-test", "kern"), -EINVAL);
	/* on and off again: lines keep going to the file meanwhile */
	assert_int_equal(log_set_syslog(true, "pgsift-test", "local7"), 0);
	log_reset();
	log_warn("to syslog too");
	assert_int_equal(log_set_syslog(false, NULL, NULL), 0);
	assert_string_equal(log_read(), "to syslog too\n");
}

static void test_config_units_and_booleans(void **state)
{
	(void)state;
	Config *cfg = load_ini("units.ini", "[pgsift]\n"
					    "stats_retention = 24h\n"
					    "server_lifetime = 5min\n"
					    "query_timeout = 500ms\n"
					    "client_idle_timeout = 1w\n"
					    "server_idle_timeout = 90 s\n"
					    "query_wait_timeout = 0.0001\n"
					    "stats_flush_interval = 1.5\n"
					    "parser_cache_size = 512kB\n"
					    "max_packet_size = 1MB\n"
					    "log_connections = no\n"
					    "log_disconnections = FALSE\n"
					    "log_parameters = 1\n"
					    "server_reset_query_always = True\n"
					    "application_name_add_host = off\n"
					    "slow_query_ms = 1s\n");
	if (!cfg)
		fail_msg("%s", errbuf);
	assert_int_equal(cfg->stats_retention, 86400000);
	assert_int_equal(cfg->server_lifetime, 300000);
	assert_int_equal(cfg->query_timeout, 500);
	assert_int_equal(cfg->client_idle_timeout, 7ULL * 86400000);
	assert_int_equal(cfg->server_idle_timeout, 90000);
	/* A positive time never rounds down to 0, which would mean "disabled". */
	assert_int_equal(cfg->query_wait_timeout, 1);
	assert_int_equal(cfg->stats_flush_interval, 1500);
	assert_int_equal(cfg->parser_cache_bytes, 512 * 1024);
	assert_int_equal(cfg->max_packet_size, 1024 * 1024);
	assert_false(cfg->log_connections);
	assert_false(cfg->log_disconnections);
	assert_true(cfg->log_parameters);
	assert_true(cfg->server_reset_query_always);
	assert_false(cfg->application_name_add_host);
	assert_int_equal(cfg->slow_query_ms, 1000);
	config_free(cfg);
}

/* Garbage must give an error or a Config, never a crash or a leak (ASan checks the latter). */
static void test_config_garbage_files(void **state)
{
	(void)state;
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	static unsigned char buf[64 * 1024];
	for (int round = 0; round < 50; round++) {
		size_t n = 1 + (size_t)(round * 1297) % sizeof(buf);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (unsigned char)x;
			/* Half the rounds: printable noise with '=', '[', quotes and newlines. */
			if (round % 2)
				buf[i] = (unsigned char)(" =[]'\"\\;#%\nabc_=\n*,:/?&"[x % 24]);
		}
		write_bytes("garbage.ini", buf, n);
		Config *cfg = load_argv(tpath("garbage.ini"), NULL);
		config_free(cfg);
		cfg = load_argv("--auth-type", "md5", "--auth-file", tpath("garbage.ini"), NULL);
		config_free(cfg);
	}
	/* A line over 1 MiB is refused by line number. */
	size_t big = 2 * 1024 * 1024;
	char *huge = malloc(big + 16);
	assert_non_null(huge);
	memcpy(huge, "[pgsift]\nx=", 11);
	memset(huge + 11, 'a', big);
	huge[big + 11] = '\n';
	write_bytes("huge.ini", huge, big + 12);
	free(huge);
	assert_null(load_argv(tpath("huge.ini"), NULL));
	char expected[600];
	snprintf(expected, sizeof(expected), "%s:2: line longer than 1 MiB", tpath("huge.ini"));
	assert_string_equal(errbuf, expected);
	write_bytes("nul.ini", "[pgsift]\nlisten_port\0= 1\n", 24);
	assert_null(load_argv(tpath("nul.ini"), NULL));
	snprintf(expected, sizeof(expected), "%s:2: line contains a NUL byte (binary file?)",
		 tpath("nul.ini"));
	assert_string_equal(errbuf, expected);
}

/* ---------------------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	/* The tests set PGSIFT_* themselves; a developer's own must not leak in. */
	char *names[64];
	int n = 0;
	for (char **e = environ; *e && n < 64; e++) {
		if (strncmp(*e, "PGSIFT_", 7) == 0) {
			size_t l = strcspn(*e, "=");
			names[n++] = strndup(*e, l);
		}
	}
	for (int i = 0; i < n; i++) {
		unsetenv(names[i]);
		free(names[i]);
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgsift-test-config-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
	return log_init(LL_INFO, logpath);
}

static int group_teardown(void **state)
{
	(void)state;
	log_init(LL_INFO, NULL);
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_realistic_pgbouncer_ini),
		cmocka_unit_test(test_config_stock_debian_file),
		cmocka_unit_test(test_config_precedence_file_env_flags),
		cmocka_unit_test(test_config_all_flags),
		cmocka_unit_test(test_config_parse_args),
		cmocka_unit_test(test_config_upstream_replaces_star),
		cmocka_unit_test(test_config_databases_forms),
		cmocka_unit_test(test_config_userlist),
		cmocka_unit_test(test_config_userlist_errors),
		cmocka_unit_test(test_config_main_section_errors),
		cmocka_unit_test(test_config_stats_dsn),
		cmocka_unit_test(test_config_database_errors),
		cmocka_unit_test(test_config_trust_refused_off_loopback),
		cmocka_unit_test(test_config_unknown_keys_warn_once),
		cmocka_unit_test(test_config_include),
		cmocka_unit_test(test_config_show_config),
		cmocka_unit_test(test_config_pgbouncer_keys),
		cmocka_unit_test(test_config_pgbouncer_key_errors),
		cmocka_unit_test(test_config_peers),
		cmocka_unit_test(test_config_debian_every_key_uncommented),
		cmocka_unit_test(test_config_syslog_facility),
		cmocka_unit_test(test_config_units_and_booleans),
		cmocka_unit_test(test_config_garbage_files),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
