#!/usr/bin/env bash
# Installs the programs keyward's tests run for real (nginx for the
# forward-auth test, redis-server for the rate-limit store that verifier
# replicas share, curl as a client with certificates) from Debian's
# packages when they are missing; with arguments, the programs named
# instead (hack/test-deps.sh wrk). Without root or sudo it only says what is
# missing: those tests then skip, except under CI=true, where they fail.
set -euo pipefail

need=()
if [ $# -gt 0 ]; then
  # Named programs instead, each from the Debian package of its name:
  # `make bench` asks for wrk, the load generator it measures with beside
  # its own.
  for program in "$@"; do
    command -v "$program" >/dev/null 2>&1 || need+=("$program")
  done
else
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
  command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need+=(redis-server)
  # curl is the client of the mutual-TLS tests (--cert, --cacert).
  command -v curl >/dev/null 2>&1 || need+=(curl)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "test-deps: missing ${need[*]}; install them (apt-get install ${need[*]}) to run the tests that use them" >&2
  exit 0
fi

echo "test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
