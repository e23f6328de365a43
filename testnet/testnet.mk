# Testnet targets, meant to be included from the top Makefile:
#   include testnet/testnet.mk
# Paths are relative to the repository root.

TESTNET_DIR     ?= testnet
TESTNET_IMAGE   ?= lokicall-testnet:latest
# The module tree lokicall is built from (another checkout works too).
TESTNET_LOKICALL_SRC ?= .
TESTNET_PROJECT ?= lokicall-testnet
# Compose v2 plugin if present, else the standalone docker-compose.
TESTNET_COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose) \
	-p $(TESTNET_PROJECT) -f $(TESTNET_DIR)/compose.yaml

TESTNET_RUNNER  ?= $(TESTNET_DIR)/build/testnet-runner
TESTNET_RUNNER_FLAGS ?= -compose "$(TESTNET_COMPOSE)" -results $(TESTNET_DIR)/results
# Extra flags for testnet-measure, e.g. TESTNET_MEASURE_FLAGS="-calls 10 -duration 30s -sweep delay=0ms,50ms"
TESTNET_MEASURE_FLAGS ?=
# The soak testnet-measure ends with (0: none)
MEASURE_SOAK ?= 3m

.PHONY: testnet-build testnet-up testnet-down testnet-ping testnet-logs testnet-runner \
	testnet-call testnet-measure testnet-ci

