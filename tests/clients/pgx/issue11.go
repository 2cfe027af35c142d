// issue11: the pgx v4 side of the issue-11 driver tests (tests/clients/test_issue11_pgx.py).
//
// Usage: issue11 CASE TARGET_DSN ADMIN_DSN
//
// Runs one scenario against TARGET_DSN (PostgreSQL itself or pgsift) and prints, one per line,
//
//	STEP <json [label, outcome]>   the outcome of a step: ["ok", value], ["error", SQLSTATE,
//	                               message], ["client error", text] or ["HANG", text]
//	STEER <k>                      asks the wrapper to leave only pool server k free for the
//	                               client's next transaction; the wrapper answers "ok" on stdin
//	DONE                           the scenario ran to its end (or stopped at a HANG)
//
// ADMIN_DSN is PostgreSQL itself, for what "another connection" does (DROP, ALTER, watching
// pg_stat_activity). Every step has a 10 s context deadline: a step that gets no answer is
// reported as HANG and the scenario stops, so a hang never blocks the test.
//
// Built offline against Debian's packages: GO111MODULE=off GOPATH=/usr/share/gocode go build.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
)

const stepTimeout = 10 * time.Second
const cancelRounds = 50

var (
	target, admin string
	stdin         = bufio.NewReader(os.Stdin)
	outMu         sync.Mutex
)

type hang struct{ label string }

func emit(line string) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Println(line)
}

func record(label string, outcome []interface{}) {
	b, err := json.Marshal([]interface{}{label, outcome})
	if err != nil {
		b, _ = json.Marshal([]interface{}{label, []interface{}{"client error", "json: " + err.Error()}})
	}
	emit("STEP " + string(b))
}

func note(label string, v interface{}) { record(label, []interface{}{"note", v}) }

// steer asks the wrapper to leave only server k free and waits until it has.
func steer(k int) {
	emit(fmt.Sprintf("STEER %d", k))
	if _, err := stdin.ReadString('\n'); err != nil {
		panic("steer: " + err.Error())
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		pgconn.Timeout(err)
}

func errOutcome(err error) []interface{} {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return []interface{}{"error", pgErr.Code, pgErr.Message}
	}
	if isTimeout(err) {
		return []interface{}{"HANG", "no answer within 10 s"}
	}
	return []interface{}{"client error", err.Error()}
}

func rowsOutcome(rows pgx.Rows, err error) []interface{} {
	if err != nil {
		return errOutcome(err)
	}
	defer rows.Close()
	out := [][]interface{}{}
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return errOutcome(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return errOutcome(err)
	}
	return []interface{}{"ok", out}
}

func execOutcome(tag pgconn.CommandTag, err error) []interface{} {
	if err != nil {
		return errOutcome(err)
	}
	return []interface{}{"ok", tag.String()}
}

// step runs f with a fresh deadline and records its outcome; a HANG stops the scenario.
func step(label string, f func(ctx context.Context) []interface{}) []interface{} {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	o := f(ctx)
	record(label, o)
	if o[0] == "HANG" {
		panic(hang{label})
	}
	return o
}

// quiet is step without recording (only a HANG is recorded, and stops the scenario).
func quiet(label string, f func(ctx context.Context) []interface{}) []interface{} {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	o := f(ctx)
	if o[0] == "HANG" {
		record(label, o)
		panic(hang{label})
	}
	return o
}

func query(c *pgx.Conn, sql string, args ...interface{}) func(ctx context.Context) []interface{} {
	return func(ctx context.Context) []interface{} {
		rows, err := c.Query(ctx, sql, args...)
		return rowsOutcome(rows, err)
	}
}

func exec(c *pgx.Conn, sql string, args ...interface{}) func(ctx context.Context) []interface{} {
	return func(ctx context.Context) []interface{} {
		return execOutcome(c.Exec(ctx, sql, args...))
	}
}

