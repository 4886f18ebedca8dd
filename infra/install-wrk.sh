#!/usr/bin/env bash
# Installs wrk (Debian's package), the raw-POST yardstick of the delivery throughput bench.
set -euo pipefail
command -v wrk >/dev/null && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q wrk >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q wrk >/dev/null
}
command -v wrk >/dev/null
