#!/usr/bin/env bash
# The README walkthrough, run for real: the local runner binary and the demo receiver
# (as `make run` and `make receiver` start them) against moto on 127.0.0.1:$1; a message
# delivered immediately, then a 1h bundle through POST /local/aggregate, then the portal.
set -euo pipefail
moto_port=${1:?moto port}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/debug"
work=$(mktemp -d)
http=127.0.0.1:18080
recv=127.0.0.1:19000
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "smoke walkthrough FAILED: $*" >&2; echo "--- runner"; cat "$work/runner.log" >&2; echo "--- receiver"; cat "$work/receiver.log" >&2; exit 1; }
wait_for() { # file pattern seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  fail "waited $3 s for '$2' in $(basename "$1")"
}

OUTFLOW_RECEIVER_ADDR=$recv "$bin/outflow-demo-receiver" >"$work/receiver.log" 2>&1 & pids+=($!)
suffix=$$-$RANDOM
AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port OUTFLOW_HTTP_ADDR=$http OUTFLOW_ALLOW_LOOPBACK_TARGETS=1 \
  OUTFLOW_TABLE=smoke-$suffix OUTFLOW_QUEUE_NAME=smoke-$suffix OUTFLOW_DLQ_NAME=smoke-$suffix-dlq \
  "$bin/outflow-local" >"$work/runner.log" 2>&1 & pids+=($!)
wait_for "$work/runner.log" "running on" 30
wait_for "$work/receiver.log" "listening" 10

B=http://$http
KEY=$(curl -sf -X POST $B/v1/workspaces -H 'Authorization: Bearer local-admin-token' \
  -d '{"name": "Acme", "owner_email": "owner@acme.test"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
curl -sf -X PUT $B/v1/webhooks/outbound -H "Authorization: Bearer $KEY" \
  -d "{\"url\": \"http://$recv/hook\", \"enabled\": true, \"aggregation\": \"none\"}" >/dev/null
curl -sf -X POST $B/v1/events -H "Authorization: Bearer $KEY" \
  --data-binary @"$root/../shared/fixtures/timelines_message_example.json" | grep -q '"accepted":1' || fail "seed event not accepted"
wait_for "$work/receiver.log" '"text": "lorem ipsum"' 20
grep -q "webhook-signature: v1," "$work/receiver.log" || fail "no signature header"

curl -sf -X PUT $B/v1/webhooks/outbound -H "Authorization: Bearer $KEY" \
  -d "{\"url\": \"http://$recv/hook\", \"enabled\": true, \"aggregation\": \"1h\"}" >/dev/null
curl -sf -X POST $B/v1/events -H "Authorization: Bearer $KEY" \
  --data-binary @"$root/../shared/fixtures/livedesk_message_created.json" | grep -q '"accepted":1' || fail "liveDesk event not accepted"
NEXT=$(python3 -c 'import datetime as d; n=d.datetime.now(d.timezone.utc); print((n.replace(minute=0,second=0,microsecond=0)+d.timedelta(hours=1,minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
curl -sf -X POST $B/local/aggregate -d "{\"now\": \"$NEXT\"}" | grep -q '"bundles_enqueued":1' || fail "no bundle enqueued"
wait_for "$work/receiver.log" '"first_message_timestamp"' 20
curl -sf $B/v1/webhooks/outbound/log -H "Authorization: Bearer $KEY" -D "$work/headers" -o /dev/null
grep -qi "content-disposition: attachment" "$work/headers" || fail "log is not a download"

# The portal: the demo workspace's link the runner printed, and one minted as README shows.
grep -q "$B/portal#token=ofp\." "$work/runner.log" || fail "no demo portal link printed"
WS=$(echo "$KEY" | cut -d. -f2)
URL=$(curl -sf -X POST $B/v1/workspaces/$WS/portal-links -H 'Authorization: Bearer local-admin-token' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
TOKEN=${URL#*#token=}
# (into files: `grep -q` would stop reading early and fail curl's pipe)
curl -sf "${URL%%#*}" -D "$work/portal-headers" -o "$work/portal.html" || fail "no portal page"
grep -q "<h1>Outbound webhook</h1>" "$work/portal.html" || fail "not the portal page"
grep -qi "content-security-policy: default-src 'none'" "$work/portal-headers" || fail "portal without its CSP"
curl -sf $B/v1/webhooks/outbound -H "Authorization: Bearer $TOKEN" -o "$work/settings.json" || fail "the link does not open the settings"
grep -q '"aggregation":"1h"' "$work/settings.json" || fail "the link opens other settings"
echo "smoke walkthrough: 3 passed, 0 failed"
