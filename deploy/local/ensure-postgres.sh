#!/usr/bin/env bash
# ensure-postgres.sh prints the URL of a PostgreSQL server for local runs and tests, starting one
# when none is found:
#   1. $DATABASE_URL, when set;
#   2. the server answering on 127.0.0.1:$PG_PROBE_PORT (default 5432), as user postgres;
#   3. otherwise a cluster of our own in .data/postgres on 127.0.0.1:$PG_LOCAL_PORT (default 55432),
#      trust auth, created on first use (installing Debian's postgresql package when no binaries
#      are found) and started when stopped. deploy/local/stop-local.sh stops it.
# Only the URL goes to stdout, so callers write DATABASE_URL=$(deploy/local/ensure-postgres.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

PG_PROBE_PORT="${PG_PROBE_PORT:-5432}"
PG_LOCAL_PORT="${PG_LOCAL_PORT:-55432}"

if [[ -n "${DATABASE_URL:-}" ]]; then
	echo "$DATABASE_URL"
	exit 0
fi

# pg_answers PORT: a PostgreSQL server accepts connections on 127.0.0.1:PORT.
pg_answers() {
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -h 127.0.0.1 -p "$1" -t 2
	else
		tcp_answers 127.0.0.1 "$1"
	fi
}

# warn_without_trgm URL: the services' keyword search needs the pg_trgm extension.
warn_without_trgm() {
	local psql="${2:-psql}" n
	command -v "$psql" >/dev/null 2>&1 || return 0
	n="$(PGCONNECT_TIMEOUT=3 "$psql" "$1" -XAtqc "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'" 2>/dev/null || echo "?")"
	if [[ "$n" != "1" ]]; then
		log "warning: the pg_trgm extension is not available on $1 (Debian: apt-get install postgresql-contrib)"
	fi
}

if pg_answers "$PG_PROBE_PORT"; then
	url="postgres://postgres@127.0.0.1:$PG_PROBE_PORT/postgres?sslmode=disable"
	log "using the PostgreSQL server on 127.0.0.1:$PG_PROBE_PORT"
	warn_without_trgm "$url"
	echo "$url"
	exit 0
fi

lock_data postgres
data="$DATA_DIR/postgres"
url="postgres://postgres@127.0.0.1:$PG_LOCAL_PORT/postgres?sslmode=disable"

major=""
if [[ -f "$data/PG_VERSION" ]]; then
	major="$(cat "$data/PG_VERSION")"
fi
if ! bindir="$(pg_bindir "$major")"; then
	is_root || die "PostgreSQL is not installed: install it (apt-get install postgresql) or set DATABASE_URL"
	log "installing PostgreSQL (apt-get install postgresql)"
	apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
	bindir="$(pg_bindir "$major")" || die "PostgreSQL binaries not found after installing the postgresql package"
	# The package may have started its own cluster on the default port.
	if pg_answers "$PG_PROBE_PORT"; then
		log "using the PostgreSQL server the package started on 127.0.0.1:$PG_PROBE_PORT"
		echo "postgres://postgres@127.0.0.1:$PG_PROBE_PORT/postgres?sslmode=disable"
		exit 0
	fi
fi

if is_root; then
	if ! id -u postgres >/dev/null 2>&1; then
		log "creating the postgres system user"
		useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
	fi
	if [[ ! -e "$data" ]] && ! runuser -u postgres -- test -x "$DATA_DIR"; then
		# The checkout is not reachable by the postgres user (e.g. under /root): keep the cluster
		# where it can be, behind a symlink, so stop-local.sh finds it all the same.
		real="/var/lib/postgresql/crm-local/$(printf '%s' "$ROOT" | cksum | cut -d ' ' -f 1)"
		log "postgres cannot reach $DATA_DIR; keeping the cluster in $real"
		mkdir -p "$real"
		ln -s "$real" "$data"
	fi
	mkdir -p "$data"
	chown postgres: "$(readlink -f "$data")"
else
	mkdir -p "$data"
fi
data="$(readlink -f "$data")"
chmod 700 "$data"

if [[ ! -f "$data/PG_VERSION" ]]; then
	log "creating a PostgreSQL cluster in $data"
	if ! as_pg "$bindir/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >&2; then
		log "initdb with locale C.UTF-8 failed; retrying with locale C"
		as_pg "$bindir/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C >&2
	fi
fi

if as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
	log "PostgreSQL in $data is already running"
else
	# The socket path must fit in 107 bytes; a deep checkout falls back to /tmp.
	sockdir="$data"
	if ((${#sockdir} > 80)); then
		sockdir=/tmp
	fi
	log "starting PostgreSQL on 127.0.0.1:$PG_LOCAL_PORT (log: $data/postgres.log)"
	if ! as_pg "$bindir/pg_ctl" -D "$data" -l "$data/postgres.log" -w -t 60 \
		-o "-p $PG_LOCAL_PORT -k '$sockdir' -c listen_addresses=127.0.0.1" start >&2 9>&-; then
		tail -n 20 "$data/postgres.log" >&2 || true
		die "PostgreSQL did not start"
	fi
fi

warn_without_trgm "$url" "$bindir/psql"
echo "$url"
