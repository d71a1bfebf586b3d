#!/usr/bin/env bash
# A long live run: `evalverse serve` with 4 RTP streams (H.264 + Opus with RTCP, generated
# sequences sent in real time by `evalverse send --synthetic`) for MINUTES (default 30).
# Prints the server's RSS, threads and open fds after the first minute and at the end, and each
# stream's frames, drops and state, so a leak or a stall shows as a difference.
#
#   scripts/live-soak.sh [MINUTES]        (needs a release build: scripts/test.sh builds it)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-30}
BIN=${EVALVERSE_BIN:-${CARGO_TARGET_DIR:-target}/release/evalverse}
[ -x "$BIN" ] || { echo "no binary at $BIN (set EVALVERSE_BIN)"; exit 2; }
WORK=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
API=$((PORT + 100))
{
  echo "[server]"
  echo "listen = \"127.0.0.1:$API\""
  for i in 0 1 2 3; do
    p=$((PORT + 10 * i))
    echo "[[streams]]"
    echo "name = \"soak$i\""
    echo "video = { port = $p }"
    echo "audio = { port = $((p + 2)), codec = \"opus\" }"
  done
} >"$WORK/soak.toml"
"$BIN" serve --config "$WORK/soak.toml" --token soak-token-0123456789 --json >"$WORK/records.jsonl" 2>"$WORK/serve.log" &
SERVE=$!
SENDERS=()
cleanup() {
  kill "${SENDERS[@]}" 2>/dev/null || true
  kill -INT $SERVE 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
sleep 2
SECONDS_TOTAL=$((MINUTES * 60))
for i in 0 1 2 3; do
  p=$((PORT + 10 * i))
  "$BIN" send --synthetic --duration "$((SECONDS_TOTAL + 30))" --video-port $p --audio-port $((p + 2)) \
    >"$WORK/send$i.log" 2>&1 &
  SENDERS+=($!)
done
footprint() {
  local rss threads fds
  rss=$(awk '/VmRSS/ {print $2}' /proc/$SERVE/status)
  threads=$(ls /proc/$SERVE/task | wc -l)
  fds=$(ls /proc/$SERVE/fd | wc -l)
  echo "rss_kib=$rss threads=$threads fds=$fds"
}
streams() {
  curl -s -H "Authorization: Bearer soak-token-0123456789" "http://127.0.0.1:$API/v1/streams" |
    python3 -c 'import json,sys
for s in json.load(sys.stdin)["streams"]:
    print(" ", s["name"], s["state"], "frames", s["frames"], "dropped", s["dropped_frames"], "verdict", s["verdict"]["verdict"])'
}
sleep 60
echo "after 1 min: $(footprint)"
streams
sleep $((SECONDS_TOTAL - 60))
echo "after $MINUTES min: $(footprint)"
streams
echo "windows: $(grep -c '"type":"window"' "$WORK/records.jsonl")  content faults: $(grep '"type":"event"' "$WORK/records.jsonl" | grep -c '"fault":true' || true)"
echo "records and logs: $WORK"
