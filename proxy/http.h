/*
 * http: the request side of the small HTTP/1.x server on metrics_listen (metrics.c), with no
 * sockets: it decides, from the bytes a connection has sent so far, whether the request head is
 * complete, well formed and one pgsift serves, and if not which 4xx answers it. Everything is
 * validated, nothing asserted: the bytes come from the network.
 *
 * What it accepts: a request line `METHOD SP /target SP HTTP/1.0|1.1`, header lines
 * `Name: value`, an empty line; CRLF or LF line ends. GET and HEAD only (others: 405). The head
 * must fit max bytes (431 when it does not), at most HTTP_MAX_HEADERS header lines (431), a
 * target of at most HTTP_PATH_MAX bytes (414). The path is percent-decoded and refused (400)
 * when it holds `..` segments, backslashes, NUL or control characters: pgsift serves no files,
 * but a clear 400 says so rather than a 404 that invites guessing.
 */
#ifndef PGSIFT_HTTP_H
#define PGSIFT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_PATH_MAX 512
#define HTTP_QUERY_MAX 1024
#define HTTP_AUTH_MAX 512
#define HTTP_MAX_HEADERS 64

typedef enum {
	HTTP_INCOMPLETE = 0, /* the head has not ended yet: read more */
	HTTP_OK,	     /* a request to serve: method, path, query, authorization are set */
	HTTP_BAD,	     /* answer status with reason, then close */
} HttpParse;

typedef struct HttpRequest {
	char method[16];
	bool head;			   /* HEAD: the answer has no body */
	char path[HTTP_PATH_MAX];	   /* percent-decoded, without the query */
	char query[HTTP_QUERY_MAX];	   /* after '?', as sent (decoded by http_query_param) */
	char authorization[HTTP_AUTH_MAX]; /* the Authorization header's value, "" when none */
	int status;			   /* HTTP_BAD: 400, 405, 414, 431 or 505 */
	const char *reason;		   /* HTTP_BAD: a sentence for the body (static) */
} HttpRequest;

/*
 * Parses the head in buf[0, len). max is the most a head may take: HTTP_INCOMPLETE is never
 * returned for len >= max (then it is 431). The request's body, if any, is ignored.
 */
HttpParse http_parse(const char *buf, size_t len, size_t max, HttpRequest *out)
	__attribute__((warn_unused_result));

/* The value of name in a query string (`a=1&b=x%20y`), percent- and '+'-decoded into out.
 * False when absent, or when it does not fit cap (NUL included) or decodes to a NUL. */
bool http_query_param(const char *query, const char *name, char *out, size_t cap)
	__attribute__((warn_unused_result));

/* `Basic base64(user:password)` into user and password; false when it is not that. */
bool http_basic_auth(const char *authorization, char *user, size_t ucap, char *password,
		     size_t pcap) __attribute__((warn_unused_result));

/* "OK", "Not Found"... for a status line. */
const char *http_status_text(int status);

#endif
