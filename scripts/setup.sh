#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian 12 machine.
# Idempotent: each step is skipped when its result is already there.
#
#   scripts/setup.sh            python venv + the extension (enough for the demo)
#   scripts/setup.sh --all      also the wasm toolchain, Chromium, Redis (the tests)
#   scripts/setup.sh --mutants  --all and cargo-mutants (make mutants, make mutants-ci)
#   scripts/setup.sh --bench    --all and wrk, the relay benchmarks' load generator (make bench)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

want_all=0
want_mutants=0
want_bench=0
[ "${1:-}" = "--all" ] && want_all=1
[ "${1:-}" = "--mutants" ] && want_all=1 && want_mutants=1
[ "${1:-}" = "--bench" ] && want_all=1 && want_bench=1

apt_packages=()
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || apt_packages+=("$1"); }
need_pkg python3-venv
if [ "$want_all" = 1 ]; then
  # Debian's rustc-web brings a wasm32 std (the rustup toolchain here has none), lld-22 its linker.
  for p in rustc-web cargo-web rust-web-src lld-22 chromium redis-server; do need_pkg "$p"; done
fi
[ "$want_bench" = 1 ] && need_pkg wrk
if [ "${#apt_packages[@]}" -gt 0 ]; then
  echo "setup: apt-get install ${apt_packages[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

# The relay started as root drops to a dedicated system user (docs/RELAY.md, `user`); a
# package's install step would create it, and so does this one (as root only).
if [ "$(id -u)" = 0 ] && ! id proof-messenger >/dev/null 2>&1; then
  echo "setup: useradd --system proof-messenger (the relay's service user)"
  useradd --system --no-create-home --shell /usr/sbin/nologin proof-messenger
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.deps-stamp
deps_hash=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$deps_hash" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q "maturin>=1.7,<2"
  # Installs the extras' dependencies; the extension itself is built just below.
  .venv/bin/python - <<'PY' > .venv/requirements.txt
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for extra in ("relay", "test"):
    print("\n".join(project["optional-dependencies"][extra]))
PY
  .venv/bin/pip install -q -r .venv/requirements.txt
  echo "$deps_hash" > "$stamp"
fi

# (Re)build the extension into the venv; cargo makes this fast when nothing changed.
.venv/bin/maturin develop --release --quiet 2>&1 | grep -vE "^(📦|🔗|✏️|🛠|🐍|Ignoring |⚠️  Warning: .*extension-module)" || true
.venv/bin/python -c "import proof_messenger" || { echo "setup: the extension failed to build" >&2; exit 1; }

# cargo-mutants, pinned, built from crates.io once (its own binary; about 2 minutes on 2 cores).
CARGO_MUTANTS_VERSION=27.1.0
if [ "$want_mutants" = 1 ] && [ "$(cargo mutants --version 2>/dev/null)" != "cargo-mutants $CARGO_MUTANTS_VERSION" ]; then
  echo "setup: cargo install cargo-mutants $CARGO_MUTANTS_VERSION"
  cargo install --quiet --locked cargo-mutants --version "$CARGO_MUTANTS_VERSION"
fi
