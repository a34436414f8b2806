#!/usr/bin/env bash
# Lints http/openapi.yaml with the linters integrators run on it: Redocly CLI
# (.redocly.yaml) and Spectral's spectral:oas ruleset (.spectral.yaml). Both
# fail on any warning; the few rules turned off are justified in the README
# ("API"). Needs Node.js (20.19 or newer) and npm: without them it says so and
# skips, so `make test` still runs the Go suite on a machine without Node.
# `npm ci` runs only when package.json or package-lock.json changed since the
# last install.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "lint: Node.js/npm not found: skipping the OpenAPI linters (Redocly, Spectral). Install Node.js 20.19+ to run them." >&2
	exit 0
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
	echo "lint: Node.js $(node --version) is older than 20.19: skipping the OpenAPI linters (Redocly, Spectral)." >&2
	exit 0
fi

stamp=node_modules/.tenantd-installed
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch "$stamp"
fi

# No telemetry from the linters, and no update notices in CI logs.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_NOTIFICATIONS=true
npx --no-install redocly lint --config .redocly.yaml --format=stylish http/openapi.yaml
npx --no-install spectral lint --ruleset .spectral.yaml --fail-severity=warn --display-only-failures http/openapi.yaml
