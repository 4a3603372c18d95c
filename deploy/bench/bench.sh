#!/usr/bin/env bash
# bench.sh (`make bench`) measures the suite on this machine and writes docs/benchmarks.md:
#   1. finds pgbench (PostgreSQL's benchmark tool), installing Debian's postgresql-contrib when
#      it is missing and we are root;
#   2. finds or starts PostgreSQL (deploy/local/ensure-postgres.sh; the benchmark creates its own
#      databases there: crm_bench_seed, kept as the seeded template, and crm_bench, dropped after);
#   3. builds nats-server (the same pinned module as `make run`) into bin/; the benchmark runs its
#      own copy on a free loopback port, whatever else is running;
#   4. runs the Go harness in deploy/bench (go run ./cmd/bench), which builds and starts the suite,
#      seeds a million customers the first time, runs every scenario and writes the results.
# BENCH_FLAGS passes flags to the harness, e.g. BENCH_FLAGS='-only get,search -scale 0.3'
# (`go run ./cmd/bench -h` in deploy/bench lists them). It takes about 15 minutes on 2 cores,
# plus a few minutes the first time for seeding.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../local/lib.sh
source "$(dirname "$0")/../local/lib.sh"
cd "$ROOT"

NATS_VERSION="v2.15.2"

# --- pgbench ------------------------------------------------------------------------------------

find_pgbench() {
	local p
	p="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/pgbench' 2>/dev/null | sort -V | tail -n 1 || true)"
	if [[ -n "$p" && -x "$p" ]]; then
		echo "$p"
		return 0
	fi
	command -v pgbench 2>/dev/null
}

if ! PGBENCH="$(find_pgbench)"; then
	is_root || die "pgbench is not installed: apt-get install postgresql-contrib (it comes with the server package)"
	log "installing pgbench (apt-get install postgresql-contrib)"
	apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-contrib >&2
	PGBENCH="$(find_pgbench)" || die "pgbench not found after installing postgresql-contrib"
fi
log "pgbench: $PGBENCH"

# --- PostgreSQL ---------------------------------------------------------------------------------

DATABASE_URL="$(deploy/local/ensure-postgres.sh)"

# --- nats-server --------------------------------------------------------------------------------

bin="$ROOT/bin/nats-server"
if ! [[ -x "$bin" ]] || ! "$bin" --version 2>/dev/null | grep -q "$NATS_VERSION"; then
	command -v go >/dev/null 2>&1 || die "go is needed to build nats-server"
	log "building nats-server $NATS_VERSION into $ROOT/bin"
	mkdir -p "$ROOT/bin"
	# GOWORK=off: build the module on its own, not as part of this repository's workspace.
	GOWORK=off GOBIN="$ROOT/bin" go install "github.com/nats-io/nats-server/v2@$NATS_VERSION" >&2
fi

# --- the harness --------------------------------------------------------------------------------

cd "$ROOT/deploy/bench"
# shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags, split on purpose.
exec go run ./cmd/bench -root "$ROOT" -db "$DATABASE_URL" -nats-server "$bin" -pgbench "$PGBENCH" ${BENCH_FLAGS:-}
