# Every target installs what it needs (scripts/setup.sh); `make help` lists them.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
PY := .venv/bin/python

.PHONY: help demo setup test check tests mutants mutants-ci test-rust test-python test-slow test-wasm bench-guard lint lints bench fmt

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

demo: ## run the Relay Server with its demo on embedded defaults (http://127.0.0.1:8787/demo/)
	scripts/setup.sh --all
	wasm/build.sh
	$(PY) -m proof_messenger.relay --demo

setup: ## install everything the tests need
	scripts/setup.sh --all

test: setup ## run every test: Rust, Python (incl. relay and browser), WASM/JS, benchmark ratio guard
	$(MAKE) --no-print-directory tests

check: ## the tests and the linters, without the set-up step (after one `make setup`)
	$(MAKE) --no-print-directory tests lints

tests: test-rust test-wasm test-python bench-guard ## every test, without the set-up step

test-rust: ## cargo tests of the core and the bindings
	cargo test -p proof-messenger-core -p proof-messenger-relay -p proof-messenger-wasm --quiet

test-wasm: ## build the WASM package and run node --test
	wasm/test.sh

test-python: ## pytest (unit, property, vectors, relay, browser)
	$(PY) -m pytest -q

test-slow: ## pytest with HYPOTHESIS_PROFILE=slow: 2,000 examples per property (before a release)
	HYPOTHESIS_PROFILE=slow $(PY) -m pytest -q

bench-guard: ## short benchmark run: fail if verify_batch is slower than the PyNaCl loop
	$(PY) benches/ratio_guard.py

lint: setup ## rustfmt, clippy -D warnings, ruff, mypy --strict, the import layers
	$(MAKE) --no-print-directory lints

lints: ## the linters, without the set-up step
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(PY) -m ruff check python tests benches examples scripts
	$(PY) -m ruff format --check python tests benches examples scripts
	$(PY) -m mypy
	.venv/bin/lint-imports

mutants: ## mutation testing of every file in mutants.toml (long: docs/TESTING.md has the figures)
	scripts/setup.sh --mutants
	$(PY) scripts/mutants.py

mutants-ci: ## mutation testing of the ci = true files of mutants.toml; fails on a surviving mutant
	scripts/setup.sh --mutants
	$(PY) scripts/mutants.py --ci

bench: ## the full benchmarks (docs/PERFORMANCE.md; the relay's: benches/relay/bench.py)
	scripts/setup.sh --bench
	$(PY) -m pytest benches -q --benchmark-enable --benchmark-json=benches/results/latest.json

fmt: ## format Rust and Python sources
	cargo fmt --all
	$(PY) -m ruff format python tests benches examples scripts
