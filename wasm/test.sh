#!/usr/bin/env bash
# Builds the WASM package (release + the test-only panic build) and runs the
# node --test suite over the shared vectors. Used by `make test-wasm` / .ci/run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v node >/dev/null; then
  echo "wasm/test.sh: node (>= 20) is required" >&2; exit 1
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "wasm/test.sh: node >= 20 is required (found $(node --version))" >&2; exit 1
fi

wasm/build.sh
wasm/build.sh --debug-panic
# Only the *.test.js files: `node --test wasm/test/` would also run helpers.js
# (every .js file under a directory named test counts as a test there).
tests=(wasm/test/*.test.js)
[ -f "${tests[0]}" ] || { echo "wasm/test.sh: no wasm/test/*.test.js files" >&2; exit 1; }
node --test "${tests[@]}"
