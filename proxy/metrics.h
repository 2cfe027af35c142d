/*
 * metrics: the HTTP server on metrics_listen. Serves `GET /metrics` in the Prometheus text
 * exposition format on the event loop, and hands the dashboard's paths (`/`, `/api/...`) to
 * dashboard.c. A tiny HTTP/1.1 server: one request per connection, answer, close; request heads
 * are judged by http.c (bad ones get their 4xx), must arrive within 5 s (408), and at most 64
 * connections are open (503). Metric names start with `pgsift_`; counters end in `_total`.
 */
#ifndef PGSIFT_METRICS_H
#define PGSIFT_METRICS_H

#include <stdbool.h>

#include "config/config.h"

/* Starts listening when cfg->metrics_listen is set. Returns 0 or a UV_E* code. */
int metrics_start(const Config *cfg);
/* Stops listening and closes open metric connections. */
/* For a takeover (proxy/takeover.h): the metrics listener's descriptor and name; false when
 * metrics are off. metrics_stop_listening closes the listener only (the scrapes in progress
 * finish). */
bool metrics_listener_fd(int *fd, const char **name);
void metrics_stop_listening(void);
void metrics_stop(void);

#endif
