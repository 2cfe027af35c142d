/*
 * server: one connection to PostgreSQL. It logs in (trust, cleartext, md5, SCRAM-SHA-256 with a
 * password or pass-through keys), keeps the parameters the server reports, and, while a client
 * is linked, forwards the server's frames to it. It keeps the ordered queue of responses the
 * server still owes (for requests forwarded from the client or injected by pgsift), which tells
 * when a statement ends (for its timing and statistics event), which responses are pgsift's own
 * (not forwarded), and when the server is back at ReadyForQuery with nothing outstanding.
 */
#ifndef PGSIFT_SERVER_H
#define PGSIFT_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/conn.h"
#include "util/list.h"
#include "proxy/prepared.h"
#include "proxy/types.h"
#include "proxy/stmtmap.h"
#include "proxy/varcache.h"

typedef enum {
	SV_CONNECTING = 0, /* TCP / Unix connect in progress */
	SV_LOGIN,	   /* startup and authentication */
	SV_IDLE,	   /* in the pool, no client */
	SV_ACTIVE,	   /* linked to a client */
	SV_USED,	   /* released; reset query / rollback in flight */
	SV_CLOSING,
} ServerState;

const char *server_state_str(ServerState st);

/* One request the server still owes a response to. */
typedef struct Pending {
	uint8_t type; /* PQ_MSG_QUERY, PARSE, BIND, DESCRIBE, EXECUTE, CLOSE, SYNC, FUNCTION_CALL */
	uint8_t local;	     /* PL_*: answered by pgsift itself when it reaches the front */
	uint16_t flags;	     /* PF_* */
	uint16_t stmt_index; /* simple query: statements completed so far */
	uint32_t text_off;   /* statement text in Server.texts (QUERY, EXECUTE) */
	uint32_t text_len;
	uint32_t name_off; /* PARSE: the client's statement name in Server.texts */
	uint32_t name_len;
	uint64_t stmt_id;    /* PARSE: the PreparedStmt it prepares on this server, 0 if none */
	uint32_t params_off; /* EXECUTE: its Bind parameters as text, '\0'-separated, in texts */
	uint32_t params_len;
	uint16_t n_params;
	uint64_t sent_ns;	      /* when it went to the server */
	uint64_t stmt_start_ns;	      /* when the current statement of it started */
	struct SessionCommands *cmds; /* SET/RESET/... in it, applied on success (owned) */
	PreparedStmt *stmt; /* BIND / DESCRIBE of a client's statement: it, with a reference */
} Pending;

/* Responses pgsift gives itself, in order with the server's. */
enum {
	PL_NONE = 0,
	PL_PARSE_COMPLETE, /* the server already has the statement */
	PL_CLOSE_COMPLETE, /* Close of a client's statement name */
	PL_DEALLOCATE,	   /* SQL DEALLOCATE of a protocol-level name: CommandComplete + RFQ */
	/* the same DEALLOCATE sent with the extended protocol (psycopg 3 evicting its cache):
	 * every message of the unnamed statement is answered by pgsift */
	PL_BIND_COMPLETE,
	PL_NO_DATA,	      /* Describe of the portal */
	PL_STATEMENT_NO_DATA, /* Describe of the statement: no parameters, no rows */
	PL_EXEC_DEALLOCATE,   /* Execute: the client's name goes, CommandComplete */
};

enum {
	PF_INJECTED = 1,  /* pgsift's own request: its responses are not forwarded */
	PF_ERROR = 2,	  /* an ErrorResponse came for it */
	PF_COPY = 4,	  /* a COPY is in progress for it */
	PF_TIMED_OUT = 8, /* cancelled by query_timeout: the client's error says so */
	PF_DUP_NAME = 16, /* a deliberately failing Parse standing for "already exists" */
	PF_CANCEL_SENT = 32,
	PF_LISTEN_REFUSED = 64, /* a deliberately failing Parse standing for LISTEN's refusal */
	PF_OVERDUE = 128,	/* seen past query_timeout once; cancelled if still so next tick */
	PF_TOO_LONG = 256, /* a deliberately failing Parse standing for "too long to re-prepare" */
	PF_SHAPE_CHECK = 512,	  /* pgsift's Describe of a statement it prepared again: the client
				 * waits for the result shape (client_shape_known) */
	PF_RESULT_CHANGED = 1024, /* a deliberately failing Parse standing for 0A000 "cached plan
				   * must not change result type" */
};

