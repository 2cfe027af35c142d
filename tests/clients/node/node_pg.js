'use strict';
// node-postgres (`pg`) in pgsift's client matrix: a Pool of 8 clients working at once. Commands:
//   named        queries with `name:` (named prepared statements: Parse once per connection,
//                then only Bind/Execute), in and out of transactions
//   params       unnamed parameterized queries with values of many types, checked exactly
//   transaction  BEGIN/COMMIT, BEGIN/ROLLBACK, an error inside a transaction, then going on
//   pipeline     clients with `pipeline: true` (pg >= 8.21): many queries issued on one client
//                without awaiting each are all sent before the first answer, each with its own Sync
// Run by tests/clients/test_node_pg.py, which creates the table npg_t.

const assert = require('node:assert/strict');
const { Pool } = require('pg');
const { N_CLIENTS, RUNS, target, checkServerStatements, main } = require('./common');

function pool(options) {
	return new Pool({ ...target(), max: N_CLIENTS, connectionTimeoutMillis: 10000, ...options });
}

// Runs work(i, client) for 8 clients of the pool at once, each holding its client throughout.
async function withClients(work, options) {
	const p = pool(options);
	try {
		const clients = await Promise.all(Array.from({ length: N_CLIENTS }, () => p.connect()));
		try {
			return await Promise.all(clients.map((c, i) => work(i, c)));
		} finally {
			clients.forEach((c) => c.release());
		}
	} finally {
		await p.end();
	}
}

async function named() {
	let queries = 0;
	await withClients(async (i, c) => {
		for (let r = 0; r < RUNS; r++) {
			const tx = r % 2 === 0;
			if (tx)
				await c.query('BEGIN');
			let res = await c.query({ name: 'npg-calc', text: 'SELECT $1::int * 1000 + $2::int AS v, $3::text AS t',
				values: [i, r, `client ${i} run ${r} ü`] });
			assert.deepEqual(res.rows, [{ v: i * 1000 + r, t: `client ${i} run ${r} ü` }]);
			res = await c.query({ name: 'npg-insert', text: 'INSERT INTO npg_t (client, k, note) VALUES ($1, $2, $3) RETURNING k, note',
				values: [i, r, 'named'] });
			assert.deepEqual(res.rows, [{ k: r, note: 'named' }]);
			res = await c.query({ name: 'npg-count', text: 'SELECT count(*)::int AS n, sum(k)::int AS s FROM npg_t WHERE client = $1',
				values: [i] });
			assert.deepEqual(res.rows, [{ n: r + 1, s: (r * (r + 1)) / 2 }]);
			// array mode: values only
			res = await c.query({ name: 'npg-array', text: 'SELECT $1::int AS a, $2::text AS b', values: [r, 'x'], rowMode: 'array' });
			assert.deepEqual(res.rows, [[r, 'x']]);
			if (tx)
				await c.query('COMMIT');
			queries += 4;
		}
		if (checkServerStatements()) {
			const res = await c.query('SELECT name FROM pg_prepared_statements ORDER BY name');
			assert.deepEqual(res.rows.map((x) => x.name), ['npg-array', 'npg-calc', 'npg-count', 'npg-insert']);
		}
	});
	return `${N_CLIENTS} clients, ${queries} named queries ok`;
}

