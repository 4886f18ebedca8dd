#!/usr/bin/env bash
# The local AWS stack: a Python venv inside the repo with moto server (DynamoDB, SQS, SES)
# and cfn-lint, and moto started on 127.0.0.1. Resources are created by the local runner and
# the tests from the same definitions as template.yaml (tests/e2e/template_matches_local_stack.rs).
#
#   infra/local-stack.sh setup          create .venv and install infra/requirements.txt
#   infra/local-stack.sh start PORT     start moto on 127.0.0.1:PORT (pid in .local/moto-PORT.pid)
#   infra/local-stack.sh stop PORT      stop it
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
state="$root/.local"

setup() {
  local stamp="$venv/.requirements"
  if [ -x "$venv/bin/moto_server" ] && cmp -s "$root/infra/requirements.txt" "$stamp"; then
    return 0
  fi
  echo "setting up $venv (moto server, cfn-lint, SAM CLI, cargo-lambda)..."
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/infra/requirements.txt"
  cp "$root/infra/requirements.txt" "$stamp"
}

start() {
  local port=$1
  mkdir -p "$state"
  stop "$port" >/dev/null 2>&1 || true
  # moto_server with DynamoDB requests made atomic (see infra/moto_server.py).
  "$venv/bin/python" "$root/infra/moto_server.py" -H 127.0.0.1 -p "$port" >"$state/moto-$port.log" 2>&1 &
  local pid=$!
  echo $pid >"$state/moto-$port.pid"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "moto server exited (is port $port already in use?); see $state/moto-$port.log" >&2
      cat "$state/moto-$port.log" >&2
      return 1
    fi
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      echo "moto server listening on http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  echo "moto server did not start; see $state/moto-$port.log" >&2
  cat "$state/moto-$port.log" >&2
  return 1
}

stop() {
  local port=$1 pidfile="$state/moto-$1.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}

cmd=${1:-}
case "$cmd" in
  setup) setup ;;
  start) setup; start "${2:?port}" ;;
  stop) stop "${2:?port}" ;;
  *) echo "usage: $0 setup | start PORT | stop PORT" >&2; exit 2 ;;
esac
