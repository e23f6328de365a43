#!/usr/bin/env bash
# Installs the system packages lokicall's build needs (Opus, pkg-config, a C
# compiler for cgo) and its sound devices need at run time (ALSA's libasound,
# which miniaudio loads with dlopen) on Debian or Ubuntu, only when they are
# missing.
set -euo pipefail

need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if ! pkg-config --exists opus 2>/dev/null; then need+=(libopus-dev); fi
# lokicall itself builds with -tags=nolibopusfile (the Makefile sets it); the
# opusfile headers let plain `go build ./...`, `go vet ./...` and `go test ./...`
# build the Opus binding too.
if ! pkg-config --exists opusfile 2>/dev/null; then need+=(libopusfile-dev); fi
if ! compgen -G '/usr/lib/*/libasound.so.2' >/dev/null && ! compgen -G '/lib/*/libasound.so.2' >/dev/null \
	&& ! compgen -G '/usr/lib*/libasound.so.2' >/dev/null; then
	need+=(libasound2)
fi
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install: ${need[*]}" >&2; exit 1; }
	sudo="sudo"
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: no apt-get; install these yourself: ${need[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Debian 13 and Ubuntu 24.04 renamed libasound2 to libasound2t64.
if apt-cache show libasound2t64 >/dev/null 2>&1; then need=("${need[@]/#libasound2/libasound2t64}"); fi
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
