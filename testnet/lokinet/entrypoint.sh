#!/bin/sh
# Real-Lokinet testnet roles (DESIGN.md §3, private testnet keys):
#   entrypoint.sh relay    a service-node-less relay (lokinet -r)
#   entrypoint.sh node     a client with lokitun0 and DNS on 127.3.2.1:53,
#                          then NODE_EXEC as uid NODE_UID (like lokinet-emu node)
#   entrypoint.sh directory  idle (the emulated profile's directory has no
#                          counterpart: Lokinet bootstraps from self.signed files)
# Every relay publishes its self.signed in /bootstrap; everyone waits for
# RELAYS of them and lists them all with [bootstrap] add-node (a seed-only
# bootstrap never spreads with oxend off).
set -eu
role=${1:-node}
NETID=${NETID:-lokicall}          # at most 8 characters
RELAYS=${RELAYS:-8}
HOPS=${HOPS:-4}
DATA=/var/lib/lokinet
mkdir -p "$DATA" /bootstrap
ip=$(ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)

# Per-link delay with kernel netem where the host has it (this repository's
# CI machines do not: there the emulated profile delays in the relay).
if [ "$role" = relay ] && [ -n "${RELAY_DELAY:-}" ]; then
  tc qdisc add dev eth0 root netem delay "$RELAY_DELAY" "${RELAY_JITTER:-0ms}" loss "$(awk "BEGIN{print ${RELAY_LOSS:-0}*100}")%" \
    || echo "entrypoint: netem not available; no link delay" >&2
fi

common() {
  cat <<CONF
[router]
netid=$NETID
data-dir=$DATA
block-bogons=false

[bind]
inbound=$ip:1090

[logging]
level=info
CONF
}

bootstrap() {
  i=0
  while [ "$(ls /bootstrap/*.signed 2>/dev/null | wc -l)" -lt "$RELAYS" ]; do
    i=$((i+1)); [ $i -gt 600 ] && { echo "entrypoint: only $(ls /bootstrap | wc -l) of $RELAYS relays published" >&2; exit 1; }
    sleep 0.2
  done
  echo "[bootstrap]"
  for f in /bootstrap/*.signed; do echo "add-node=$f"; done
}

case "$role" in
directory)
  exec sleep infinity ;;
relay)
  # First start without bootstrap to make the keys and self.signed, publish it.
  { common; printf '\n[lokid]\nenabled=false\nrpc=ipc:///nonexistent\n'; } > "$DATA/lokinet.ini"
  lokinet -r "$DATA/lokinet.ini" & pid=$!
  while [ ! -s "$DATA/self.signed" ]; do sleep 0.2; done
  kill $pid; wait $pid || true
  cp "$DATA/self.signed" "/bootstrap/$(hostname).signed"
  { common; printf '\n[lokid]\nenabled=false\nrpc=ipc:///nonexistent\n\n'; bootstrap; } > "$DATA/lokinet.ini"
  exec lokinet -r "$DATA/lokinet.ini" ;;
node)
  { common; printf '\n[paths]\nhops=%s\n\n[network]\nifname=lokitun0\nifaddr=172.16.0.1/16\n\n[dns]\nbind=127.3.2.1:53\n\n' "$HOPS"; bootstrap; } > "$DATA/lokinet.ini"
  lokinet "$DATA/lokinet.ini" &
  # Lokinet 0.9.11 stalls path builds on a quiet network until a .loki
  # query wakes it (DESIGN.md §3): ask for localhost.loki twice a second.
  ( while sleep 0.5; do /lokinet-emu whoami >/dev/null 2>&1 || true; done ) &
  /lokinet-emu wait -timeout 10m
  if [ -n "${NODE_EXEC:-}" ]; then
    # shellcheck disable=SC2086
    exec setpriv --reuid="${NODE_UID:-7787}" --regid="${NODE_UID:-7787}" --clear-groups $NODE_EXEC
  fi
  wait ;;
*)
  echo "usage: entrypoint.sh relay|node|directory" >&2; exit 2 ;;
esac
