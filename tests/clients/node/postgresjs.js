'use strict';
// postgres.js (npm `postgres`) in pgsift's client matrix, with its defaults: every query is a
// named prepared statement (prepare: true), and queries issued while a connection is busy are
// pipelined on it. max: 8 connections. Commands:
//   queries      8 workers at once, tagged-template queries with parameters, several in flight
//                per worker (Promise.all), results checked exactly
//   transaction  sql.begin committed, sql.begin rolled back by an exception, queries pipelined
//                inside a transaction, an error inside one
//   errors       server errors, then the same connections go on
// Run by tests/clients/test_postgresjs.py, which creates the table pjs_t.

const assert = require('node:assert/strict');
const postgres = require('postgres');
const { N_CLIENTS, RUNS, target, checkServerStatements, main } = require('./common');

function connect() {
	const t = target();
	return postgres({ host: t.host, port: t.port, user: t.user, database: t.database,
		max: N_CLIENTS, connect_timeout: 10, onnotice: () => {} });
}

async function withSql(work) {
	const sql = connect();
	try {
		return await work(sql);
	} finally {
		await sql.end({ timeout: 10 });
	}
}

function workers(fn) {
	return Promise.all(Array.from({ length: N_CLIENTS }, (_, i) => fn(i)));
}

async function queries() {
	let n = 0;
	await withSql(async (sql) => {
		await workers(async (i) => {
			for (let r = 0; r < RUNS; r++) {
				const text = `client ${i} run ${r} ü 🐘`;
				const got = await Promise.all([
					sql`SELECT ${i}::int * 1000 + ${r}::int AS v, ${text}::text AS t`,
					sql`SELECT ${[1, r, i]}::int[] AS a, ${{ i, r }}::jsonb AS j, ${'12345678901234567890.5'}::numeric AS n`,
					sql`INSERT INTO pjs_t (client, k, note) VALUES (${i}, ${r}, ${'one'}) RETURNING k, note`,
					sql`SELECT ${Buffer.from([0, 1, 2, 255])}::bytea AS b, ${new Date(Date.UTC(2024, 1, 29, 12, r))}::timestamptz AS ts`,
				]);
				assert.deepEqual([...got[0]], [{ v: i * 1000 + r, t: text }]);
				assert.deepEqual([...got[1]], [{ a: [1, r, i], j: { i, r }, n: '12345678901234567890.5' }]);
				assert.deepEqual([...got[2]], [{ k: r, note: 'one' }]);
				assert.deepEqual([...got[3]], [{ b: Buffer.from([0, 1, 2, 255]), ts: new Date(Date.UTC(2024, 1, 29, 12, r)) }]);
				n += got.length;
			}
			const rows = await sql`SELECT count(*)::int AS c, sum(k)::int AS s FROM pjs_t WHERE client = ${i}`;
			assert.deepEqual([...rows], [{ c: RUNS, s: (RUNS * (RUNS - 1)) / 2 }]);
		});
		if (checkServerStatements()) {
			// The driver really uses named statements: look on one of its connections.
			const rows = await sql.begin((tx) => tx`SELECT count(*)::int AS c FROM pg_prepared_statements`);
			assert.ok(rows[0].c >= 5, `pg_prepared_statements has ${rows[0].c} statements`);
		}
	});
	return `${N_CLIENTS} workers, ${n} queries ok`;
}

class Boom extends Error {}

async function transaction() {
	let n = 0;
	await withSql(async (sql) => {
		await workers(async (i) => {
			for (let r = 0; r < RUNS; r++) {
				const res = await sql.begin(async (tx) => {
					await tx`INSERT INTO pjs_t VALUES (${i}, ${r}, 'committed')`;
					// pipelined inside the transaction
					return Promise.all([
						tx`SELECT count(*)::int AS c FROM pjs_t WHERE client = ${i}`,
						tx`SELECT ${r}::int + 1 AS x`,
					]);
				});
				assert.deepEqual([...res[0]], [{ c: r + 1 }]);
				assert.deepEqual([...res[1]], [{ x: r + 1 }]);
				await assert.rejects(sql.begin(async (tx) => {
					await tx`INSERT INTO pjs_t VALUES (${i}, ${r}, 'rolled back')`;
					const c = await tx`SELECT count(*)::int AS c FROM pjs_t WHERE client = ${i}`;
					assert.equal(c[0].c, r + 2);
					throw new Boom('roll back');
				}), Boom);
				await assert.rejects(sql.begin(async (tx) => {
					await tx`INSERT INTO pjs_t VALUES (${i}, ${r}, 'error')`;
					await tx`SELECT 1 / (${r}::int - ${r}::int)`;
				}), (err) => err.code === '22012');
				const rows = await sql`SELECT note, count(*)::int AS c FROM pjs_t WHERE client = ${i} GROUP BY note`;
				assert.deepEqual([...rows], [{ note: 'committed', c: r + 1 }]);
				n += 3;
			}
		});
	});
	return `${N_CLIENTS} workers, ${n} transactions ok`;
}

async function errors() {
	let n = 0;
	await withSql(async (sql) => {
		await workers(async (i) => {
			for (let r = 0; r < RUNS; r++) {
				const got = await Promise.all([
					sql`SELECT 1 / (${r}::int - ${r}::int)`.then(() => 'no error', (err) => err.code),
					sql`SELECT ${i}::int AS i, ${r}::int AS r`,
					sql`SELECT * FROM no_such_table`.then(() => 'no error', (err) => err.code),
					sql`SELECT ${`after ${r}`}::text AS t`,
				]);
				assert.equal(got[0], '22012');
				assert.deepEqual([...got[1]], [{ i, r }]);
				assert.equal(got[2], '42P01');
				assert.deepEqual([...got[3]], [{ t: `after ${r}` }]);
				n += got.length;
			}
		});
	});
	return `${N_CLIENTS} workers, ${n} queries ok`;
}

main({ queries, transaction, errors });