// extended sends sql alone with the extended protocol (unnamed statement, no parameters).
func extended(c *pgx.Conn, sql string) func(ctx context.Context) []interface{} {
	return func(ctx context.Context) []interface{} {
		res := c.PgConn().ExecParams(ctx, sql, nil, nil, nil, nil).Read()
		if res.Err != nil {
			return errOutcome(res.Err)
		}
		rows := [][]string{}
		for _, r := range res.Rows {
			row := []string{}
			for _, v := range r {
				row = append(row, string(v))
			}
			rows = append(rows, row)
		}
		if len(res.FieldDescriptions) == 0 {
			return []interface{}{"ok", res.CommandTag.String()}
		}
		return []interface{}{"ok", rows}
	}
}

func connect(dsn string) *pgx.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		record("connect", errOutcome(err))
		panic(hang{"connect"})
	}
	return c
}

func adminExec(sql string) {
	c := connect(admin)
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), sql); err != nil {
		panic("admin: " + sql + ": " + err.Error())
	}
}

func adminCount(sql string) int64 {
	c := connect(admin)
	defer c.Close(context.Background())
	var n int64
	if err := c.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		panic("admin: " + sql + ": " + err.Error())
	}
	return n
}

// --- re-Parse of a client's named statement fails on the next server ----------------------

func caseReparseDroppedTable() {
	q := "SELECT id FROM i11g_drop ORDER BY id"
	adminExec("DROP TABLE IF EXISTS i11g_drop; CREATE TABLE i11g_drop (id int); INSERT INTO i11g_drop VALUES (1), (2)")
	c := connect(target)
	steer(0)
	step("prepare i11g_stmt", func(ctx context.Context) []interface{} {
		_, err := c.Prepare(ctx, "i11g_stmt", q)
		if err != nil {
			return errOutcome(err)
		}
		return []interface{}{"ok", nil}
	})
	step("named statement", query(c, "i11g_stmt"))
	step("cached statement", query(c, q))
	adminExec("DROP TABLE i11g_drop")
	steer(1)
	step("named statement after drop (other server)", query(c, "i11g_stmt"))
	step("next statement", query(c, "SELECT $1::int + 1", 41))
	steer(0)
	step("cached statement after drop", query(c, q))
	step("next statement 2", query(c, "SELECT $1::int + 2", 41))
	adminExec("CREATE TABLE i11g_drop (id int); INSERT INTO i11g_drop VALUES (3)")
	steer(1)
	step("named statement after re-create", query(c, "i11g_stmt"))
	step("cached statement after re-create", query(c, q))
	step("exec after re-create", exec(c, "UPDATE i11g_drop SET id = $1", 4))
}

func batchOutcome(c *pgx.Conn, queries []string, args [][]interface{}) func(ctx context.Context) []interface{} {
	return func(ctx context.Context) []interface{} {
		b := &pgx.Batch{}
		for i, q := range queries {
			b.Queue(q, args[i]...)
		}
		br := c.SendBatch(ctx, b)
		out := []interface{}{}
		for range queries {
			rows, err := br.Query()
			out = append(out, rowsOutcome(rows, err))
		}
		if err := br.Close(); err != nil {
			out = append(out, errOutcome(err))
		} else {
			out = append(out, "closed")
		}
		for _, o := range out {
			if x, ok := o.([]interface{}); ok && x[0] == "HANG" {
				return x
			}
		}
		return []interface{}{"ok", out}
	}
}

func caseReparseInBatch() {
	// the failing statement sits between others in one batch (one Sync): the error comes in
	// its place, the rest of the batch is skipped, and the connection goes on
	q := "SELECT id FROM i11g_batch ORDER BY id"
	adminExec("DROP TABLE IF EXISTS i11g_batch; CREATE TABLE i11g_batch (id int); INSERT INTO i11g_batch VALUES (1)")
	c := connect(target)
	steer(0)
	step("cached statement", query(c, q))
	step("cached statement 2", query(c, "SELECT $1::int * 10", 1))
	adminExec("DROP TABLE i11g_batch")
	steer(1)
	step("batch after drop (other server)", batchOutcome(c,
		[]string{"SELECT $1::int * 10", q, "SELECT $1::int + 100"},
		[][]interface{}{{1}, {}, {3}}))
	step("next statement", query(c, "SELECT $1::int + 1", 41))
	adminExec("CREATE TABLE i11g_batch (id int); INSERT INTO i11g_batch VALUES (2)")
	steer(0)
	step("batch after re-create", batchOutcome(c,
		[]string{"SELECT $1::int * 10", q, "SELECT $1::int + 100"},
		[][]interface{}{{1}, {}, {3}}))
}

