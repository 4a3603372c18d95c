#!/usr/bin/env bash
# Checks that the protos in the work tree do not break the API of the main branch (buf breaking).
# The googleapis imports are git-ignored, so the main branch's protos are checked out into a
# temporary folder beside a copy of them, built into an image, and compared with the work tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
BUF=(go run github.com/bufbuild/buf/cmd/buf@v1.75.0)
against=${1:-main}
if ! git rev-parse -q --verify "$against" >/dev/null || ! git cat-file -e "$against:buf.yaml" 2>/dev/null; then
  echo "breaking: no $against branch with buf.yaml to compare with; skipped"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$against" proto/crm buf.yaml | tar -x -C "$tmp"
mkdir -p "$tmp/third_party"
cp -r third_party/googleapis "$tmp/third_party/"
(cd "$tmp" && "${BUF[@]}" build -o "$tmp/against.binpb")
"${BUF[@]}" build -o "$tmp/current.binpb"
"${BUF[@]}" breaking "$tmp/current.binpb" --against "$tmp/against.binpb" --exclude-imports
