/*
 * parser: everything pgsift knows about a statement's text. The only module that includes
 * pg_query.h; no PgQuery* type leaves it.
 *
 * Two kinds of callers:
 *  - the stats worker, which owns a ParserCache and asks it about every statement it is told of
 *    (parser_cache_lookup); the cache answers from its XXH3-keyed table without touching
 *    libpg_query whenever it can;
 *  - the event loop, which must stay cheap: parser_hot_kind() only looks at the first keyword
 *    (no allocation, no libpg_query), and only for the few kinds the proxy must understand to
 *    pool correctly (SET, RESET, PREPARE, DEALLOCATE, DISCARD, LISTEN...) does it then call
 *    parser_session_commands().
 *
 * Threads: a ParserCache belongs to one thread. parser_hot_kind() and parser_session_commands()
 * keep no state and may be called from any thread (libpg_query's memory is per thread).
 *
 * This header is the module's whole API. The shape types are defined in parser/shape.h.
 */
#ifndef PGSIFT_PARSER_H
#define PGSIFT_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct QueryShape QueryShape; /* parser/shape.h */
typedef struct ParserCache ParserCache;

typedef enum {
	SK_UNPARSED = 0, /* the text did not parse; fingerprint is still stable */
	SK_SELECT,
	SK_INSERT,
	SK_UPDATE,
	SK_DELETE,
	SK_MERGE,
	SK_COPY,
	SK_DDL,
	SK_TRANSACTION, /* BEGIN, COMMIT, ROLLBACK, SAVEPOINT... */
	SK_SET,
	SK_RESET,
	SK_SHOW,
	SK_PREPARE,
	SK_EXECUTE,
	SK_DEALLOCATE,
	SK_DISCARD,
	SK_LISTEN,
	SK_UNLISTEN,
	SK_NOTIFY,
	SK_UTILITY, /* any other utility statement (VACUUM, EXPLAIN, CALL, DO...) */
	SK_EMPTY,   /* only whitespace / comments */
	SK__COUNT
} StmtKind;

const char *stmt_kind_str(StmtKind kind);

/* What the cache knows of one statement. Valid until the next call on the same cache. */
typedef struct ParsedStatement {
	uint64_t fingerprint; /* pg_query_fingerprint's 64-bit value */
	StmtKind kind;
	bool read_only;		/* true for SELECT without locking clauses / writes, SHOW... */
	const char *normalized; /* $n in place of constants, cut at the cache's text limit */
	size_t normalized_len;
	const QueryShape *shape; /* NULL when the kind has none (utility, unparsed); positions in it
				  * are offsets in the text given to parser_cache_lookup */
	size_t stmt_offset;	 /* this statement's bytes within the looked-up text */
	size_t stmt_len;
} ParsedStatement;

/*
 * A cache owned by one thread (the stats worker): it is not thread-safe, and what it returns is
 * valid until the next call on it. mem_cap bounds the bytes held (least recently used entries are
 * evicted); text_max is the length the normalized text is cut at.
 */
ParserCache *parser_cache_new(size_t mem_cap, size_t text_max);
void parser_cache_free(ParserCache *cache);

/*
 * Answers for the text, which may hold several statements (`SELECT 1; UPDATE ...`): fills up to
 * max entries of out (one per statement, in order) and returns how many statements the text has
 * (which may be more than max). A text that does not parse gives one SK_UNPARSED entry with a
 * stable fingerprint. Never fails on any input.
 */
size_t parser_cache_lookup(ParserCache *cache, const char *text, size_t len, ParsedStatement *out,
			   size_t max);

typedef struct ParserCacheStats {
	uint64_t exact_hits; /* XXH3 of the exact text */
	uint64_t const_hits; /* token hash with constants left out */
	uint64_t misses;     /* went to libpg_query */
	uint64_t evictions;
	size_t entries;
	size_t bytes;
} ParserCacheStats;
void parser_cache_stats(const ParserCache *cache, ParserCacheStats *out);

/*
 * pg_query_fingerprint of text, without any cache (tests and tools compare against it). False
 * when libpg_query gives no fingerprint (the text does not parse). A text that does not parse
 * gets, from the cache, XXH3_64bits of its exact bytes as its stable fingerprint.
 */
bool parser_fingerprint(const char *text, size_t len, uint64_t *out)
	__attribute__((warn_unused_result));

