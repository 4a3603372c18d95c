# shellcheck shell=bash
# Helpers shared by the deploy/local scripts; sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA_DIR="$ROOT/.data"

# log writes to stderr: stdout carries only the URL the callers capture.
log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "$*"; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# tcp_answers HOST PORT: something accepts TCP connections there (bash's /dev/tcp, 2 s at most).
tcp_answers() {
	# shellcheck disable=SC2016 # $0 and $1 expand in the inner bash, as intended.
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# lock_data NAME: serialise concurrent runs of the same script (make -j, two terminals) on
# .data/NAME.lock. The lock lives on fd 9; commands that start long-lived servers must close it
# (9>&-) or the server would hold the lock for its whole life.
lock_data() {
	mkdir -p "$DATA_DIR"
	exec 9>"$DATA_DIR/$1.lock"
	if command -v flock >/dev/null 2>&1; then
		flock 9
	fi
}

# pg_bindir [MAJOR]: the directory holding initdb and pg_ctl, preferring the given major version
# (an existing cluster must be run by the version that created it), else the newest installed.
pg_bindir() {
	local want="${1:-}" dir
	if [[ -n "$want" && -x "/usr/lib/postgresql/$want/bin/pg_ctl" ]]; then
		echo "/usr/lib/postgresql/$want/bin"
		return 0
	fi
	dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1 || true)"
	if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
		echo "$dir"
		return 0
	fi
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
		return 0
	fi
	return 1
}

# as_pg COMMAND...: PostgreSQL refuses to run as root, so as root run the command
# as the postgres system user; otherwise run it as ourselves.
as_pg() {
	if is_root; then
		# From /, as the checkout may be a directory postgres cannot enter.
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}