func caseReparseTempTableDroppedAtCommit() {
	q := "SELECT id FROM i11g_tmp ORDER BY id"
	c := connect(target)
	steer(0)
	step("begin", exec(c, "BEGIN"))
	step("create temp table on commit drop", exec(c, "CREATE TEMP TABLE i11g_tmp (id int) ON COMMIT DROP"))
	step("insert", exec(c, "INSERT INTO i11g_tmp VALUES ($1)", 5))
	step("cached statement", query(c, q))
	step("commit", exec(c, "COMMIT"))
	steer(1)
	step("cached statement after commit (other server)", query(c, q))
	step("next statement", query(c, "SELECT $1::int + 1", 1))
	steer(0)
	step("cached statement after commit (first server)", query(c, q))
	step("last statement", query(c, "SELECT $1::int + 2", 1))
}

func caseTempTableKeepsWorking() {
	q := "SELECT id FROM i11g_tmp_session ORDER BY id"
	c := connect(target)
	steer(0)
	step("create temp table", exec(c, "CREATE TEMP TABLE i11g_tmp_session (id int)"))
	step("insert", exec(c, "INSERT INTO i11g_tmp_session VALUES ($1)", 9))
	step("cached statement", query(c, q))
	steer(1)
	step("cached statement again", query(c, q))
	step("next statement", query(c, "SELECT $1::int + 1", 1))
	step("cached statement once more", query(c, q))
}

// --- stale row description ---------------------------------------------------------------

const staleQ = "SELECT id, v FROM i11g_alt ORDER BY id"

func staleSetup() {
	adminExec("DROP TABLE IF EXISTS i11g_alt; CREATE TABLE i11g_alt (id int, v int); INSERT INTO i11g_alt VALUES (1, 10), (2, 20)")
}

func caseStaleRowDescription() {
	staleSetup()
	c := connect(target)
	steer(0)
	step("cached statement", query(c, staleQ))
	adminExec("ALTER TABLE i11g_alt ALTER COLUMN v TYPE text USING 'v=' || v")
	steer(1)
	step("cached statement after alter (other server)", query(c, staleQ))
	step("next statement", query(c, "SELECT $1::int + 1", 1))
	step("cached statement again (pgx re-prepares after 0A000)", query(c, staleQ))
	steer(0)
	step("cached statement (first server)", query(c, staleQ))
}

func caseStaleRowDescriptionNamed() {
	staleSetup()
	c := connect(target)
	steer(0)
	step("prepare i11g_alt_stmt", func(ctx context.Context) []interface{} {
		_, err := c.Prepare(ctx, "i11g_alt_stmt", staleQ)
		if err != nil {
			return errOutcome(err)
		}
		return []interface{}{"ok", nil}
	})
	step("named statement", query(c, "i11g_alt_stmt"))
	adminExec("ALTER TABLE i11g_alt ALTER COLUMN v TYPE text USING 'v=' || v")
	steer(1)
	step("named statement after alter (other server)", query(c, "i11g_alt_stmt"))
	step("next statement", query(c, "SELECT $1::int + 1", 1))
	steer(0)
	step("named statement (first server)", query(c, "i11g_alt_stmt"))
}

// --- SQL PREPARE / EXECUTE / DEALLOCATE ------------------------------------------------------

