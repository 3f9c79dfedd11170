#!/usr/bin/env bash
# Builds the WebAssembly package in wasm/dist/ from rust/wasm (and the core).
#
#   wasm/build.sh                 # release build -> wasm/dist/
#   wasm/build.sh --debug-panic   # test-only variant with a panicking export -> wasm/dist-debug-panic/
#
# Idempotent and fast when nothing changed. On a fresh Debian 12 machine it
# installs what it needs: Debian's rustc-web toolchain (the rustup toolchain
# has no wasm32 standard library here; we build std with -Zbuild-std), lld-22,
# the wasm-bindgen CLI of exactly the crate's pinned version (cached under
# ~/.cache/proof-messenger/, keyed by version) and the npm devDependencies (binaryen's wasm-opt).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VARIANT=release
case "${1:-}" in
  "") ;;
  --debug-panic) VARIANT=debug-panic ;;
  *) echo "usage: wasm/build.sh [--debug-panic]" >&2; exit 2 ;;
esac

log() { echo "wasm/build.sh: $*" >&2; }

mkdir -p .cache
# One build at a time: pytest and wasm/test.sh may both ask for it.
exec 9>.cache/wasm-build.lock
flock 9

# --- 1. Debian packages -------------------------------------------------------
missing=()
for pkg in rustc-web cargo-web rust-web-src lld-22; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
DEB_CARGO=/usr/bin/cargo
DEB_RUSTC=/usr/bin/rustc

# --- 2. wasm-bindgen CLI of the pinned version --------------------------------
WBG_VERSION="$(sed -n 's/^wasm-bindgen *= *"=\([0-9][0-9.]*\)".*/\1/p' Cargo.toml)"
if [ -z "$WBG_VERSION" ]; then
  log "Cargo.toml must pin wasm-bindgen exactly (wasm-bindgen = \"=X.Y.Z\")"; exit 1
fi
if [ -f Cargo.lock ] && grep -q '^name = "wasm-bindgen"$' Cargo.lock; then
  locked="$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p' | head -n1)"
  if [ "$locked" != "$WBG_VERSION" ]; then
    log "Cargo.lock has wasm-bindgen $locked but Cargo.toml pins $WBG_VERSION"; exit 1
  fi
fi
# A per-user tool cache (keyed by version) so that clones on one machine share the build.
WBG_ROOT="${PM_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/proof-messenger}/wasm-bindgen-$WBG_VERSION"
WBG="$WBG_ROOT/bin/wasm-bindgen"
if ! "$WBG" --version 2>/dev/null | grep -qx "wasm-bindgen $WBG_VERSION"; then
  log "installing wasm-bindgen-cli $WBG_VERSION into $WBG_ROOT (a few minutes)"
  HOST_CARGO="$(command -v cargo || echo "$DEB_CARGO")"
  "$HOST_CARGO" install wasm-bindgen-cli --version "$WBG_VERSION" --locked --root "$WBG_ROOT" --quiet
fi

# --- 3. npm devDependencies (wasm-opt from binaryen, benchmark peers) ---------
if [ ! -x wasm/node_modules/.bin/wasm-opt ] || [ wasm/package-lock.json -nt wasm/node_modules/.package-lock.json ]; then
  log "npm ci in wasm/"
  (cd wasm && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- 4. cargo build for wasm32 ------------------------------------------------
# A panic aborts a wasm32 instance anyway (index.js re-instantiates it), so
# std's panic message and location machinery is dead weight: immediate-abort
# makes every panic a bare trap (about 5 KB less gzipped).
RUSTFLAGS_WASM='build.rustflags=["-Zunstable-options", "-Cpanic=immediate-abort"]'
if [ "$VARIANT" = release ]; then
  TARGET_DIR=target/wasm
  OUT_DIR=wasm/dist
  FEATURES=()
  # Speed where the benchmarks are (parse, canonicalise, SHA-256, number
  # formatting, the bindings) and size elsewhere (curve arithmetic, std):
  # measured with wasm/bench/canonical_digest.js, see wasm/README.md.
  PROFILE=(--config 'profile.release.opt-level="s"' --config 'profile.release.strip="symbols"')
  for pkg in proof-messenger-core proof-messenger-wasm sha2 ryu-js; do
    PROFILE+=(--config "profile.release.package.$pkg.opt-level=3")
  done
  WASM_OPT=(-O3)
else
  # Separate target dir and a cheap profile: this variant only proves that the
  # JS glue survives a panic; it is never shipped.
  TARGET_DIR=target/wasm-debug-panic
  OUT_DIR=wasm/dist-debug-panic
  FEATURES=(--features debug-panic)
  PROFILE=(--config 'profile.release.lto=false' --config 'profile.release.opt-level=1'
           --config 'profile.release.codegen-units=16')
  WASM_OPT=()
fi
env -u RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u RUSTC_WRAPPER \
  RUSTC="$DEB_RUSTC" RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$TARGET_DIR" \
  "$DEB_CARGO" build --quiet --release --target wasm32-unknown-unknown \
    -Zbuild-std=std,panic_abort --config "$RUSTFLAGS_WASM" "${PROFILE[@]}" \
    -p proof-messenger-wasm "${FEATURES[@]}"
RAW_WASM="$TARGET_DIR/wasm32-unknown-unknown/release/proof_messenger_wasm.wasm"

# --- 5. wasm-bindgen (+ wasm-opt) -> wasm/dist --------------------------------
# --target bundler: its *_bg.js exposes __wbg_set_wasm, so index.js owns the
# instantiation and can swap in a fresh instance after a trap (the --target web
# glue refuses to initialise twice). index.js loads the .wasm itself, so no
# bundler is needed; the generated entry file (which imports .wasm as ESM) is
# removed.
BG_WASM="$OUT_DIR/proof_messenger_wasm_bg.wasm"
if [ ! -f "$BG_WASM" ] || [ "$RAW_WASM" -nt "$BG_WASM" ] || [ "$WBG" -nt "$BG_WASM" ] \
   || [ "$ROOT/wasm/build.sh" -nt "$BG_WASM" ]; then
  rm -rf "$OUT_DIR.tmp"
  "$WBG" --target bundler --no-typescript --out-name proof_messenger_wasm \
    --out-dir "$OUT_DIR.tmp" "$RAW_WASM"
  rm -f "$OUT_DIR.tmp/proof_messenger_wasm.js" "$OUT_DIR.tmp/package.json"
  if ((${#WASM_OPT[@]})); then
    wasm/node_modules/.bin/wasm-opt "${WASM_OPT[@]}" --strip-debug --strip-producers \
      --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$OUT_DIR.tmp/proof_messenger_wasm_bg.wasm" -o "$OUT_DIR.tmp/proof_messenger_wasm_bg.wasm"
  fi
  rm -rf "$OUT_DIR"
  mv "$OUT_DIR.tmp" "$OUT_DIR"
  size=$(stat -c %s "$BG_WASM")
  gz=$(gzip -9 -c "$BG_WASM" | wc -c)
  log "built $BG_WASM: $size bytes, $gz bytes gzipped"
fi
