'use strict';
// Shared by the Node.js drivers of pgsift's client matrix (tests/clients/test_node_*.py run them):
// where to connect (libpq's PG* variables, set by the Python test), a deadline for the whole
// script so that a proxy that never answers fails the test instead of hanging it, and the
// pass/fail protocol: exit 0 and one summary line on stdout, or exit 1 with the error on stderr.

const N_CLIENTS = 8;
const RUNS = 20;

function target() {
	return {
		host: process.env.PGHOST,
		port: Number(process.env.PGPORT),
		user: process.env.PGUSER,
		database: process.env.PGDATABASE,
	};
}

// Whether the server's own view (pg_prepared_statements) is the driver's: true directly and in
// session pooling; in transaction pooling the server's statements are the proxy's business.
function checkServerStatements() {
	return process.env.CHECK_SERVER_STATEMENTS === '1';
}

async function main(commands) {
	const name = process.argv[2];
	const fn = commands[name];
	if (!fn) {
		console.error('usage: node ' + process.argv[1] + ' ' + Object.keys(commands).join('|'));
		process.exit(64);
	}
	const seconds = Number(process.env.NODE_TEST_DEADLINE || 60);
	const timer = setTimeout(() => {
		console.error(name + ': no result within ' + seconds + ' s (hang)');
		process.exit(2);
	}, seconds * 1000);
	try {
		const summary = await fn();
		clearTimeout(timer);
		console.log(name + ': ' + summary);
		process.exit(0);
	} catch (err) {
		clearTimeout(timer);
		console.error(name + ' failed: ' + (err && err.stack ? err.stack : err));
		if (err && err.code)
			console.error('SQLSTATE ' + err.code);
		process.exit(1);
	}
}

module.exports = { N_CLIENTS, RUNS, target, checkServerStatements, main };