## testnet-build: static binaries and the FROM-scratch image (no registry needed)
testnet-build:
	mkdir -p $(TESTNET_DIR)/build/traces
	cp $(TESTNET_DIR)/traces/*.csv $(TESTNET_DIR)/traces/README.md $(TESTNET_DIR)/build/traces/
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o $(TESTNET_DIR)/build/lokinet-emu ./testnet/cmd/lokinet-emu
	cd $(TESTNET_LOKICALL_SRC) && CGO_ENABLED=1 go build -trimpath -tags nolibopusfile,netgo,osusergo \
		-ldflags='-s -w -linkmode external -extldflags -static' -o $(abspath $(TESTNET_DIR))/build/lokicall ./cmd/lokicall
	docker build -q -t $(TESTNET_IMAGE) -f $(TESTNET_DIR)/Dockerfile $(TESTNET_DIR)/build

## testnet-up: directory, 8 relays, alice and bob; returns once both nodes have a path
testnet-up: testnet-build
	$(TESTNET_COMPOSE) up -d
	$(TESTNET_COMPOSE) exec -T alice /lokinet-emu wait
	$(TESTNET_COMPOSE) exec -T bob /lokinet-emu wait

## testnet-ping: UDP round trips alice → bob by bob's .loki name, through the onion
testnet-ping:
	$(TESTNET_COMPOSE) exec -T -d bob /lokinet-emu udpecho -port 9000
	$(TESTNET_COMPOSE) exec -T alice /lokinet-emu udpping -count 10 \
		$$($(TESTNET_COMPOSE) exec -T bob /lokinet-emu whoami | cut -d' ' -f1):9000

## testnet-runner: the measurement runner (runs on the host, drives docker; cgo: it decodes with measure/media)
testnet-runner:
	mkdir -p $(TESTNET_DIR)/build $(TESTNET_DIR)/results
	go build -trimpath -o $(TESTNET_DIR)/build/testnet-runner ./testnet/cmd/testnet-runner

## testnet-call: one 10 s call alice → bob through the onion; results in testnet/results/
testnet-call: testnet-runner
	$(TESTNET_RUNNER) call $(TESTNET_RUNNER_FLAGS)

## testnet-measure: a loopback baseline on the host, 5 calls of 20 s, sweeps (hops 1..4, delay,
## jitter, loss, 2..4 concurrent node pairs), a relay killed mid-call, Lokinet's dynamics (stall,
## trace, outage, daemon-restart, handshake-loss: about 8 minutes of it), a soak of MEASURE_SOAK (3m)
## in the run's soak/ folder, the leak proof and its negative control; about 25 minutes. A failed call is reported with its cause; non-zero only
## when the testnet could not run or the leak proof failed (TESTNET_MEASURE_FLAGS=-strict: on a
## failed call too)
testnet-measure: testnet-runner
	$(TESTNET_RUNNER) measure $(TESTNET_RUNNER_FLAGS) -lokicall $(TESTNET_DIR)/build/lokicall \
		-pairs-file $(TESTNET_DIR)/compose.pairs.yaml -soak $(MEASURE_SOAK) $(TESTNET_MEASURE_FLAGS)

## testnet-ci: up, one 20 s call + leak proof + negative control, down; non-zero on a leak or a failed call
testnet-ci: testnet-up testnet-runner
	$(TESTNET_RUNNER) ci $(TESTNET_RUNNER_FLAGS); rc=$$?; $(TESTNET_COMPOSE) down --remove-orphans -v >/dev/null 2>&1; exit $$rc

testnet-logs:
	$(TESTNET_COMPOSE) logs --tail=50

## testnet-down: stop and remove the containers and network (identities are kept in volumes)
testnet-down:
	$(TESTNET_COMPOSE) down --remove-orphans

# Lokinet's dynamics, one scenario each (testnet/README.md "Lokinet's dynamics"):
# one call of a tone, its interruption table, the leak proof and its negative control.
TESTNET_DYNAMICS := testnet-stall testnet-trace testnet-outage testnet-daemon-restart testnet-handshake-loss
# Extra flags for them, e.g. TESTNET_DYNAMICS_FLAGS=-strict
TESTNET_DYNAMICS_FLAGS ?=

.PHONY: $(TESTNET_DYNAMICS)

## testnet-stall: session swaps on (SESSION_SWAP=force), a 110 s call through them, down (~2.5 min)
## testnet-trace: the measured trace (testnet/traces) replayed on both nodes, a 110 s call, down (~2.5 min)
## testnet-outage: the caller's path cut for 8 s and then 40 s in an 80 s call, down (~1.5 min)
## testnet-daemon-restart: the caller's, then the callee's daemon restarted in a 50 s call, down (~1–1.5 min)
## testnet-handshake-loss: 30 % loss on both nodes for the 8 s from the dial, a 25 s call, down (~1 min)
$(TESTNET_DYNAMICS): testnet-build testnet-runner
	$(TESTNET_RUNNER) $(patsubst testnet-%,%,$@) $(TESTNET_RUNNER_FLAGS) $(TESTNET_DYNAMICS_FLAGS); \
		rc=$$?; $(TESTNET_COMPOSE) down --remove-orphans >/dev/null 2>&1; exit $$rc

# The public network of the modes scenarios: a STUN/TURN server that alice
# and bob reach outside Lokinet (testnet/compose.public.yaml).
TESTNET_PUBLIC_COMPOSE ?= $(TESTNET_COMPOSE) -f $(TESTNET_DIR)/compose.public.yaml
# Extra flags for testnet-modes, e.g. TESTNET_MODES_FLAGS="-only relay,fallback -duration 10s"
TESTNET_MODES_FLAGS ?=

.PHONY: testnet-modes

## testnet-modes: up with the public network, one call per mode (onion, p2p, relay, fallback with and
## without consent), down; non-zero on any failed check (~2 min)
testnet-modes: testnet-build testnet-runner
	$(TESTNET_RUNNER) modes -compose "$(TESTNET_PUBLIC_COMPOSE)" -results $(TESTNET_DIR)/results $(TESTNET_MODES_FLAGS); \
		rc=$$?; $(TESTNET_PUBLIC_COMPOSE) down --remove-orphans -v >/dev/null 2>&1; exit $$rc

# The soak: its own compose project and underlay (TESTNET_SOAK_NET), so it
# runs beside a testnet already up; taken down at the end.
SOAK_DURATION ?= 1h
# Empty: min(10m, SOAK_DURATION/4), so that even a short soak sees paths expire.
PATH_LIFETIME ?=
TESTNET_SOAK_PROJECT ?= lokicall-soak
TESTNET_SOAK_NET ?= 10.89.7
TESTNET_SOAK_COMPOSE ?= $(subst -p $(TESTNET_PROJECT) ,-p $(TESTNET_SOAK_PROJECT) ,$(TESTNET_COMPOSE))
# Extra flags, e.g. TESTNET_SOAK_FLAGS="-kill-at 5m -restart-at -1s" (testnet-runner soak -h)
TESTNET_SOAK_FLAGS ?=

.PHONY: testnet-soak

## testnet-soak: one call of SOAK_DURATION (1h) with session swaps, path expiry (PATH_LIFETIME), a relay
## kill and a daemon restart; both lokicall processes' RSS, CPU and goroutines every 10 s, plotted with
## jitter-buffer delay and m2e and tested for flatness; non-zero on a failed call or a leak
testnet-soak: testnet-build testnet-runner
	export TESTNET_NET=$(TESTNET_SOAK_NET) TESTNET_IMAGE=$(TESTNET_IMAGE); \
	$(TESTNET_RUNNER) soak -compose "$(TESTNET_SOAK_COMPOSE)" -results $(TESTNET_DIR)/results -duration $(SOAK_DURATION) \
		$(if $(PATH_LIFETIME),-path-lifetime $(PATH_LIFETIME)) $(TESTNET_SOAK_FLAGS); \
		rc=$$?; $(TESTNET_SOAK_COMPOSE) down --remove-orphans -v >/dev/null 2>&1; exit $$rc

# Beyond one machine: the relays and the directory as a Docker Swarm stack
# (testnet/swarm/stack.yaml) on an attachable overlay network, alice and bob
# as plain containers on it (testnet/swarm/nodes.yaml). Needs a swarm
# (docker swarm init; more machines join with its token).
SWARM_STACK ?= lokicall-swarm
SWARM_RELAYS ?= 32
SWARM_SUBNET ?= 10.88.0.0/20
TESTNET_SWARM_NODES ?= $(subst -p $(TESTNET_PROJECT) -f $(TESTNET_DIR)/compose.yaml,-p $(SWARM_STACK)-nodes -f $(TESTNET_DIR)/swarm/nodes.yaml,$(TESTNET_COMPOSE))
# Flags of testnet-swarm-measure's `testnet-runner measure`.
TESTNET_SWARM_MEASURE_FLAGS ?= -calls 3 -duration 20s -loopback 2
SWARM_ENV = export TESTNET_IMAGE=$(TESTNET_IMAGE) RELAYS=$(SWARM_RELAYS) SWARM_SUBNET=$(SWARM_SUBNET) SWARM_NETWORK=$(SWARM_STACK)_underlay

.PHONY: testnet-swarm-up testnet-swarm-measure testnet-swarm-down

## testnet-swarm-up: deploy the stack (SWARM_RELAYS relays, 32), wait for every replica, start alice
## and bob on its overlay and wait for their paths; prints the directory's relay count
testnet-swarm-up: testnet-build
	@test "$$(docker info --format '{{.Swarm.LocalNodeState}}')" = active || { echo "not in a swarm: docker swarm init (testnet/README.md)"; exit 1; }
	$(SWARM_ENV); docker stack deploy -c $(TESTNET_DIR)/swarm/stack.yaml $(SWARM_STACK)
	@for i in $$(seq 180); do r=$$(docker service ls --filter name=$(SWARM_STACK)_relay --format '{{.Replicas}}'); \
		[ "$$r" = "$(SWARM_RELAYS)/$(SWARM_RELAYS)" ] && break; sleep 1; done; docker service ls --filter name=$(SWARM_STACK)
	$(SWARM_ENV); $(TESTNET_SWARM_NODES) up -d
	$(SWARM_ENV); $(TESTNET_SWARM_NODES) exec -T alice /lokinet-emu wait -timeout 90s && \
		$(TESTNET_SWARM_NODES) exec -T bob /lokinet-emu wait -timeout 90s && \
		$(TESTNET_SWARM_NODES) exec -T alice /lokinet-emu relays

## testnet-swarm-measure: the relay count, then testnet-runner measure on alice and bob of the swarm
## (TESTNET_SWARM_MEASURE_FLAGS: 3 calls of 20 s, loopback baseline, leak proof, negative control)
testnet-swarm-measure: testnet-runner
	$(SWARM_ENV); $(TESTNET_SWARM_NODES) exec -T alice /lokinet-emu relays; \
	$(TESTNET_RUNNER) measure -compose "$(TESTNET_SWARM_NODES)" -results $(TESTNET_DIR)/results -lokicall $(TESTNET_DIR)/build/lokicall \
		-pairs-file "" -no-sweeps -kill-at 0 -soak 0 $(TESTNET_SWARM_MEASURE_FLAGS); rc=$$?; \
	$(TESTNET_SWARM_NODES) exec -T alice /lokinet-emu relays; exit $$rc

## testnet-swarm-down: remove alice and bob and the stack (the swarm itself stays: docker swarm leave)
testnet-swarm-down:
	$(SWARM_ENV); $(TESTNET_SWARM_NODES) down --remove-orphans -v
	docker stack rm $(SWARM_STACK)
	@for i in $$(seq 60); do docker network inspect $(SWARM_STACK)_underlay >/dev/null 2>&1 || break; sleep 1; done
