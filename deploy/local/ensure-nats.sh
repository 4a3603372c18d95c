#!/usr/bin/env bash
# ensure-nats.sh prints the URL of a NATS server with JetStream for local runs and tests, starting
# one when none is found:
#   1. $NATS_URL, when set;
#   2. the server answering on 127.0.0.1:$NATS_PROBE_PORT (default 4222), when it is 2.10 or later;
#   3. otherwise nats-server (built once into bin/ from its Go module) on 127.0.0.1:$NATS_LOCAL_PORT
#      (default 54222), JetStream store in .data/nats, pid in .data/nats.pid, log in .data/nats.log.
#      deploy/local/stop-local.sh stops it.
# Only the URL goes to stdout, so callers write NATS_URL=$(deploy/local/ensure-nats.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

NATS_PROBE_PORT="${NATS_PROBE_PORT:-4222}"
NATS_LOCAL_PORT="${NATS_LOCAL_PORT:-54222}"
NATS_VERSION="v2.15.2"

if [[ -n "${NATS_URL:-}" ]]; then
	echo "$NATS_URL"
	exit 0
fi

# nats_version HOST PORT prints the version a NATS server announces in its INFO line.
nats_version() {
	# shellcheck disable=SC2016 # $0 and $1 expand in the inner bash, as intended.
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && head -n 1 <&3' "$1" "$2" 2>/dev/null |
		sed -n 's/.*"version":"\([0-9.]*\)".*/\1/p'
}

# The suite needs 2.10 or later: some of its consumers filter on several subjects, which older
# servers ignore (they would deliver every event). Debian 12 ships 2.9.
if tcp_answers 127.0.0.1 "$NATS_PROBE_PORT"; then
	version="$(nats_version 127.0.0.1 "$NATS_PROBE_PORT")"
	if [[ "$(printf '%s\n' 2.10.0 "$version" | sort -V | head -n 1)" == 2.10.0 ]]; then
		log "using the NATS server $version on 127.0.0.1:$NATS_PROBE_PORT"
		echo "nats://127.0.0.1:$NATS_PROBE_PORT"
		exit 0
	fi
	log "the NATS server on 127.0.0.1:$NATS_PROBE_PORT is ${version:-of an unknown version}; the suite needs 2.10 or later"
fi

lock_data nats
url="nats://127.0.0.1:$NATS_LOCAL_PORT"
pidfile="$DATA_DIR/nats.pid"
logfile="$DATA_DIR/nats.log"
bin="$ROOT/bin/nats-server"

# running: the pid file names a live nats-server.
running() {
	local pid
	[[ -f "$pidfile" ]] || return 1
	pid="$(cat "$pidfile")"
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q nats-server "/proc/$pid/cmdline" 2>/dev/null
}

if ! running; then
	if ! [[ -x "$bin" ]] || ! "$bin" --version 2>/dev/null | grep -q "$NATS_VERSION"; then
		command -v go >/dev/null 2>&1 || die "go is needed to build nats-server; or set NATS_URL"
		log "building nats-server $NATS_VERSION into $ROOT/bin"
		# GOWORK=off: build the module on its own, not as part of this repository's workspace.
		GOWORK=off GOBIN="$ROOT/bin" go install "github.com/nats-io/nats-server/v2@$NATS_VERSION" >&2
	fi
	mkdir -p "$DATA_DIR/nats"
	log "starting nats-server on 127.0.0.1:$NATS_LOCAL_PORT (log: $logfile)"
	nohup "$bin" -a 127.0.0.1 -p "$NATS_LOCAL_PORT" -js -sd "$DATA_DIR/nats" \
		</dev/null >>"$logfile" 2>&1 9>&- &
	echo "$!" >"$pidfile"
fi

for _ in $(seq 1 150); do
	if tcp_answers 127.0.0.1 "$NATS_LOCAL_PORT"; then
		echo "$url"
		exit 0
	fi
	running || break
	sleep 0.2
done
tail -n 20 "$logfile" >&2 || true
die "nats-server did not come up on 127.0.0.1:$NATS_LOCAL_PORT"
