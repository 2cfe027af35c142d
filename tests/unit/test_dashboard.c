/*
 * test_dashboard: the request side of the metrics_listen HTTP server (proxy/http.c) and the
 * dashboard's JSON (proxy/dashboard.c), without sockets: heads split at every byte, each bad
 * input's status, query parameters, basic auth, the top-N order and the exact JSON of a row,
 * odd texts included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/dashboard.h"
#include "proxy/http.h"

/* Parses s whole; returns the outcome. */
static HttpParse parse(const char *s, HttpRequest *req)
{
	return http_parse(s, strlen(s), 8192, req);
}

static void test_dashboard_http_get(void **state)
{
	(void)state;
	const char *s = "GET /api/queries?window=24h&sort=p99 HTTP/1.1\r\nHost: x\r\n"
			"Authorization:  Basic dXNlcjpwdw==  \r\n\r\n";
	HttpRequest req;
	assert_int_equal(parse(s, &req), HTTP_OK);
	assert_string_equal(req.method, "GET");
	assert_false(req.head);
	assert_string_equal(req.path, "/api/queries");
	assert_string_equal(req.query, "window=24h&sort=p99");
	assert_string_equal(req.authorization, "Basic dXNlcjpwdw==");
	/* every prefix is incomplete, never an error */
	for (size_t n = 0; n < strlen(s); n++) {
		if (http_parse(s, n, 8192, &req) != HTTP_INCOMPLETE)
			fail_msg("prefix of %zu bytes: not incomplete", n);
	}
	/* LF line ends, HEAD, HTTP/1.0 */
	assert_int_equal(parse("HEAD /metrics HTTP/1.0\n\n", &req), HTTP_OK);
	assert_true(req.head);
	assert_string_equal(req.path, "/metrics");
	assert_string_equal(req.query, "");
	assert_string_equal(req.authorization, "");
	/* percent-decoding of the path */
	assert_int_equal(parse("GET /api/%71uery HTTP/1.1\r\n\r\n", &req), HTTP_OK);
	assert_string_equal(req.path, "/api/query");
}

static void test_dashboard_http_bad(void **state)
{
	(void)state;
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		{"POST / HTTP/1.1\r\n\r\n", 405},
		{"DELETE /api/queries HTTP/1.1\r\n\r\n", 405},
		{"OPTIONS * HTTP/1.1\r\n\r\n", 400 /* the target is judged before the method */},
		{"BREW /pot HTTP/1.1\r\n\r\n", 405},
		{"get / HTTP/1.1\r\n\r\n", 400},
		{"GET / HTTP/2.0\r\n\r\n", 505},
		{"GET / HTTX/1.1\r\n\r\n", 400},
		{"GET /\r\n\r\n", 400},
		{"GET  / HTTP/1.1\r\n\r\n", 400},
		{"GET http://a/ HTTP/1.1\r\n\r\n", 400},
		{"GET /../etc/passwd HTTP/1.1\r\n\r\n", 400},
		{"GET /a/.. HTTP/1.1\r\n\r\n", 400},
		{"GET /%2e%2e/x HTTP/1.1\r\n\r\n", 400},
		{"GET /a%2f..%2fb HTTP/1.1\r\n\r\n", 400},
		{"GET /a\\b HTTP/1.1\r\n\r\n", 400},
		{"GET /%00 HTTP/1.1\r\n\r\n", 400},
		{"GET /%0a HTTP/1.1\r\n\r\n", 400},
		{"GET /%zz HTTP/1.1\r\n\r\n", 400},
		{"GET /% HTTP/1.1\r\n\r\n", 400},
		{"GET /\x80 HTTP/1.1\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\n folded: x\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		HttpRequest req;
		HttpParse r = parse(cases[i].req, &req);
		if (r != HTTP_BAD || req.status != cases[i].status)
			fail_msg("%s: got %d/%d, want HTTP_BAD/%d", cases[i].req, (int)r,
				 req.status, cases[i].status);
		assert_non_null(req.reason);
	}
	/* "..." and "..x" are names, not parent segments */
	HttpRequest req;
	assert_int_equal(parse("GET /a/.../..x HTTP/1.1\r\n\r\n", &req), HTTP_OK);
}

