/*
 * client: one application connection. It reads the startup packet (answering SSLRequest and
 * GSSENCRequest with 'N', handing CancelRequests to cancel.c), authenticates (trust, md5, SCRAM-SHA-256
 * against auth_file), greets the client with its own BackendKeyData, and then forwards its
 * frames to the server the pool gives it, recording each request in the server's queue.
 */
#ifndef PGSIFT_CLIENT_H
#define PGSIFT_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/conn.h"
#include "util/list.h"
#include "proxy/types.h"
#include "proxy/prepared.h"
#include "proxy/stmtmap.h"
#include "proxy/varcache.h"

typedef enum {
	CL_STARTUP = 0, /* waiting for the startup packet */
	CL_AUTH,	/* authentication exchange */
	CL_LOGIN_WAIT,	/* authenticated, waiting for the pool's welcome parameters */
	CL_IDLE,	/* logged in, no server */
	CL_WAITING,	/* needs a server, queued in the pool */
	CL_ACTIVE,	/* linked to a server */
	CL_ADMIN,	/* admin console */
	CL_CLOSING,
} ClientState;

const char *client_state_str(ClientState st);

struct Client {
	Conn conn;	    /* first: a Conn* is a Client* */
	ListNode pool_node; /* in one of the pool's client lists */
	ListNode all_node;  /* in G.clients */
	ClientState state;
	Pool *pool;
	Server *server; /* linked server, or NULL */

	char *user;	   /* owned */
	char *dbname;	   /* owned */
	char *app_name;	   /* owned, may be NULL */
	VarCache params;   /* what the client asked for: startup parameters, options -c, SET */
	bool params_dirty; /* params changed since they were last applied to a server */

	uint32_t cancel_pid; /* the BackendKeyData pgsift gave this client */
	uint32_t cancel_key;
	ListNode cancel_node;  /* in the proxy's cancel-key table */
	List *list;	       /* which pool list pool_node is in (owned by pool.c) */
	PreparedNames *named;  /* protocol-level statement names -> statements (owned) */
	StmtMap *sql_prepared; /* SQL-level PREPARE name -> its PREPARE text (owned) */
	char *portal_stmt;     /* statement name bound to the unnamed portal (owned) */
	char *unnamed_text;    /* the unnamed statement's text (owned) */
	size_t unnamed_cap;
	struct SessionCommands *unnamed_cmds; /* SET... in the unnamed statement (owned) */
	bool local_sync;	 /* without a server, pgsift answered the messages since the last
			     * Sync itself (client_extended_without_server): it answers the Sync */
	bool unnamed_local;	 /* the unnamed statement is a DEALLOCATE of one of the client's
			     * protocol-level names, answered by pgsift (PL_EXEC_DEALLOCATE) */
	VarCache startup_params; /* what RESET ALL / DISCARD ALL go back to; copied from params
				  * only when params first change (startup_saved) */
	bool startup_saved;
	VarCache tx_params;	   /* SET/RESET inside the open transaction, applied at COMMIT */
	VarCache reported_resets;  /* reported parameters RESET to their startup value: applied at
				   * ReadyForQuery, after the server's own ParameterStatus */
	uint8_t pins;		   /* PIN_*: session state that keeps the client on its server */
	uint8_t pins_pending;	   /* what pins will be if the open transaction commits */
	bool tx_failed;		   /* the open transaction's last statement failed or rolled back */
	StmtMap *held_cursors;	   /* names of its cursors WITH HOLD (owned, values unused) */
	StmtMap *shapes;	   /* protocol-level name -> the result shape the client was told
				  * (a Describe answered), as 16 hex digits (owned) */
	bool shape_wait;	   /* its Bind waits for pgsift's Describe (PF_SHAPE_CHECK) */
	bool shape_retry;	   /* that Describe is answered: the Bind is delivered again */
	bool in_tx;		   /* an explicit transaction block is open */
	uint64_t tx_idle_since_ms; /* idle inside a transaction since, 0 if not */
	uint64_t tx_start_ms;	   /* when the open transaction block began */
	char *bind_params; /* the unnamed portal's Bind parameters as text, when sampled (owned) */
	size_t bind_params_len, bind_params_cap;
	uint16_t bind_n_params;
	uint32_t bind_count; /* Binds seen, for sampling one in BIND_SAMPLE_EVERY */

