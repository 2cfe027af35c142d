#!/bin/sh
# docker-entrypoint.sh: starts pgsift with the mounted ini file when there is one
# (PGSIFT_CONFIG, default /etc/pgsift/pgsift.ini), else from the environment alone. Arguments
# starting with "-" are passed to pgsift; anything else is run as a command (e.g. `sh`).
set -e
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
	config="${PGSIFT_CONFIG:-/etc/pgsift/pgsift.ini}"
	if [ -z "${PGSIFT_UPSTREAM:-}" ] && [ -n "${DATABASE_URL:-}" ]; then
		export PGSIFT_UPSTREAM="$DATABASE_URL"
	fi
	if [ -f "$config" ]; then
		set -- pgsift -c "$config" "$@"
	else
		# No file: listen on every address of the container, as a service must. pgsift
		# refuses trust there, so PGSIFT_AUTH_TYPE and PGSIFT_AUTH_FILE must be set too.
		export PGSIFT_LISTEN_ADDR="${PGSIFT_LISTEN_ADDR:-0.0.0.0}"
		set -- pgsift "$@"
	fi
fi
exec "$@"
