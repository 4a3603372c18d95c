#!/usr/bin/env bash
# run.sh (`make run`) runs the whole CRM on this machine:
#   1. builds the service binaries and the gateway into bin/;
#   2. finds or starts PostgreSQL and NATS (ensure-postgres.sh, ensure-nats.sh);
#   3. makes a dev HS256 secret once (.data/dev-secret) unless AUTH_HS256_SECRET is set;
#   4. starts the services and the gateway in the background, logs in .data/logs/<name>.log;
#   5. waits for the gateway's /readyz, mints dev tokens for six demo users and prints them
#      (also written to .data/tokens.env, for `source .data/tokens.env`);
#   6. runs until Ctrl-C or TERM, then stops the services and the gateway. PostgreSQL and NATS
#      keep running; deploy/local/stop-local.sh stops the ones the ensure scripts started.
# Settings are the suite's environment variables (GATEWAY_HTTP_ADDR, <SERVICE>_GRPC_ADDR,
# DATABASE_URL, NATS_URL, AUTH_*, LOG_FORMAT, …); RUN_SERVICES="audit" runs a subset.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# The services in start order: name, Go package, gRPC address variable, default address.
# Adding a service is one line here (and one in gateway/internal/gateway/upstream.go).
SERVICES=(
	"audit ./services/audit/cmd/audit AUDIT_GRPC_ADDR 127.0.0.1:9102"
	"customer ./services/customer/cmd/customer CUSTOMER_GRPC_ADDR 127.0.0.1:9101"
	"followup ./services/followup/cmd/followup FOLLOWUP_GRPC_ADDR 127.0.0.1:9103"
	"needs ./services/needs/cmd/needs NEEDS_GRPC_ADDR 127.0.0.1:9104"
	"tagging ./services/tagging/cmd/tagging TAGGING_GRPC_ADDR 127.0.0.1:9105"
	"feedback ./services/feedback/cmd/feedback FEEDBACK_GRPC_ADDR 127.0.0.1:9106"
)
GATEWAY_PKG=./gateway/cmd/gateway

# The demo users: token variable suffix, user id, display name, role, team.
USERS=(
	"ADMIN u-admin 系统管理员 admin hq"
	"MANAGER u-manager 销售经理 manager east"
	"SALES1 u-sales1 销售一 sales east"
	"SALES2 u-sales2 销售二 sales east"
	"SERVICE u-service 客服专员 service support"
	"EXEC u-exec 总经理 executive hq"
)
TOKEN_TTL_SECONDS="${TOKEN_TTL_SECONDS:-86400}"
READY_TIMEOUT_SECONDS="${READY_TIMEOUT_SECONDS:-60}"
LOG_DIR="$DATA_DIR/logs"

# --- which services -----------------------------------------------------------------------------

selected() { [[ -z "${RUN_SERVICES:-}" || ",${RUN_SERVICES// /}," == *",$1,"* ]]; }

names=() pkgs=()
for line in "${SERVICES[@]}"; do
	read -r name pkg var def <<<"$line"
	# Every binary reads the same variables: the service listens where the gateway dials.
	export "$var=${!var:-$def}"
	if selected "$name"; then
		names+=("$name")
		pkgs+=("$pkg")
	else
		export "$var=off" # the gateway leaves unselected services out (see gateway.UpstreamOff)
	fi