	uint8_t auth_step; /* where the authentication exchange is */
	uint8_t md5_salt[4];
	void *scram;	   /* ScramServer during authentication (owned) */
	char *auth_secret; /* the secret auth_query found for a user not in auth_file */
	struct AuthLookup *auth_lookup; /* auth_query in flight (authquery.h) */

	uint64_t connect_ms;
	uint64_t wait_start_ms; /* when it started waiting for a server, 0 if not */
	bool wait_notified;	/* told it is queued (query_wait_notify) during this wait */
	/* texts known to change no session state (client_parse_session_quiet): XXH3 and length,
	 * direct-mapped by the hash; 0 length = empty slot */
	struct {
		uint64_t hash;
		uint32_t len;
	} quiet_texts[8];
	uint64_t last_active_ms; /* last frame received */
	uint64_t xact_start_ns;	 /* current transaction's start */
	char addr[48];		 /* INET6_ADDRSTRLEN */
	int port;
	bool is_admin;
	void *cancel_req; /* a CancelRequest connection: its cancel on the way (cancel.c) */
};

/* Why a client in transaction pooling keeps its server past the end of a transaction. */
enum {
	PIN_TEMP = 1,	   /* temporary tables, views or sequences */
	PIN_ADVISORY = 2,  /* session-level advisory locks */
	PIN_CURSOR = 4,	   /* cursors WITH HOLD */
	PIN_UNTRACKED = 8, /* settings pgsift could not read (set_config with parameters) */
	PIN_ALL = 15,
};

/* Whether the client must keep its server when its transaction ends. */
static inline bool client_is_pinned(const Client *c)
{
	return c->pins != 0;
}

/* Accepts a connection from a listener. */
void client_accept(uv_stream_t *listener, bool is_pipe);

/* The pool linked a server to a waiting client: apply parameters and go on forwarding. */
void client_server_ready(Client *c);

/* Greets a client in CL_LOGIN_WAIT now that the pool knows its welcome parameters. */
void client_welcome(Client *c);

/* Sends an ErrorResponse (FATAL) and closes. After this call c must not be touched. */
void client_fail(Client *c, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sends an ErrorResponse (ERROR) and keeps the connection. */
void client_send_error(Client *c, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A statement of the client's finished on its server: session commands take effect, the
 * transaction state follows the command tag. */
void client_statement_done(Client *c, Pending *p, const char *tag, size_t tag_len);
/* The value PostgreSQL would report to the client for `name` when p (a statement of the
 * client's) resets it: the client's startup value, or NULL (then the server's report holds). */
const char *client_reset_value(Client *c, const Pending *p, const char *name);
/* An ErrorResponse answered one of the client's statements. */
void client_statement_failed(Client *c);
/* The transaction ended without a COMMIT tag (ReadyForQuery 'I'): pending SETs are dropped. */
void client_tx_ended(Client *c);

/* Keeps the startup parameters aside before c->params changes for the first time: most
 * clients never change theirs, and then params is the startup set. False when out of memory. */
bool client_params_will_change(Client *c) __attribute__((warn_unused_result));

/* The server described the client's statement `name` (its own Describe): rows of it are now
 * decoded by this result shape (pkt_result_shape). */
void client_note_shape(Client *c, const char *name, uint64_t shape);
/* pgsift's own Describe, made before the client's Bind could go (see client.c), is answered
 * or skipped: the client's frames go on. */
void client_shape_known(Client *c);

/* The server linked to c died: tell the client and close it. */
void client_server_lost(Client *c, const char *why);

/* Closes without a message. */
void client_close(Client *c, const char *reason);
/* query_wait_notify: a NOTICE that the client waits for a server (once per wait). */
void client_notify_queued(Client *c);

/* Sends b to the client and frees it. False when the write failed: the client is closed then
 * and c must not be touched. */
bool client_send(Client *c, PktBuf *b);

#endif
