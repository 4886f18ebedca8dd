#!/usr/bin/env bash
# Installs what the portal's browser test drives: Debian's Chromium and ChromeDriver, and
# axe-core (npm, pinned by infra/portal-test/package-lock.json) into infra/portal-test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null
  }
fi
command -v chromium >/dev/null && command -v chromedriver >/dev/null
if [ ! -f infra/portal-test/node_modules/axe-core/axe.min.js ]; then
  (cd infra/portal-test && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
test -f infra/portal-test/node_modules/axe-core/axe.min.js
