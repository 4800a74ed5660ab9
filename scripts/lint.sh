#!/usr/bin/env bash
# gofmt, go vet, staticcheck and sloglint (pinned as Go tools in tools/go.mod) over every module, then the
# API documents: AsyncAPI validation and OpenAPI lint (tools/apilint, versions pinned in its
# package-lock.json). Quiet when clean: one line per check; on a problem, the problem.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l "$@" 2>/dev/null | grep -v '/node_modules/' || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change these files (run gofmt -w):"
  echo "$unformatted"
  exit 1
fi
echo "gofmt: clean"
# staticcheck is pinned in tools/go.mod; built once so that standalone modules (GOWORK=off) can use it.
staticcheck=$PWD/bin/staticcheck
go build -o "$staticcheck" honnef.co/go/tools/cmd/staticcheck
# sloglint keeps one set of log attribute names — camelCase like the JSON of the API, "error" for
# errors — and the context-taking log calls wherever a context is at hand, so that every line of a
# request or a message carries its requestId (and trace).
sloglint=$PWD/bin/sloglint
go build -o "$sloglint" go-simpler.org/sloglint/cmd/sloglint
standalone=" ${STANDALONE_MODULES:-infra examples} "
checked=()
for m in "$@"; do
  if [ ! -f "$m/go.mod" ] || [ -z "$(find "$m" -name "*.go" -not -path "*/node_modules/*" -print -quit)" ]; then
    continue
  fi
  gowork=${GOWORK:-}
  [[ $standalone == *" $m "* ]] && gowork=off
  if ! (cd "$m" && GOWORK=$gowork go vet ./... && GOWORK=$gowork "$staticcheck" ./... &&
    GOWORK=$gowork "$sloglint" -key-naming-case camel -forbidden-keys err -ctx-only scope ./...); then
    echo "go vet / staticcheck / sloglint: the findings above are in module $m"
    exit 1
  fi
  checked+=("$m")
done
echo "go vet, staticcheck, sloglint: clean in ${checked[*]}"

# API documents, sources and the bundles the services serve: Redocly (recommended), Spectral (oas,
# asyncapi, OWASP; tools/apilint/.spectral.yaml) and the AsyncAPI parser, with tool versions pinned
# in tools/apilint/package-lock.json (installed once; reinstalled when the lock changes).
apilint=tools/apilint
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
if [ ! -d "$apilint/node_modules" ] || [ "$apilint/package-lock.json" -nt "$apilint/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$apilint" --loglevel=error >/dev/null
fi
# Quiet when clean: redocly's Node.js support banner and its list of warnings (rules kept at warn
# in redocly.yaml) are shown only when the lint fails; a clean run counts the warnings.
if ! out=$(npm run --prefix "$apilint" -s lint 2>&1); then
  sed '/╔/,/╚/d' <<<"$out"
  echo "api lint: the problems above are in api/ (rules: $apilint/redocly.yaml, $apilint/.spectral.yaml)"
  exit 1
fi
grep -E ': valid AsyncAPI' <<<"$out" || true
warnings=$(grep -oE 'You have [0-9]+ warnings?' <<<"$out" | grep -oE '[0-9]+' || true)
note=""
if [ -n "$warnings" ]; then
  note="; $warnings warnings of rules kept at warn (npm run --prefix $apilint -s lint lists them)"
fi
echo "api lint: no errors (Redocly, Spectral with OWASP rules, AsyncAPI parser; api/*.yaml and api/bundled/*.json)$note"
