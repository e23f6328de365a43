# Testnet targets, meant to be included from the top Makefile:
#   include testnet/testnet.mk
# Paths are relative to the repository root.

TESTNET_DIR     ?= testnet
TESTNET_IMAGE   ?= lokicall-testnet:latest
TESTNET_PROJECT ?= lokicall-testnet
# Compose v2 plugin if present, else the standalone docker-compose.
TESTNET_COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose) \
	-p $(TESTNET_PROJECT) -f $(TESTNET_DIR)/compose.yaml

.PHONY: testnet-build testnet-up testnet-down testnet-ping testnet-logs

## testnet-build: static binaries and the FROM-scratch image (no registry needed)
testnet-build:
	mkdir -p $(TESTNET_DIR)/build
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o $(TESTNET_DIR)/build/lokinet-emu ./testnet/cmd/lokinet-emu
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

testnet-logs:
	$(TESTNET_COMPOSE) logs --tail=50

## testnet-down: stop and remove the containers and network (identities are kept in volumes)
testnet-down:
	$(TESTNET_COMPOSE) down --remove-orphans
