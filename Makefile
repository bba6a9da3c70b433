# RTC suite: turnd, sipd, xmppd.
#   make run   build, then start the whole suite locally for a demo (Ctrl-C stops it)
#   make test  install missing test peers, then run every test suite
SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= /usr/bin/python3
FUZZ_SECONDS ?= 20
export CARGO_TERM_COLOR ?= never

.PHONY: all build release run test test-deps unit fuzz-smoke interop deb test-deb clippy fmt bench-turn bench-sip bench-xmpp bench-xmpp-muc clean

all: build

build:
	$(CARGO) build --workspace --bins

release:
	$(CARGO) build --workspace --bins --release

run: build
	./scripts/run-demo.sh

test-deps:
	./scripts/install-test-deps.sh

test: test-deps build unit fuzz-smoke interop test-deb
	@echo "make test: all suites passed"

unit:
	$(CARGO) test --workspace

# Each codec's fuzz target, built with cargo-fuzz on the stable toolchain and run briefly.
fuzz-smoke:
	./scripts/fuzz-smoke.sh $(FUZZ_SECONDS)

interop:
	$(PYTHON) -m pytest -v tests/interop

deb:
	./scripts/build-debs.sh

test-deb:
	./scripts/test-deb.sh

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench-turn: release
	./bench/turn.sh

bench-sip: release
	./bench/sip.sh

bench-xmpp: release
	./bench/xmpp.sh

bench-xmpp-muc: release
	./bench/xmpp_muc.sh

clean:
	$(CARGO) clean
	rm -rf .state