async function params() {
	let queries = 0;
	await withClients(async (i, c) => {
		const bytes = Buffer.from(Array.from({ length: 256 }, (_, k) => k));
		const doc = { client: i, a: [1, 2.5, null, true], 'ü': '日本 🐘' };
		for (let r = 0; r < RUNS; r++) {
			const ts = new Date(Date.UTC(2024, 1, 29, 23, 59, r, 123));
			const res = await c.query(
				'SELECT $1::int AS i4, $2::int8 AS i8, $3::numeric AS n, $4::text AS t, $5::bytea AS b,' +
				' $6::jsonb AS j, $7::int[] AS a, $8::timestamptz AS ts, $9::bool AS f, $10::text AS z,' +
				' $11::float8 AS d, $12::text[] AS ta',
				[-2147483648 + i, '9223372036854775807', '-12345678901234567890.000000000123456789', `zażółć 🐘 ${i} '"\\`,
					bytes, doc, [1, null, -r - 1], ts, r % 2 === 0, null, 0.1 + 0.2, ['a', 'b c', null, '{"}']]);
			assert.deepEqual(res.rows, [{
				i4: -2147483648 + i, i8: '9223372036854775807', n: '-12345678901234567890.000000000123456789',
				t: `zażółć 🐘 ${i} '"\\`, b: bytes, j: doc, a: [1, null, -r - 1], ts, f: r % 2 === 0, z: null,
				d: 0.30000000000000004, ta: ['a', 'b c', null, '{"}'],
			}]);
			// through the pool: any of its clients
			const res2 = await c.query('SELECT md5($1::bytea) AS m, length($2::text) AS l', [bytes, 'ü🐘']);
			assert.deepEqual(res2.rows, [{ m: 'e2c865db4162bed963bfaa9ef6ac18f0', l: 2 }]);
			queries += 2;
		}
	});
	return `${N_CLIENTS} clients, ${queries} parameterized queries ok`;
}

async function transaction() {
	await withClients(async (i, c) => {
		for (let r = 0; r < RUNS; r++) {
			await c.query('BEGIN');
			await c.query('INSERT INTO npg_t VALUES ($1, $2, $3)', [i, r, 'rolled back']);
			let res = await c.query("SELECT count(*)::int AS n FROM npg_t WHERE client = $1 AND note = 'rolled back'", [i]);
			assert.deepEqual(res.rows, [{ n: 1 }]);
			await c.query('ROLLBACK');
			await c.query('BEGIN');
			await c.query('INSERT INTO npg_t VALUES ($1, $2, $3)', [i, r, 'committed']);
			await c.query('COMMIT');
			// an error inside a transaction, ROLLBACK, and on
			await c.query('BEGIN');
			await c.query('INSERT INTO npg_t VALUES ($1, $2, $3)', [i, r, 'error']);
			await assert.rejects(c.query('SELECT 1 / ($1::int - $1::int)', [r]), (err) => err.code === '22012');
			await assert.rejects(c.query('SELECT 1'), (err) => err.code === '25P02');
			await c.query('ROLLBACK');
			res = await c.query('SELECT note, count(*)::int AS n FROM npg_t WHERE client = $1 GROUP BY note', [i]);
			assert.deepEqual(res.rows, [{ note: 'committed', n: r + 1 }]);
		}
	});
	return `${N_CLIENTS} clients, ${N_CLIENTS * RUNS * 3} transactions ok`;
}

async function pipeline() {
	let queries = 0;
	await withClients(async (i, c) => {
		for (let r = 0; r < 5; r++) {
			// issued together, answered in order; a failing one in the middle rejects alone
			const ps = [];
			for (let k = 0; k < 30; k++) {
				if (k === 15)
					ps.push(c.query('SELECT 1 / 0').then(() => 'no error', (err) => err.code));
				else if (k % 3 === 0)
					ps.push(c.query({ name: 'npg-pipe', text: 'SELECT $1::int + $2::int AS s', values: [k, r] }).then((x) => x.rows));
				else
					ps.push(c.query('SELECT $1::text AS t', [`${i}/${r}/${k}`]).then((x) => x.rows));
			}
			const got = await Promise.all(ps);
			got.forEach((x, k) => {
				if (k === 15)
					assert.equal(x, '22012');
				else if (k % 3 === 0)
					assert.deepEqual(x, [{ s: k + r }]);
				else
					assert.deepEqual(x, [{ t: `${i}/${r}/${k}` }]);
			});
			queries += ps.length;
		}
	}, { pipeline: true });
	return `${N_CLIENTS} clients, ${queries} pipelined queries ok`;
}

main({ named, params, transaction, pipeline });