done
((${#names[@]} > 0)) || die "RUN_SERVICES=$RUN_SERVICES names no known service"

# --- addresses ----------------------------------------------------------------------------------

export GATEWAY_HTTP_ADDR="${GATEWAY_HTTP_ADDR:-127.0.0.1:8080}"

# The gateway as a client sees it: a wildcard listen address is reached through loopback.
gw_port="${GATEWAY_HTTP_ADDR##*:}"
gw_host="${GATEWAY_HTTP_ADDR%:*}"
case "$gw_host" in "" | 0.0.0.0 | "[::]") gw_host=127.0.0.1 ;; esac
GATEWAY_URL="http://$gw_host:$gw_port"

# Refuse to start over a running copy: the new processes would fail to listen, and the health
# checks would then report on the old ones.
for line in "${SERVICES[@]}"; do
	read -r name _ var _ <<<"$line"
	selected "$name" || continue
	addr="${!var}"
	if tcp_answers "${addr%:*}" "${addr##*:}"; then
		die "$addr ($var) is already in use: is another 'make run' running?"
	fi
done
if tcp_answers "$gw_host" "$gw_port"; then
	die "$GATEWAY_HTTP_ADDR (GATEWAY_HTTP_ADDR) is already in use: is another 'make run' running?"
fi

# --- build --------------------------------------------------------------------------------------

log "building ${names[*]} gateway into bin/"
mkdir -p bin "$LOG_DIR"
go build -o bin/ "${pkgs[@]}" "$GATEWAY_PKG"

# --- configuration ------------------------------------------------------------------------------

if [[ -z "${AUTH_HS256_SECRET:-}" ]]; then
	secret_file="$DATA_DIR/dev-secret"
	if [[ ! -s "$secret_file" ]]; then
		log "generating a dev token secret in $secret_file"
		(umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$secret_file")
	fi
	AUTH_HS256_SECRET="$(cat "$secret_file")"
fi
export AUTH_HS256_SECRET
export AUTH_ISSUER="${AUTH_ISSUER:-crm-dev}"
export AUTH_AUDIENCE="${AUTH_AUDIENCE:-crm}"
export DEV_AUTH="${DEV_AUTH:-true}"
export LOG_FORMAT="${LOG_FORMAT:-text}"
export NATS_REPLICAS="${NATS_REPLICAS:-1}"

DATABASE_URL="$(deploy/local/ensure-postgres.sh)"
NATS_URL="$(deploy/local/ensure-nats.sh)"
export DATABASE_URL NATS_URL

# --- processes ----------------------------------------------------------------------------------

pids=() procs=()

# stop_all stops the children newest first (the gateway before the services it calls): TERM,
# then KILL whatever is still running after 15 s.
stop_all() {
	local i pid
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		pid="${pids[i]}"
		kill -0 "$pid" 2>/dev/null || continue
		log "stopping ${procs[i]} (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "${procs[i]} did not stop in 15 s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	pids=()
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# show_logs prints the end of every child's log, for failures.
show_logs() {
	local p
	for p in "${procs[@]}"; do
		printf '\n--- %s (tail of %s) ---\n' "$p" "$LOG_DIR/$p.log" >&2
		tail -n 30 "$LOG_DIR/$p.log" >&2 || true
	done
}

# start NAME runs bin/NAME in the background in a session of its own (setsid), so that Ctrl-C
# reaches only this script, which then stops the children in order: gateway first. Each runs with
# GOMAXPROCS=1 unless GOMAXPROCS is set: the seven Go processes share this machine's cores with
# PostgreSQL and NATS, and with one P each they spend 15–30 % less CPU per request
# (docs/benchmarks.md, "One core per service").
start() {
	local name="$1"
	: >"$LOG_DIR/$name.log"
	GOMAXPROCS="${GOMAXPROCS:-1}" setsid "bin/$name" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
	pids+=("$!")
	procs+=("$name")
	log "started $name (pid $!, log .data/logs/$name.log)"
}

for name in "${names[@]}"; do
	start "$name"
done
start gateway

# --- HTTP without curl (not on every fresh Debian) ---------------------------------------------

# http METHOD PATH [JSON]: prints the status code on the first line, then the body. HTTP/1.0, so
# the server closes the connection after the response and never chunks it.
http() {
	local method="$1" path="$2" body="${3:-}" len response
	len="$(LC_ALL=C && printf '%s' "${#body}")"
	exec 3<>"/dev/tcp/$gw_host/$gw_port" || return 1
	printf '%s %s HTTP/1.0\r\nHost: %s:%s\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s' \
		"$method" "$path" "$gw_host" "$gw_port" "$len" "$body" >&3
	response="$(timeout 10 cat <&3)" || true
	exec 3>&-
	# "HTTP/1.0 200 OK" → 200, then the body after the blank line.
	sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' <<<"$response"
	sed '1,/^\r\{0,1\}$/d' <<<"$response"
}

# --- wait for readiness -------------------------------------------------------------------------

log "waiting for $GATEWAY_URL/readyz (up to ${READY_TIMEOUT_SECONDS}s)"
deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
ready=""
while ((SECONDS < deadline)); do
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[i]}" 2>/dev/null; then
			log "${procs[i]} exited during start-up"
			show_logs
			exit 1
		fi
	done
	if out="$(http GET /readyz 2>/dev/null)" && [[ "$(head -n 1 <<<"$out")" == 200 ]]; then
		ready=1
		break
	fi
	sleep 0.5
done
if [[ -z "$ready" ]]; then
	log "the gateway was not ready after ${READY_TIMEOUT_SECONDS}s; last /readyz: $(tail -n +2 <<<"${out:-}")"
	show_logs
	exit 1
fi

# --- dev tokens ---------------------------------------------------------------------------------

tokens_file="$DATA_DIR/tokens.env"
tokens=""
if [[ "$DEV_AUTH" == true ]]; then
	for line in "${USERS[@]}"; do
		read -r var id display role team <<<"$line"
		body="$(printf '{"userId":"%s","name":"%s","roles":["%s"],"team":"%s","ttlSeconds":%s}' \
			"$id" "$display" "$role" "$team" "$TOKEN_TTL_SECONDS")"
		out="$(http POST /v1/auth/dev-token "$body")" || die "POST /v1/auth/dev-token failed"
		if [[ "$(head -n 1 <<<"$out")" != 200 ]]; then
			die "POST /v1/auth/dev-token for $id: $(tail -n +2 <<<"$out")"
		fi
		token="$(tail -n +2 <<<"$out" | sed -n 's/.*"token":"\([A-Za-z0-9._-]*\)".*/\1/p')"
		[[ -n "$token" ]] || die "no token in the dev-token response for $id"
		tokens+="export TOKEN_$var=$token"$'\n'
	done
	(umask 077 && printf '# dev tokens from deploy/local/run.sh, valid %ss; source .data/tokens.env\nexport GATEWAY=%s\n%s' \
		"$TOKEN_TTL_SECONDS" "$GATEWAY_URL" "$tokens" >"$tokens_file")
fi

# --- summary ------------------------------------------------------------------------------------

{
	echo
	echo "CRM is running."
	echo "  REST gateway:  $GATEWAY_URL"
	echo "  OpenAPI:       $GATEWAY_URL/openapi.json"
	echo "  readiness:     $GATEWAY_URL/readyz"
	for line in "${SERVICES[@]}"; do
		read -r name _ var _ <<<"$line"
		selected "$name" && printf '  %-14s %s (gRPC, %s)\n' "$name:" "${!var}" "$var"
	done
	echo "  PostgreSQL:    $DATABASE_URL"
	echo "  NATS:          $NATS_URL"
	echo "  logs:          .data/logs/"
	if [[ -n "$tokens" ]]; then
		echo
		echo "Dev tokens (also in .data/tokens.env: source .data/tokens.env):"
		printf '%s' "$tokens"
		echo
		echo "Try:  curl -H \"Authorization: Bearer \$TOKEN_ADMIN\" $GATEWAY_URL/v1/customers"
	fi
	echo
	echo "Ctrl-C stops the services; deploy/local/stop-local.sh stops PostgreSQL and NATS."
}

# --- run until told to stop or a child dies ----------------------------------------------------

while true; do
	wait -n "${pids[@]}" || true
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[i]}" 2>/dev/null; then
			log "${procs[i]} exited unexpectedly; stopping the rest"
			show_logs
			exit 1
		fi
	done
done
