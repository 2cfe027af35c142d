/* types: forward typedefs shared by the proxy's modules, so that headers need not include each
 * other in cycles. */
#ifndef PGSIFT_TYPES_H
#define PGSIFT_TYPES_H

typedef struct Client Client;
typedef struct Server Server;
typedef struct Pool Pool;
typedef struct Conn Conn;
typedef struct IOBuf IOBuf;
typedef struct PktBuf PktBuf;
typedef struct Proxy Proxy;
typedef struct Pending Pending;

#endif
