'use strict';
// node-postgres (`pg`) in the issue-11 tests (tests/clients/test_issue11_protocol.py runs it):
//   quick-disconnect  node-postgres's own quick-disconnect test, 20 times: client.connect() and
//                     client.end() at once, so the Terminate ('X' 0 0 0 4) is written before the
//                     startup packet. PostgreSQL closes such a connection silently: no 'error'
//                     event, no uncaught exception; connect() is rejected (the connection ended)
//                     and end() resolves. Prints one JSON summary of what happened, which the
//                     Python test compares between PostgreSQL and pgsift.
//   connect-query     a plain connect / SELECT / end afterwards, to show the proxy still serves.

const { Client } = require('pg');
const { target, main } = require('./common');

const ROUNDS = 20;

async function quickDisconnect() {
	const seen = { errorEvents: [], connect: {}, end: {}, uncaught: [] };
	const onUncaught = (err) => seen.uncaught.push(String(err && err.message));
	process.on('uncaughtException', onUncaught);
	try {
		const connects = [];
		for (let i = 0; i < ROUNDS; i++) {
			const client = new Client({ ...target(), connectionTimeoutMillis: 10000 });
			client.on('error', (err) => seen.errorEvents.push(String(err && err.message)));
			// node-postgres's test does not wait for connect(), which may never settle
			const c = { state: 'pending' };
			connects.push(c);
			client.connect().then(
				() => { c.state = 'resolved'; },
				(err) => { c.state = 'rejected: ' + String(err && err.message); });
			const e = await client.end().then(() => 'resolved',
				(err) => 'rejected: ' + String(err && err.message));
			seen.end[e] = (seen.end[e] || 0) + 1;
		}
		// whatever the server sent after the Terminate arrives (or not) within this pause
		await new Promise((resolve) => setTimeout(resolve, 300));
		for (const c of connects)
			seen.connect[c.state] = (seen.connect[c.state] || 0) + 1;
	} finally {
		process.removeListener('uncaughtException', onUncaught);
	}
	return JSON.stringify(seen);
}

async function connectQuery() {
	const client = new Client({ ...target(), connectionTimeoutMillis: 10000 });
	await client.connect();
	const res = await client.query('SELECT $1::int + 1 AS v', [41]);
	await client.end();
	return JSON.stringify(res.rows);
}

main({ 'quick-disconnect': quickDisconnect, 'connect-query': connectQuery });
