#!/usr/bin/env bash
# Installs what tenantd needs to build, run and test: the PostgreSQL server
# programs (initdb, pg_ctl, postgres), redis-server and the Go modules.
#
# tenantd runs its own private PostgreSQL clusters (the embedded default and
# the tests' throwaway clusters) from the installed binaries; it never uses a
# system cluster. On a fresh Debian install we therefore tell
# postgresql-common not to create (and start) its "main" cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

have_initdb() {
	command -v initdb >/dev/null 2>&1 && return 0
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && return 0
	done
	return 1
}

missing=()
have_initdb || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

if [ ${#missing[@]} -gt 0 ]; then
	cmd="apt-get install -y ${missing[*]}"
	if [ "$EUID" -eq 0 ] && [ -f /etc/debian_version ]; then
		echo "deps: installing ${missing[*]}" >&2
		# No system cluster: tenantd starts its own (postgresql-common reads
		# createcluster.d when the server package is configured).
		mkdir -p /etc/postgresql-common/createcluster.d
		echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/tenantd.conf
		export DEBIAN_FRONTEND=noninteractive
		apt-get update
		# shellcheck disable=SC2086
		$cmd
	else
		echo "deps: missing ${missing[*]}. Install with:" >&2
		if [ -f /etc/debian_version ]; then
			echo "  sudo $cmd" >&2
		else
			echo "  the PostgreSQL server (initdb, pg_ctl, postgres) and redis-server from your system's packages" >&2
		fi
		exit 1
	fi
	have_initdb || { echo "deps: initdb still not found after installing postgresql" >&2; exit 1; }
	command -v redis-server >/dev/null 2>&1 || { echo "deps: redis-server still not found after installing it" >&2; exit 1; }
fi

# `make bench` (./scripts/deps.sh bench) also drives the API from outside
# with wrk; without it, that part of the benchmark is skipped with a
# message. pgbench comes with the PostgreSQL server package.
if [ "${1:-}" = bench ] && ! command -v wrk >/dev/null 2>&1; then
	if [ "$EUID" -eq 0 ] && [ -f /etc/debian_version ]; then
		echo "deps: installing wrk (for make bench)" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update && apt-get install -y wrk ||
			echo "deps: could not install wrk; make bench skips the outside measurement" >&2
	else
		echo "deps: wrk is missing; make bench skips the outside measurement. Install it with:" >&2
		if [ -f /etc/debian_version ]; then
			echo "  sudo apt-get install -y wrk" >&2
		else
			echo "  your system's wrk package" >&2
		fi
	fi
fi

go mod download