struct Server {
	Conn conn;	    /* first: a Conn* is a Server* */
	ListNode pool_node; /* in one of the pool's server lists */
	ListNode all_node;  /* in G.servers */
	ServerState state;
	Pool *pool;
	Client *client; /* linked client, or NULL */

	uint32_t be_pid; /* the server's BackendKeyData */
	uint32_t be_key;
	uint8_t tx_state;     /* last ReadyForQuery status */
	VarCache params;      /* what the server reported, or pgsift set on it */
	uint64_t applied_sig; /* signature of the client parameters last applied here; 0 once
			       * anything else changed the server's session */

	Pending *queue; /* ring of outstanding requests (owned) */
	uint32_t q_head, q_len, q_cap;
	bool ext_error; /* an error in extended protocol: the server skips to the next Sync */
	uint8_t *texts; /* statement texts of the queue's requests (owned) */
	uint32_t texts_len;
	size_t texts_cap;
	uint64_t last_done_ns; /* when the last statement completed (pipelined timing) */
	PreparedSet stmts;     /* protocol-level statements prepared under pgsift's names */
	StmtMap *sql_prepared; /* SQL-level PREPARE name -> statement text on this server (owned) */
	uint32_t cancels_in_flight; /* CancelRequests not yet delivered: do not change hands
				     * (cancel.c) */

	uint64_t connect_ms;   /* when the connection was opened */
	uint64_t last_used_ms; /* when it last went idle */
	bool close_needed;     /* close instead of reusing (lifetime, reload, failure) */
	bool needs_reset;      /* holds state of its client's that no other client may see
				* (client.c's pins): DISCARD ALL before it changes hands */
	void *scram;	       /* ScramClient during login (owned) */
	char *password;	       /* towards the server during login (owned) */
	uv_connect_t connect_req;
	uv_getaddrinfo_t gai;
	bool gai_active; /* a lookup is in flight: free only after its callback */
	bool free_after_gai;
	List *list; /* which pool list pool_node is in (owned by pool.c) */
	uint64_t login_deadline_ms;
	char addr_str[64];
	int port;
};

/* Starts a new connection for the pool. NULL when out of memory. */
Server *server_launch(Pool *p);

/* Links / unlinks a client (the conn peers are set both ways); pool.c changes the states. */
void server_link(Server *s, Client *c);
void server_unlink(Server *s);

/* Whether the server has answered everything it was sent. */
static inline bool server_is_quiet(const Server *s)
{
	return s->q_len == 0;
}

/* Records a request forwarded from the client (or injected) that the server will answer.
 * text may be NULL. Returns the entry, valid until the next call, or NULL when memory ran out.
 * server_expect_local records a response pgsift gives itself, in order (name: the client's
 * statement name for PL_PARSE_COMPLETE, else NULL); false when memory ran out. */
Pending *server_expect(Server *s, uint8_t type, uint16_t flags, const char *text, size_t text_len)
	__attribute__((warn_unused_result));
bool server_expect_local(Server *s, uint8_t local, const char *name)
	__attribute__((warn_unused_result));
/* Keeps the Bind parameters of an Execute for its statistics event. */
bool server_expect_params(Server *s, Pending *p, const char *params, size_t len, uint16_t n)
	__attribute__((warn_unused_result));
/* Keeps a name next to the entry's text (for rolling back a failed Parse). */
bool server_expect_name(Server *s, Pending *p, const char *name)
	__attribute__((warn_unused_result));

/* Sends pgsift's own frame (already built) for an injected request of the given type. */
bool server_send_injected_frame(Server *s, uint8_t type, PktBuf *frame, uint64_t stmt_id)
	__attribute__((warn_unused_result));

/* query_timeout: cancels what the server runs when it has run too long. */
void server_check_timeout(Server *s, uint64_t now_ns, uint64_t timeout_ns);

/* The client sent Sync after an error: the server answers it again. */
void server_client_sync(Server *s);

/* Sends pgsift's own query; its responses are swallowed. Returns false on failure. */
bool server_send_injected(Server *s, const char *sql) __attribute__((warn_unused_result));

/* Whether the server still owes a response to one of its client's own requests (not to
 * pgsift's injected ones, nor one pgsift answers itself): what a client's cancel may hit. */
bool server_runs_client_request(const Server *s);

/* Closes with a log line. */
void server_close(Server *s, const char *reason);

#endif
