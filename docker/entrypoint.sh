#!/bin/sh
# docker-entrypoint.sh: starts pgsift with the mounted ini file when there is one
# (PGSIFT_CONFIG, default /etc/pgsift/pgsift.ini), else from the environment alone. Arguments
# starting with "-" are passed to pgsift; anything else is run as a command (e.g. `sh`).
# PGSIFT_PROCESSES=N (N > 1) runs N pgsift processes on the same port (so_reuseport) with
# peering, so that cancels find their process (README.md, "Many processes").
set -e

# The value of --listen in the arguments, if any (its port is the group's).
listen_flag() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--listen=*) echo "${1#--listen=}"; return ;;
		--listen) echo "${2:-}"; return ;;
		esac
		shift
	done
}

# A key's value in the ini file (the last one wins, as in pgsift).
ini_value() {
	[ -f "$config" ] || return 0
	sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$config" | tail -n 1 |
		sed 's/[[:space:]]*[;#].*$//'
}

# N processes, each with its own Unix socket directory, peer_id and metrics port (the base
# port + i - 1); SIGTERM, SIGINT and SIGHUP go to every one; exits when they all have.
run_group() {
	n="$1"
	shift
	listen="$(listen_flag "$@")"
	port="${listen##*:}"
	[ -n "$listen" ] || port="${PGSIFT_LISTEN_PORT:-$(ini_value listen_port)}"
	port="${port:-6432}"
	base_dir="${PGSIFT_UNIX_SOCKET_DIR:-/tmp}"
	metrics="${PGSIFT_METRICS_LISTEN:-$(ini_value metrics_listen)}"
	peers=""
	i=1
	while [ "$i" -le "$n" ]; do
		mkdir -p "$base_dir/pgsift-$i"
		peers="$peers$i = host=$base_dir/pgsift-$i port=$port
"
		i=$((i + 1))
	done
	pids=""
	i=1
	while [ "$i" -le "$n" ]; do
		dir="$base_dir/pgsift-$i"
		ini="$dir/pgsift.ini"
		{
			[ -f "$config" ] && echo "%include $config"
			echo "[peers]"
			printf '%s' "$peers"
		} >"$ini"
		set_metrics=""
		if [ -n "$metrics" ]; then
			set_metrics="${metrics%:*}:$((${metrics##*:} + i - 1))"
		fi
		PGSIFT_SO_REUSEPORT=1 PGSIFT_PEER_ID="$i" PGSIFT_UNIX_SOCKET_DIR="$dir" \
			PGSIFT_METRICS_LISTEN="$set_metrics" pgsift -c "$ini" "$@" &
		pids="$pids $!"
		i=$((i + 1))
	done
	# shellcheck disable=SC2086 # $pids is a list
	trap 'kill -TERM $pids 2>/dev/null || true' TERM INT
	# shellcheck disable=SC2086
	trap 'kill -HUP $pids 2>/dev/null || true' HUP
	status=0
	for pid in $pids; do
		while kill -0 "$pid" 2>/dev/null; do
			rc=0
			wait "$pid" || rc=$?
			# a trapped signal interrupts wait with 128+n while pid still runs
			kill -0 "$pid" 2>/dev/null || { [ "$rc" -eq 0 ] || status=$rc; }
		done
	done
	exit "$status"
}

if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
	config="${PGSIFT_CONFIG:-/etc/pgsift/pgsift.ini}"
	if [ -z "${PGSIFT_UPSTREAM:-}" ] && [ -n "${DATABASE_URL:-}" ]; then
		export PGSIFT_UPSTREAM="$DATABASE_URL"
	fi
	if [ ! -f "$config" ]; then
		# No file: listen on every address of the container, as a service must. pgsift
		# refuses trust there, so PGSIFT_AUTH_TYPE and PGSIFT_AUTH_FILE must be set too.
		export PGSIFT_LISTEN_ADDR="${PGSIFT_LISTEN_ADDR:-0.0.0.0}"
	fi
	if [ "${PGSIFT_PROCESSES:-1}" -gt 1 ] 2>/dev/null; then
		run_group "$PGSIFT_PROCESSES" "$@"
	fi
	if [ -f "$config" ]; then
		set -- pgsift -c "$config" "$@"
	else
		set -- pgsift "$@"
	fi
fi
exec "$@"