func caseSQLPrepareExtended() {
	c := connect(target)
	steer(0)
	step("PREPARE i11g_p (extended)", extended(c, "PREPARE i11g_p (int) AS SELECT $1 * 2"))
	steer(1)
	step("EXECUTE i11g_p (extended, other server)", extended(c, "EXECUTE i11g_p (21)"))
	steer(0)
	step("EXECUTE i11g_p (cached named statement)", query(c, "EXECUTE i11g_p (5)"))
	steer(1)
	step("EXECUTE i11g_p (cached, other server)", query(c, "EXECUTE i11g_p (5)"))
	step("DEALLOCATE i11g_p (extended)", extended(c, "DEALLOCATE i11g_p"))
	step("EXECUTE after DEALLOCATE", extended(c, "EXECUTE i11g_p (21)"))
	step("PREPARE i11g_q (cached named statement)", query(c, "PREPARE i11g_q AS SELECT 'q'::text"))
	steer(0)
	step("EXECUTE i11g_q (simple)", func(ctx context.Context) []interface{} {
		return rowsOutcome(c.Query(ctx, "EXECUTE i11g_q", pgx.QuerySimpleProtocol(true)))
	})
	step("DEALLOCATE ALL (extended)", extended(c, "DEALLOCATE ALL"))
	steer(1)
	step("EXECUTE i11g_q after ALL", extended(c, "EXECUTE i11g_q"))
	step("next statement", query(c, "SELECT $1::int * 8", 6))
}

func caseStatementCacheEviction() {
	// statement_cache_capacity=2: pgx deallocates the evicted statement with a simple-protocol
	// "deallocate lrupsc_N_M", a SQL DEALLOCATE of a protocol-level name
	c := connect(target + " statement_cache_capacity=2")
	for r := 0; r < 3; r++ {
		steer(r % 2)
		for k := 0; k < 6; k++ {
			step(fmt.Sprintf("round %d query %d", r, k), query(c, fmt.Sprintf("SELECT $1::int + %d", k), r*100))
		}
	}
}

// --- SET SESSION CHARACTERISTICS ---------------------------------------------------------------

