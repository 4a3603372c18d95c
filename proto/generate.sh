#!/usr/bin/env bash
# Regenerates Go, gRPC, gateway and OpenAPI code from proto/ with pinned tools, offline:
# the googleapis protos come from the npm package google-proto-files (only the files we import).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# One generation at a time: it rewrites all of proto/gen and gateway/openapi.
exec 9>"${TMPDIR:-/tmp}/crm-generate.lock"
flock 9

GOOGLE_PROTO_FILES_VERSION=6.0.1
BUF=(go run github.com/bufbuild/buf/cmd/buf@v1.75.0)
needed=(google/api/annotations.proto google/api/http.proto google/api/field_behavior.proto
  google/api/resource.proto google/type/date.proto google/type/money.proto)

dest=third_party/googleapis
stamp=$dest/.version
if [[ "$(cat "$stamp" 2>/dev/null)" != "$GOOGLE_PROTO_FILES_VERSION" ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "google-proto-files@$GOOGLE_PROTO_FILES_VERSION" >/dev/null 2>&1 && tar xzf ./*.tgz)
  # Assemble aside and move into place, so an interrupted run never leaves a half-filled folder.
  for f in "${needed[@]}"; do
    mkdir -p "$tmp/out/$(dirname "$f")"
    cp "$tmp/package/$f" "$tmp/out/$f"
  done
  echo "$GOOGLE_PROTO_FILES_VERSION" >"$tmp/out/.version"
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest"
  mv "$tmp/out" "$dest"
fi

# Lint before deleting anything, so a broken proto leaves the last good generated code in place.
"${BUF[@]}" lint
rm -rf proto/gen/go/crm gateway/openapi
mkdir -p gateway/openapi
"${BUF[@]}" generate --path proto/crm
