#!/usr/bin/env bash
# stop-local.sh stops the servers that ensure-postgres.sh and ensure-nats.sh started in .data/, and
# nothing else: servers that were already running (found on the probe ports) are left alone.
# Their data stays; remove .data/ to start afresh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

pidfile="$DATA_DIR/nats.pid"
if [[ -f "$pidfile" ]]; then
	pid="$(cat "$pidfile")"
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q nats-server "/proc/$pid/cmdline" 2>/dev/null; then
		log "stopping nats-server (pid $pid)"
		kill -TERM "$pid"
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "nats-server did not stop in 10s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$pidfile"
fi

data="$DATA_DIR/postgres"
if [[ -f "$data/PG_VERSION" ]]; then
	data="$(readlink -f "$data")"
	if bindir="$(pg_bindir "$(cat "$data/PG_VERSION")")"; then
		if as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
			log "stopping PostgreSQL in $data"
			as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2
		fi
	else
		log "PostgreSQL binaries not found; cannot stop the cluster in $data"
		exit 1
	fi
fi
