# lokicall: `make demo` runs a demo call, `make test` runs the tests.

export PATH := $(PATH):/usr/local/go/bin
# Only the Opus codec is used, not libopusfile (whose headers make deps still
# installs, so that plain `go build/vet/test ./...` work as well).
export GOFLAGS := -tags=nolibopusfile
SHELL := /bin/bash
GO ?= go
# Fuzzing is bounded by executions, not time: Go 1.26's coordinator can report
# a spurious "context deadline exceeded" when a -fuzztime duration ends while a
# worker is mid-call (go.dev/issue/75804, fixed in Go 1.27). FUZZ_SCALE
# multiplies every target's budget for a longer local run.
FUZZ_SCALE ?= 1

.PHONY: all deps build demo test unit e2e fuzz vet bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(GO) build -o bin/lokicall ./cmd/lokicall

# A real call between two local lokicall processes: no Lokinet, root or sound
# card needed. Prints the statistics and writes the received audio to out/.
demo: build
	bin/lokicall demo --out out/demo-received.wav

# Everything CI runs: vet, the unit tests under the race detector, the
# two-process end-to-end call, and every fuzz target for a bounded time.
test: deps vet unit e2e fuzz

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

# Long end-to-end runs: real processes, real sockets, real DTLS-SRTP and Opus.
e2e: build
	LOKICALL_E2E=1 $(GO) test -count=1 -run 'E2E|OnionNetworkInNamespaces' ./cmd/lokicall/ ./call/ ./testnet/e2e/

fuzz:
	@set -e; for t in \
		lokinet:FuzzParseAddress:150000 lokinet:FuzzParseShared:100000 lokinet:FuzzParseTarget:80000 lokinet:FuzzResolverReply:250000 \
		signalling:FuzzDecode:200000 ice:FuzzCheckRemoteSDP:150000 \
		media:FuzzParseSpec:80000 media:FuzzWAVDecode:250000 media:FuzzPacketDuration:250000 \
		ice:FuzzImportCandidate:40000 ice:FuzzParseServer:150000 \
		config:FuzzParse:150000 config:FuzzEditKeepsFile:10000 measure:FuzzReadStamps:250000 \
		history:FuzzRead:150000 \
		testnet/node:FuzzRewriteInbound:150000 testnet/node:FuzzDNSAnswer:150000 testnet/onion:FuzzRelayHandle:100000 testnet/onion:FuzzParseTrace:100000 testnet/node:FuzzControlRequest:100000; do \
		IFS=: read -r pkg fn execs <<<"$$t"; execs=$$((execs * $(FUZZ_SCALE))); \
		echo "fuzz $$pkg $$fn for $$execs executions"; \
		$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$${execs}x ./$$pkg/ >/tmp/lokicall-fuzz.log 2>&1 || { cat /tmp/lokicall-fuzz.log; exit 1; }; \
	done

# Per-frame CPU of the media path against pion's raw sample path, a probe's
# round trip against a raw TCP echo, and the jitter buffer's replay of
# stalling paths against the same paths without stalls, each measured in the
# same run; the table goes to out/bench.txt.
bench: deps
	@mkdir -p out
	$(GO) test -run='^$$' -bench='EncodeComplexity|FrameSizes|ReceivePath|JitterPushPop' -benchtime=1s ./media/ >out/bench-raw.txt
	$(GO) test -run='^$$' -bench='SendPath' -benchtime=2s ./call/ >>out/bench-raw.txt
	$(GO) test -run='^$$' -bench='ProbeRoundTrip' -benchtime=1s ./signalling/ >>out/bench-raw.txt
	@awk '/^Benchmark/ { n=$$1; sub(/-[0-9]+$$/, "", n); ns=$$3; pct="-"; \
		for (i = 4; i < NF; i++) if ($$(i+1) == "pct_core") pct = $$i; \
		r = ""; if (n ~ /baseline-pion-raw/) base = ns; \
		if (n ~ /SendPath\/lokicall/ && base > 0) r = sprintf("  %.0fx pion raw baseline", ns / base); \
		if (n ~ /ProbeRoundTrip\/baseline-raw-echo/) pbase = ns; \
		if (n ~ /ProbeRoundTrip\/probe/ && pbase > 0) r = sprintf("  %.1fx raw TCP echo baseline", ns / pbase); \
		u = (n ~ /ProbeRoundTrip/) ? "ns/probe" : "ns/frame"; \
		printf "%-36s %10.0f %-8s %8s %% core%s\n", n, ns, u, pct, r }' out/bench-raw.txt | tee out/bench.txt
	$(GO) test -run='^$$' -bench='Stalls' -benchtime=1x ./media/ >out/stalls-raw.txt
	@awk '/^Benchmark/ { n=$$1; sub(/^BenchmarkStalls\//, "", n); sub(/-[0-9]+$$/, "", n); \
		for (i = 4; i < NF; i++) m[$$(i+1)] = $$i; \
		printf "stalls %-32s buffer delay %5.1f ms vs %5.1f ms without stalls (%.2fx), stall concealed <= %.2fx its length, back at target in %4.0f ms, %.2f %% concealed without stalls\n", \
			n, m["ms_median_stalls"], m["ms_median_calm"], m["delay_ratio"], m["conceal_per_stall"], m["ms_recovery"], m["pct_concealed_calm"] }' out/stalls-raw.txt | tee -a out/bench.txt

clean:
	rm -rf bin out testnet/build testnet/results

include testnet/testnet.mk
