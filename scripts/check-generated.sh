#!/usr/bin/env bash
# Regenerates the API bundles (api/bundled/*.json, scripts/bundle.sh) and the *.gen.go of the given
# modules and fails when they differ from what is on disk (that is: someone changed a spec or a
# generator config without running `make generate`). The files on disk are restored afterwards,
# so a failing check never rewrites your tree.
set -euo pipefail
cd "$(dirname "$0")/.."
snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT
generated() {
  find api/bundled -name '*.json'
  for m in "$@"; do find "$m" -name '*.gen.go' -not -path '*/node_modules/*'; done
}
mapfile -t files < <(generated "$@" | sort)
for f in "${files[@]}"; do mkdir -p "$snap/$(dirname "$f")"; cp "$f" "$snap/$f"; done
scripts/bundle.sh
for m in "$@"; do (cd "$m" && go generate ./...); done
status=0
mapfile -t after < <(generated "$@" | sort)
if [ "${files[*]}" != "${after[*]}" ]; then
  echo "check-generated: the set of generated files changed; run 'make generate' and commit" >&2
  status=1
fi
for f in "${after[@]}"; do
  if [ ! -f "$snap/$f" ] || ! cmp -s "$f" "$snap/$f"; then
    echo "check-generated: $f is stale; run 'make generate' and commit the result" >&2
    diff -u "$snap/$f" "$f" 2>/dev/null | head -20 >&2 || true
    status=1
  fi
done
# restore what was on disk
for f in "${after[@]}"; do [ -f "$snap/$f" ] || rm -f "$f"; done
for f in "${files[@]}"; do cp "$snap/$f" "$f"; done
[ $status -eq 0 ] && echo "check-generated: ${#files[@]} generated files are up to date"
exit $status