static void test_dashboard_http_limits(void **state)
{
	(void)state;
	HttpRequest req;
	/* a head that never ends: 431 once max bytes are in, incomplete before */
	char big[9000];
	int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX-Big: ");
	memset(big + n, 'a', sizeof(big) - (size_t)n);
	assert_int_equal(http_parse(big, 8000, 8192, &req), HTTP_INCOMPLETE);
	assert_int_equal(http_parse(big, 8192, 8192, &req), HTTP_BAD);
	assert_int_equal(req.status, 431);
	/* too many header lines */
	char many[4096];
	size_t o = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "X-%d: v\r\n", i);
	snprintf(many + o, sizeof(many) - o, "\r\n");
	assert_int_equal(parse(many, &req), HTTP_BAD);
	assert_int_equal(req.status, 431);
	/* a long target: 414, also before the head ends */
	char longt[3000];
	o = (size_t)snprintf(longt, sizeof(longt), "GET /");
	memset(longt + o, 'a', 2000);
	longt[o + 2000] = '\0';
	assert_int_equal(http_parse(longt, strlen(longt), 8192, &req), HTTP_BAD);
	assert_int_equal(req.status, 414);
	snprintf(longt + o + 600, sizeof(longt) - o - 600, " HTTP/1.1\r\n\r\n");
	assert_int_equal(parse(longt, &req), HTTP_BAD);
	assert_int_equal(req.status, 414);
	/* an Authorization header too long for its buffer */
	char auth[1024];
	o = (size_t)snprintf(auth, sizeof(auth), "GET / HTTP/1.1\r\nAuthorization: Basic ");
	memset(auth + o, 'A', 600);
	snprintf(auth + o + 600, sizeof(auth) - o - 600, "\r\n\r\n");
	assert_int_equal(parse(auth, &req), HTTP_BAD);
	assert_int_equal(req.status, 431);
}

static void test_dashboard_query_param(void **state)
{
	(void)state;
	char v[32];
	const char *q = "window=24h&user=a%20b+c&database=%22odd%22&empty=&flag";
	assert_true(http_query_param(q, "window", v, sizeof(v)));
	assert_string_equal(v, "24h");
	assert_true(http_query_param(q, "user", v, sizeof(v)));
	assert_string_equal(v, "a b c");
	assert_true(http_query_param(q, "database", v, sizeof(v)));
	assert_string_equal(v, "\"odd\"");
	assert_true(http_query_param(q, "empty", v, sizeof(v)));
	assert_string_equal(v, "");
	assert_true(http_query_param(q, "flag", v, sizeof(v)));
	assert_string_equal(v, "");
	assert_false(http_query_param(q, "win", v, sizeof(v)));
	assert_false(http_query_param(q, "sort", v, sizeof(v)));
	assert_false(http_query_param("a=%00", "a", v, sizeof(v)));
	assert_false(http_query_param("a=0123456789", "a", v, 8)); /* does not fit */
}

static void test_dashboard_basic_auth(void **state)
{
	(void)state;
	char u[64], p[64];
	assert_true(http_basic_auth("Basic dXNlcjpwdw==", u, sizeof(u), p, sizeof(p)));
	assert_string_equal(u, "user");
	assert_string_equal(p, "pw");
	/* "a:b:c": the password may hold colons */
	assert_true(http_basic_auth("basic YTpiOmM=", u, sizeof(u), p, sizeof(p)));
	assert_string_equal(u, "a");
	assert_string_equal(p, "b:c");
	assert_false(http_basic_auth("Bearer dXNlcjpwdw==", u, sizeof(u), p, sizeof(p)));
	assert_false(http_basic_auth("Basic !!!!", u, sizeof(u), p, sizeof(p)));
	assert_false(
		http_basic_auth("Basic bm9jb2xvbg==", u, sizeof(u), p, sizeof(p))); /* nocolon */
	assert_false(http_basic_auth("Basic dXNlcjpwdw==x", u, sizeof(u), p, sizeof(p)));
	assert_false(http_basic_auth("Basic dXNlcjpwdw==", u, 3, p, sizeof(p)));
	assert_false(http_basic_auth("Basic YQBiOmM=", u, sizeof(u), p, sizeof(p))); /* a\0b:c */
}

static void test_dashboard_params(void **state)
{
	(void)state;
	DashSort s;
	assert_true(dashboard_sort_parse("p99", &s));
	assert_int_equal(s, DASH_SORT_P99);
	assert_true(dashboard_sort_parse("calls", &s));
	assert_int_equal(s, DASH_SORT_CALLS);
	assert_false(dashboard_sort_parse("P99", &s));
	assert_false(dashboard_sort_parse("", &s));
	int64_t since;
	const int64_t now = 1800000000000000LL;
	assert_true(dashboard_window_parse("1h", now, &since));
	assert_int_equal(since, now - 3600000000LL);
	assert_true(dashboard_window_parse("14d", now, &since));
	assert_int_equal(since, now - 14LL * 86400 * 1000000);
	assert_true(dashboard_window_parse("all", now, &since));
	assert_int_equal(since, 0);
	assert_false(dashboard_window_parse("2h", now, &since));
}

static StatsQueryRow row(const char *fp, uint64_t calls, double total, double p99, uint64_t errors)
{
	StatsQueryRow r;
	memset(&r, 0, sizeof(r));
	snprintf(r.fingerprint, sizeof(r.fingerprint), "%s", fp);
	r.query = (char *)"SELECT 1";
	r.database = (char *)"db";
	r.user = (char *)"u";
	r.calls = calls;
	r.total_ms = total;
	r.mean_ms = total / (double)calls;
	r.p99_ms = p99;
	r.errors = errors;
	return r;
}

