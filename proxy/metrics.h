/*
 * metrics: the Prometheus endpoint. When metrics_listen is set, serves `GET /metrics` in the
 * Prometheus text exposition format on the event loop (a tiny HTTP/1.0-style server: one request
 * per connection, answer, close). Metric names start with `pgsift_`; counters end in `_total`.
 */
#ifndef PGSIFT_METRICS_H
#define PGSIFT_METRICS_H

#include "config/config.h"

/* Starts listening when cfg->metrics_listen is set. Returns 0 or a UV_E* code. */
int metrics_start(const Config *cfg);
/* Stops listening and closes open metric connections. */
void metrics_stop(void);

#endif
