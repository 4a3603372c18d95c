#!/usr/bin/env bash
# Import rules of the layout (DESIGN.md, STYLE.md), checked by `make lint`:
#   - domain packages (services/<svc>/internal/<domain>, pkg/validate) import no database, gRPC or NATS code;
#   - a service never imports another service's packages;
#   - production code never imports pkg/testkit.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail=0
forbidden='github.com/jackc/pgx|google.golang.org/grpc|github.com/nats-io'
for dir in services/*/internal/* pkg/validate; do
	[[ -d "$dir" ]] || continue
	case "$(basename "$dir")" in store | server) continue ;; esac
	imports=$(cd "$dir" && go list -deps -f '{{.ImportPath}}' . 2>/dev/null | grep -E "$forbidden" || true)
	if [[ -n "$imports" ]]; then
		echo "domain package $dir depends on: $(echo "$imports" | tr '\n' ' ')" >&2
		fail=1
	fi
done
for svc in services/*/; do
	name=$(basename "$svc")
	others=$(cd "$svc" && go list -f '{{join .Imports "\n"}}' ./... | grep -E 'github.com/crmsuite/crm/services/' | grep -v "/services/$name/" || true)
	if [[ -n "$others" ]]; then
		echo "service $name imports another service: $others" >&2
		fail=1
	fi
done
for m in pkg services/* gateway; do
	leaks=$(cd "$m" && go list -f '{{.ImportPath}}: {{join .Imports " "}}' ./... | grep 'crm/pkg/testkit' | grep -v '^github.com/crmsuite/crm/pkg/testkit:' || true)
	if [[ -n "$leaks" ]]; then
		echo "production code imports pkg/testkit: $leaks" >&2
		fail=1
	fi
done
exit "$fail"
