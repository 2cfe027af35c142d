/*
 * admin_internal: what the files of the admin console share. admin.c holds the command table
 * (one row per command: its words, whether it needs admin_users, its handler and its line in
 * SHOW HELP), the dispatch, login, and the helpers every answer is built with;
 * admin_pgbouncer.c the commands PgBouncer has, answered byte for byte as PgBouncer 1.18 does
 * (its exporters depend on them); admin_pgsift.c pgsift's own (SHOW QUERIES, SHOW SLOW,
 * SHOW SUGGESTIONS, RESET STATS). Every protocol message is written by proto.c's pq_write_*.
 */
#ifndef PGSIFT_ADMIN_INTERNAL_H
#define PGSIFT_ADMIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/admin.h"
#include "proxy/proto.h"

#define PGSIFT_VERSION_STRING "pgsift 0.1.0"
#define ADMIN_DB "pgsift"
#define ADMIN_MAX_WORDS 4
#define ADMIN_WORD_MAX 128
#define ADMIN_MAX_COLS 32
#define ADMIN_VAL_MAX 64

enum {
	OID_BOOL = 16,
	OID_INT8 = 20,
	OID_INT4 = 23,
	OID_TEXT = 25,
	OID_FLOAT8 = 701,
	OID_NUMERIC = 1700
};

typedef struct AdminCol {
	const char *name;
	uint32_t oid;
} AdminCol;

/* One DataRow being built: values point either into buf or at strings that outlive the row. */
typedef struct AdminRow {
	const char *v[ADMIN_MAX_COLS];
	char buf[ADMIN_MAX_COLS][ADMIN_VAL_MAX];
	size_t n;
} AdminRow;

/* The command split into words: words[0] is the verb; the rest as written (double-quoted
 * identifiers unquoted). */
typedef struct AdminCmd {
	char words[ADMIN_MAX_WORDS][ADMIN_WORD_MAX];
	size_t n;
	bool too_many;
	char text[256]; /* the command as written, for error messages */
} AdminCmd;

/*
 * One row of the command table. A command matches when its first word is verb, its second is
 * object (when object is set) and it has min_words to max_words words (case does not matter).
 * Exactly one of show and run is set: show for the SHOW commands, which only write their answer;
 * run for the others, which may look at the words and the client, and return false when the
 * answer is not ready yet (SHOW SUGGESTIONS: the same Query comes back later, admin_frame).
 * help is the command's line in SHOW HELP, NULL when another row's line names it.
 */
typedef struct AdminCommand {
	const char *verb;
	const char *object;
	uint8_t min_words, max_words;
	bool needs_admin; /* admin_users only; stats_users get 42501 */
	void (*show)(PktBuf *b);
	bool (*run)(Client *c, const AdminCmd *cmd, PktBuf *b);
	const char *help;
} AdminCommand;

/* The command table, in SHOW HELP's order, ended by a row with verb NULL. */
extern const AdminCommand admin_commands[];

/* admin.c: parsing and lookup. admin_parse is false for an empty command; admin_find_command
 * gives the row cmd matches, or NULL; admin_verb_known whether any row has cmd's verb. */
bool admin_parse(const char *sql, AdminCmd *cmd);
const AdminCommand *admin_find_command(const AdminCmd *cmd);
const AdminCommand *admin_find_verb(const AdminCmd *cmd);
/* The text of SHOW HELP's notice detail (the rows' help lines), into buf. */
void admin_help_text(char *buf, size_t cap);

/* admin.c: answers. */
void admin_describe(PktBuf *b, const AdminCol *cols, size_t n);
void admin_error(PktBuf *b, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void admin_row_str(AdminRow *r, const char *s);
void admin_row_fmt(AdminRow *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void admin_row_u64(AdminRow *r, uint64_t v);
void admin_row_ms(AdminRow *r, double v);
/* A monotonic millisecond stamp as PgBouncer prints times: "2024-01-31 12:00:00 UTC". */
void admin_row_mono_time(AdminRow *r, uint64_t mono_ms);
/* Wall-clock microseconds as PostgreSQL prints a timestamptz in ISO style, in UTC. */
void admin_row_iso_time(AdminRow *r, int64_t wall_us);
void admin_row_send(PktBuf *b, AdminRow *r);

/* admin.c: names. */
bool admin_is_admin(const Client *c);
bool admin_is_admin_db(const char *name);
/* Whether a database name is known: a [databases] entry of that name, a pool for it, or (when
 * with_fallback) any name at all while a `*` entry would serve it. */
bool admin_db_known(const char *name, bool with_fallback);
/* The database names SHOW DATABASES and SHOW STATS list: every named [databases] entry, then
 * every database a pool was made for through `*`, in that order, without repeats. The array and
 * its strings are borrowed (from the Config and the pools); the caller frees only the array. */
const char **admin_db_names(size_t *count);
/* Commands the console answered, for its pseudo database's row in SHOW STATS. */
uint64_t admin_query_count(void);

/* admin_pgbouncer.c */
void admin_show_version(PktBuf *b);
void admin_show_pools(PktBuf *b);
void admin_show_stats(PktBuf *b);
void admin_show_stats_totals(PktBuf *b);
void admin_show_stats_averages(PktBuf *b);
void admin_show_totals(PktBuf *b);
void admin_show_clients(PktBuf *b);
void admin_show_servers(PktBuf *b);
void admin_show_databases(PktBuf *b);
void admin_show_users(PktBuf *b);
void admin_show_config(PktBuf *b);
void admin_show_lists(PktBuf *b);
void admin_show_peers(PktBuf *b);
bool admin_pause(Client *c, const AdminCmd *cmd, PktBuf *b);
bool admin_resume(Client *c, const AdminCmd *cmd, PktBuf *b);
bool admin_kill(Client *c, const AdminCmd *cmd, PktBuf *b);
bool admin_reload(Client *c, const AdminCmd *cmd, PktBuf *b);
bool admin_shutdown(Client *c, const AdminCmd *cmd, PktBuf *b);

/* admin_pgsift.c */
void admin_show_queries(PktBuf *b);
void admin_show_slow(PktBuf *b);
bool admin_show_suggestions(Client *c, const AdminCmd *cmd, PktBuf *b);
bool admin_reset_stats(Client *c, const AdminCmd *cmd, PktBuf *b);

#endif