func caseSessionCharacteristics() {
	c := connect(target)
	show := "SHOW transaction_isolation"
	steer(0)
	step("SET SESSION CHARACTERISTICS serializable", exec(c, "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
	steer(1)
	step("SHOW (other server)", query(c, show))
	steer(0)
	step("in a transaction", func(ctx context.Context) []interface{} {
		tx, err := c.BeginTx(ctx, pgx.TxOptions{})
		if err != nil {
			return errOutcome(err)
		}
		o := rowsOutcome(tx.Query(ctx, show))
		if err := tx.Commit(ctx); err != nil {
			return errOutcome(err)
		}
		return o
	})
	steer(1)
	step("read committed transaction", func(ctx context.Context) []interface{} {
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
		if err != nil {
			return errOutcome(err)
		}
		o := rowsOutcome(tx.Query(ctx, show))
		if err := tx.Commit(ctx); err != nil {
			return errOutcome(err)
		}
		return o
	})
	step("SET SESSION CHARACTERISTICS repeatable read (extended)", extended(c, "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
	steer(0)
	step("SHOW after extended SET", query(c, show))
	step("RESET ALL", exec(c, "RESET ALL"))
	steer(1)
	step("SHOW after RESET ALL", query(c, show))
}

// --- cancel ----------------------------------------------------------------------------------

func sleepGone() bool {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if adminCount("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(8)%' AND state = 'active'") == 0 {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func caseCancelRequest() {
	c := connect(target)
	for r := 0; r < 3; r++ {
		steer(r % 2)
		t0 := time.Now()
		step(fmt.Sprintf("pg_sleep(8) cancelled after 0.3 s (%d)", r), func(ctx context.Context) []interface{} {
			done := make(chan []interface{}, 1)
			go func() { done <- execOutcome(c.Exec(ctx, "SELECT pg_sleep(8)")) }()
			time.Sleep(300 * time.Millisecond)
			if err := c.PgConn().CancelRequest(ctx); err != nil {
				return []interface{}{"client error", "CancelRequest: " + err.Error()}
			}
			return <-done
		})
		note(fmt.Sprintf("cancelled within 4 s (%d)", r), time.Since(t0) < 4*time.Second)
		step(fmt.Sprintf("next statement (%d)", r), query(c, "SELECT $1::int", r))
	}
}

func caseContextTimeout() {
	other := connect(target)
	for r := 0; r < 3; r++ {
		c := connect(target)
		steer(r % 2)
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := c.Exec(ctx, "SELECT pg_sleep(8)")
		cancel()
		note(fmt.Sprintf("pg_sleep(8) with a 0.3 s context (%d)", r), isTimeout(err))
		note(fmt.Sprintf("connection closed by pgx (%d)", r), c.IsClosed())
		note(fmt.Sprintf("pg_sleep(8) gone from the server (%d)", r), sleepGone())
		note(fmt.Sprintf("within 4 s (%d)", r), time.Since(t0) < 4*time.Second)
		step(fmt.Sprintf("other client's next statement (%d)", r), query(other, "SELECT $1::int", r))
		c2 := connect(target)
		step(fmt.Sprintf("new connection's statement (%d)", r), query(c2, "SELECT $1::int + 1", r))
		c2.Close(context.Background())
	}
}

// otherClient runs statements on its own connection until stop is closed; returns failures.
func otherClient(c *pgx.Conn, stop chan struct{}, res chan []string) {
	fails := []string{}
	for i := 1; ; i++ {
		select {
		case <-stop:
			res <- fails
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		var v int32
		err := c.QueryRow(ctx, "SELECT $1::int FROM pg_sleep(0.01)", i).Scan(&v)
		cancel()
		if err != nil {
			fails = append(fails, fmt.Sprint(errOutcome(err)))
			if c.IsClosed() {
				res <- fails
				return
			}
		} else if int(v) != i {
			fails = append(fails, "wrong row")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// isIntRow tells whether o is the outcome of a query that returned the one row (r) of int.
func isIntRow(o []interface{}, r int) bool {
	return fmt.Sprint(o) == fmt.Sprint([]interface{}{"ok", [][]interface{}{{int32(r)}}})
}

// noteFirstOutcomes prints the race's distinct first-statement outcomes (sorted) to stderr and
// notes label as true when each of them is one of allowed, else the outcomes themselves.
func noteFirstOutcomes(race string, label string, first map[string]bool, allowed ...string) {
	okOnly := true
	keys := []string{}
	for k := range first {
		keys = append(keys, k)
		known := false
		for _, a := range allowed {
			if k == a {
				known = true
			}
		}
		if !known {
			okOnly = false
		}
	}
	sort.Strings(keys)
	fmt.Fprintf(os.Stderr, "%s: first statements %v\n", race, keys)
	if okOnly {
		note(label, true)
	} else {
		note(label, keys)
	}
}

func caseCancelRace() {
	// pg_sleep(0.05) with a CancelRequest sent 20..90 ms after it: CancelRequest returns when
	// the cancel was delivered, so on PostgreSQL the next statement is never cancelled
	c := connect(target)
	other := connect(target)
	stop, res := make(chan struct{}), make(chan []string, 1)
	go otherClient(other, stop, res)
	rnd := rand.New(rand.NewSource(11))
	first := map[string]bool{}
	nextFails := []string{}
	for r := 0; r < cancelRounds; r++ {
		delay := time.Duration(20+rnd.Intn(70)) * time.Millisecond
		o := quiet(fmt.Sprintf("round %d: pg_sleep(0.05)", r), func(ctx context.Context) []interface{} {
			done := make(chan []interface{}, 1)
			go func() { done <- execOutcome(c.Exec(ctx, "SELECT pg_sleep(0.05)")) }()
			time.Sleep(delay)
			if err := c.PgConn().CancelRequest(ctx); err != nil {
				<-done
				return []interface{}{"client error", "CancelRequest: " + err.Error()}
			}
			return <-done
		})
		first[fmt.Sprint(o)] = true
		o = quiet(fmt.Sprintf("round %d: next", r), query(c, "SELECT $1::int FROM pg_sleep(0.03)", r))
		if !isIntRow(o, r) {
			nextFails = append(nextFails, fmt.Sprintf("%d: %v", r, o))
		}
	}
	close(stop)
	otherFails := <-res
	noteFirstOutcomes("pgx cancel race", "first statements: ok or 57014 only", first,
		"[ok SELECT 1]", "[error 57014 canceling statement due to user request]")
	note("next statements that failed", nextFails)
	note("other client's failures", otherFails)
}

func caseContextRace() {
	// a context that ends 20..90 ms into pg_sleep(0.05): pgx sends a CancelRequest and closes
	// the connection; neither another client nor a new connection may be cancelled by it
	other := connect(target)
	rnd := rand.New(rand.NewSource(11))
	first := map[string]bool{}
	otherFails := []string{}
	for r := 0; r < cancelRounds; r++ {
		c := connect(target)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+rnd.Intn(70))*time.Millisecond)
		_, err := c.Exec(ctx, "SELECT pg_sleep(0.05)")
		cancel()
		switch {
		case err == nil:
			first["ok"] = true
		case isTimeout(err):
			first["timeout"] = true
		default:
			first[fmt.Sprint(errOutcome(err))] = true
		}
		o := quiet(fmt.Sprintf("round %d: other", r), query(other, "SELECT $1::int FROM pg_sleep(0.03)", r))
		if !isIntRow(o, r) {
			otherFails = append(otherFails, fmt.Sprintf("%d: %v", r, o))
		}
		c2 := connect(target)
		o = quiet(fmt.Sprintf("round %d: new connection", r), query(c2, "SELECT $1::int FROM pg_sleep(0.03)", r))
		if !isIntRow(o, r) {
			otherFails = append(otherFails, fmt.Sprintf("%d new: %v", r, o))
		}
		c2.Close(context.Background())
		c.Close(context.Background())
	}
	noteFirstOutcomes("pgx context race", "first statements: ok or timeout only", first, "ok", "timeout")
	note("other statements that failed", otherFails)
}

// --- reported parameters -----------------------------------------------------------------------

func caseReportedParameters() {
	c := connect(target + " client_encoding=utf8 DateStyle='iso, mdy' TimeZone=utc IntervalStyle=iso_8601 application_name='Issue11 App'")
	for _, n := range []string{"client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "application_name",
		"server_encoding", "standard_conforming_strings", "integer_datetimes", "is_superuser",
		"session_authorization", "server_version"} {
		note("ParameterStatus "+n, c.PgConn().ParameterStatus(n))
	}
	steer(1)
	step("SHOW", query(c, "SELECT current_setting('client_encoding'), current_setting('DateStyle'), current_setting('TimeZone'), current_setting('IntervalStyle')"))
	// pgx refuses simple-protocol queries with arguments unless client_encoding is "UTF8"
	step("simple protocol with an argument", func(ctx context.Context) []interface{} {
		return rowsOutcome(c.Query(ctx, "SELECT $1::text", pgx.QuerySimpleProtocol(true), "é 🐘"))
	})
	step("extended protocol", query(c, "SELECT $1::text", "é 🐘"))
}

var cases = map[string]func(){
	"reparse_dropped_table":             caseReparseDroppedTable,
	"reparse_temp_table_dropped_commit": caseReparseTempTableDroppedAtCommit,
	"reparse_in_batch":                  caseReparseInBatch,
	"temp_table_keeps_working":          caseTempTableKeepsWorking,
	"stale_row_description":             caseStaleRowDescription,
	"stale_row_description_named":       caseStaleRowDescriptionNamed,
	"sql_prepare_extended":              caseSQLPrepareExtended,
	"statement_cache_eviction":          caseStatementCacheEviction,
	"session_characteristics":           caseSessionCharacteristics,
	"cancel_request":                    caseCancelRequest,
	"context_timeout":                   caseContextTimeout,
	"cancel_race":                       caseCancelRace,
	"context_race":                      caseContextRace,
	"reported_parameters":               caseReportedParameters,
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: issue11 CASE TARGET_DSN ADMIN_DSN")
		os.Exit(2)
	}
	f, ok := cases[os.Args[1]]
	if !ok {
		names := []string{}
		for k := range cases {
			names = append(names, k)
		}
		fmt.Fprintf(os.Stderr, "unknown case %q; cases: %s\n", os.Args[1], strings.Join(names, " "))
		os.Exit(2)
	}
	target, admin = os.Args[2], os.Args[3]
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, isHang := r.(hang); !isHang {
					panic(r)
				}
			}
		}()
		f()
	}()
	emit("DONE")
}
