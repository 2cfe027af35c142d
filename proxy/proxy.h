/*
 * proxy: the process-wide side of the proxy: the libuv loop, the current Config, the listeners,
 * signals (SIGHUP reload, SIGTERM graceful stop, SIGINT fast stop), the janitor timer that
 * enforces every timeout, and the counters SHOW and /metrics read.
 * It is the only owner of the Config pointer; a reload swaps it and keeps the old one alive
 * until exit, because pools and clients may still point into it.
 *
 * docs/ARCHITECTURE.md describes the proxy's layers, one paragraph per file, and where each
 * step of a statement's way through pgsift happens.
 */
#ifndef PGSIFT_PROXY_H
#define PGSIFT_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "util/list.h"
#include "proxy/types.h"

typedef struct ProxyGlobals {
	uv_loop_t *loop;
	const Config *cfg;  /* current configuration (owned through the config history) */
	List pools;	    /* Pool.node */
	List clients;	    /* every Client, Client.all_node */
	List servers;	    /* every Server, Server.all_node */
	size_t n_clients;   /* not counting admin-console clients in max_client_conn? counts all */
	bool paused;	    /* PAUSE of every database (pool_pause) */
	bool shutting_down; /* SIGTERM: no new clients, exit when the last one leaves */
	uint64_t started_ms;
	uint64_t now_ms; /* loop time, refreshed by the janitor and event callbacks */
} ProxyGlobals;

extern ProxyGlobals G;

/* Runs the proxy until it is stopped. Returns the process exit code. Takes cfg. takeover: take
 * the listening sockets of the pgsift running with this configuration (-R, proxy/takeover.h). */
int proxy_run(Config *cfg, bool takeover);

/* The parts of proxy_run a program that drives clients and servers itself needs (the wire
 * fuzzers in tests/fuzz): proxy_init sets up G, the cancel-key table and the buffers on loop,
 * with cfg (not taken) and nothing listening; proxy_close_connections starts closing every
 * client and server; proxy_free_pools frees the pools once their servers' close callbacks have
 * run. */
void proxy_init(Config *cfg, uv_loop_t *loop);
void proxy_close_connections(void);
void proxy_free_pools(void);

/* Monotonic clocks. */
uint64_t proxy_now_ns(void);
static inline uint64_t proxy_now_ms(void)
{
	return proxy_now_ns() / 1000000u;
}

/* A random 32-bit value from the kernel's CSPRNG (OpenSSL's as a fallback). */
uint32_t proxy_random_u32(void);

/* Reloads the configuration file (SIGHUP, RELOAD): a bad file keeps the running one. */
void proxy_reload(void);

/* Called when a client leaves during a graceful shutdown. */
void proxy_check_shutdown(void);

#endif