static void test_dashboard_top(void **state)
{
	(void)state;
	StatsQueryRow rows[4] = {
		row("000000000000000a", 10, 100.0, 20.0, 0),
		row("000000000000000b", 50, 100.0, 3.0, 2),
		row("000000000000000c", 1, 500.0, 500.0, 0),
		row("000000000000000d", 50, 10.0, 0.5, 1),
	};
	StatsQueries q = {rows, 4};
	size_t idx[4];
	/* total descending, ties by fingerprint */
	assert_int_equal(dashboard_top(&q, DASH_SORT_TOTAL, 0, 4, idx), 4);
	assert_int_equal(idx[0], 2);
	assert_int_equal(idx[1], 0);
	assert_int_equal(idx[2], 1);
	assert_int_equal(idx[3], 3);
	assert_int_equal(dashboard_top(&q, DASH_SORT_CALLS, 0, 2, idx), 2);
	assert_int_equal(idx[0], 1);
	assert_int_equal(idx[1], 3);
	assert_int_equal(dashboard_top(&q, DASH_SORT_P99, 1, 2, idx), 2);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 1);
	assert_int_equal(dashboard_top(&q, DASH_SORT_ERRORS, 3, 10, idx), 1);
	assert_int_equal(idx[0], 2);
	assert_int_equal(dashboard_top(&q, DASH_SORT_MEAN, 4, 10, idx), 0);
	assert_int_equal(dashboard_top(&q, DASH_SORT_MEAN, 0, 0, idx), 0);
}

/* The row's JSON, into a malloc'ed string. */
static char *row_json(const StatsQueryRow *r, const StatsHours *h)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	dashboard_json_row(f, r, h);
	fclose(f);
	return buf;
}

static void test_dashboard_json_row(void **state)
{
	(void)state;
	StatsErrorClass ec[2] = {{"22", 3}, {"57", 1}};
	StatsQueryRow r = row("93fff59160c99b53", 30, 337.2984, 56.361, 4);
	r.query = (char *)"SELECT \"we\"\"ird \\ </script>\n\x01\xc3\xbc\xff\" FROM t WHERE a = $1";
	r.database = (char *)"d\"b";
	r.kind = SK_SELECT;
	r.rows = 300;
	r.p50_ms = 10.158;
	r.first_seen_us = 1796317028685123LL;
	r.last_seen_us = 0;
	r.error_classes = ec;
	r.n_error_classes = 2;
	StatsHourRow hr[2] = {
		{.hour_start_us = 1796313600000000LL,
		 .calls = 10,
		 .errors = 1,
		 .mean_ms = 1.5,
		 .p50_ms = 1.25,
		 .p95_ms = 2,
		 .p99_ms = 3},
		{.hour_start_us = 1796317200000000LL, .calls = 20, .errors = 3, .mean_ms = 0.001},
	};
	StatsHours h = {hr, 2, true};
	char *got = row_json(&r, &h);
	const char *want =
		"{\"fingerprint\": \"93fff59160c99b53\", \"query\": \"SELECT \\\"we\\\"\\\"ird "
		"\\\\ "
		"</script>\\n\\u0001\xc3\xbc\xef\xbf\xbd\\\" FROM t WHERE a = $1\", \"database\": "
		"\"d\\\"b\", \"user\": \"u\", \"kind\": \"select\", \"other\": false, \"calls\": "
		"30, "
		"\"errors\": 4, \"timeouts\": 0, \"cancelled\": 0, \"rows\": 300, \"total_ms\": "
		"337.298, \"mean_ms\": 11.243, \"min_ms\": 0.000, \"p50_ms\": 10.158, \"p95_ms\": "
		"0.000, \"p99_ms\": 56.361, \"max_ms\": 0.000, \"first_seen\": "
		"\"2026-12-03T16:57:08.685Z\", \"last_seen\": null, \"error_classes\": {\"22\": 3, "
		"\"57\": 1}, \"hours\": [[1796313600, 10, 1, 1.500, 1.250, 2.000, 3.000], "
		"[1796317200, 20, 3, 0.001, 0.000, 0.000, 0.000]]}";
	assert_string_equal(got, want);
	free(got);
	/* without hours: no "hours" key */
	got = row_json(&r, NULL);
	assert_null(strstr(got, "\"hours\""));
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dashboard_http_get),
		cmocka_unit_test(test_dashboard_http_bad),
		cmocka_unit_test(test_dashboard_http_limits),
		cmocka_unit_test(test_dashboard_query_param),
		cmocka_unit_test(test_dashboard_basic_auth),
		cmocka_unit_test(test_dashboard_params),
		cmocka_unit_test(test_dashboard_top),
		cmocka_unit_test(test_dashboard_json_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