/*
 * Hot path. Looks only at the first keyword of text (after whitespace and comments) and returns
 * one of SK_SET, SK_RESET, SK_PREPARE, SK_EXECUTE, SK_DEALLOCATE, SK_DISCARD, SK_LISTEN,
 * SK_UNLISTEN, SK_TRANSACTION (BEGIN/START/COMMIT/END/ROLLBACK/ABORT), SK_EMPTY, or SK_UNPARSED
 * for anything else. No allocation, no libpg_query; safe from any thread.
 */
StmtKind parser_hot_kind(const char *text, size_t len);

/*
 * Hot path. Whether text may change session state that the proxy must track (it then calls
 * parser_session_commands): SET, RESET, DISCARD, DEALLOCATE, PREPARE, LISTEN, UNLISTEN, CREATE
 * TEMP..., DECLARE ... WITH HOLD, CLOSE, LOAD, SELECT ... INTO TEMP, a call of set_config or of
 * an advisory-lock function anywhere, or several statements one of which may be any of those.
 * False positives only cost a parse; it must never say false for a statement that does. No
 * allocation, no libpg_query; a few memchr over the text.
 */
bool parser_hot_session_hint(const char *text, size_t len);

/*
 * What a SET / RESET / DISCARD / DEALLOCATE / PREPARE statement asks for, and every other change
 * of session state listed in SessionCommandKind, parsed with libpg_query (the proxy calls this
 * only for texts parser_hot_session_hint() flagged). One text may hold several statements; each
 * one gives at least one entry, in order (stmt_no). Strings are owned by the SessionCommands and
 * freed by parser_session_commands_free().
 */
typedef enum {
	SC_OTHER = 0,	   /* not one of the below (or a SET LOCAL / SET inside a function...) */
	SC_SET,		   /* SET name = value / SET name TO value / SET TIME ZONE ... */
	SC_SET_LOCAL,	   /* SET LOCAL: lasts until the end of the transaction only */
	SC_RESET,	   /* RESET name */
	SC_RESET_ALL,	   /* RESET ALL */
	SC_DISCARD_ALL,	   /* DISCARD ALL */
	SC_DEALLOCATE,	   /* DEALLOCATE [PREPARE] name */
	SC_DEALLOCATE_ALL, /* DEALLOCATE ALL */
	SC_PREPARE,	   /* PREPARE name [(types)] AS statement */
	SC_EXECUTE,	   /* EXECUTE name [(args)] */
	SC_LISTEN,
	SC_UNLISTEN,
	SC_SET_CONFIG,	/* set_config(name, value, false) with constants: value is the raw
			    * string (as `options -c` takes it), not SQL */
	SC_TEMP_OBJECT, /* CREATE TEMP TABLE/VIEW/SEQUENCE, SELECT INTO TEMP (not ON COMMIT DROP) */
	SC_DISCARD_TEMP,	/* DISCARD TEMP */
	SC_ADVISORY_LOCK,	/* a call of a session-level pg_[try_]advisory_lock[_shared] */
	SC_ADVISORY_UNLOCK_ALL, /* a call of pg_advisory_unlock_all() */
	SC_HOLD_CURSOR,		/* DECLARE name ... WITH HOLD */
	SC_CLOSE,		/* CLOSE name */
	SC_CLOSE_ALL,		/* CLOSE ALL */
	SC_UNTRACKED, /* session state pgsift cannot restate: set_config(...) whose arguments
			    * are not constants (parameters, expressions) */
} SessionCommandKind;

typedef struct SessionCommand {
	SessionCommandKind kind;
	char *name; /* GUC name lower-cased (SET/RESET), or statement name (PREPARE/EXECUTE/DEALLOCATE), or channel */
	char *value; /* SET: the value as the server would print it in SQL, e.g. `'UTC'` or `10s`,
		      * ready to be sent back as `SET name TO <value>`; PREPARE: the statement text */
	size_t stmt_offset; /* where this statement is in the text (bytes) */
	size_t stmt_len;
	size_t stmt_no; /* which statement of the text (0-based); a statement gives one entry,
			     * or several when it does several things (SET SESSION
			     * CHARACTERISTICS..., two set_config calls) */
} SessionCommand;

typedef struct SessionCommands {
	SessionCommand *items;
	size_t n;
	bool parse_error; /* the text did not parse: the server will report the error itself */
} SessionCommands;

bool parser_session_commands(const char *text, size_t len, SessionCommands *out)
	__attribute__((warn_unused_result));
void parser_session_commands_free(SessionCommands *cmds);

#endif
