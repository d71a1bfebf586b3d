#!/usr/bin/env bash
# Batch throughput: `evalverse score` over N five-second 720p30 3 Mb/s H.264 + AAC clips, side
# by side with bare decoding and ffmpeg's detectors of the same set, each using every core
# (JOBS parallel processes or workers). Prints a markdown table.
# Usage: benches/score.sh   Env: N (default 100), JOBS (default: cores), EVALVERSE, WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-100}"
JOBS="${JOBS:-$(nproc)}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/evalverse-target}"
EVALVERSE="${EVALVERSE:-$CARGO_TARGET_DIR/release/evalverse}"
WORK="${WORK:-/tmp/evalverse-score-bench}"
SET="$WORK/clips-$N"
mkdir -p "$SET"
[ -x "$EVALVERSE" ] || cargo test --release --workspace --locked --no-run >&2

for i in $(seq 1 "$N"); do
  f="$SET/clip$(printf %04d "$i").mp4"
  [ -f "$f" ] || ffmpeg -nostdin -loglevel error -y -f lavfi \
    -i "testsrc2=size=1280x720:rate=30:duration=5" \
    -f lavfi -i "sine=frequency=$((200 + i % 50 * 10)):sample_rate=48000:duration=5" \
    -c:v libx264 -preset veryfast -b:v 3M -maxrate 3M -bufsize 3M -pix_fmt yuv420p \
    -c:a aac -b:a 128k -shortest "$f"
done

seconds() { # command... → wall seconds
  local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
each() { # command-with-{} → run over the set, JOBS at a time
  find "$SET" -name '*.mp4' -print0 | xargs -0 -P "$JOBS" -I{} sh -c "$1"
}
rm -f "$WORK/results.jsonl"
t_score=$(seconds "$EVALVERSE" score "$SET" --out "$WORK/results.jsonl" --jobs "$JOBS")
t_ffdec=$(seconds each 'ffmpeg -nostdin -loglevel error -threads 1 -i "{}" -f null -')
t_gst=$(seconds each 'gst-launch-1.0 -q filesrc location="{}" ! decodebin name=d d. ! queue ! fakesink d. ! queue ! fakesink')
t_gstscale=$(seconds each 'gst-launch-1.0 -q filesrc location="{}" ! decodebin name=d d. ! queue ! videoconvert ! videoscale ! video/x-raw,width=160,height=90 ! fakesink d. ! queue ! audioconvert ! audioresample ! audio/x-raw,rate=16000,channels=1 ! fakesink')
t_ffdet=$(seconds each 'ffmpeg -nostdin -loglevel error -threads 1 -i "{}" -vf "scdet,freezedetect,blackdetect" -af silencedetect -f null -')
clips=$(grep -c '"type":"clip"' "$WORK/results.jsonl" || true)

row() { printf '| %s | %.1f s | %.0f | %.2f× |\n' "$1" "$2" "$(echo "$N * 60 / $2" | bc -l)" "$(echo "$2 / $t_gst" | bc -l)"; }
echo "$N clips of 5 s 720p30 3 Mb/s H.264 + AAC, $JOBS at a time, $(nproc) cores ($clips scored)"
echo
echo '| what | wall | clips/min | vs bare GStreamer decode |'
echo '|---|---|---|---|'
row 'ffmpeg -i X -f null - (bare decode, 1 thread each)' "$t_ffdec"
row 'gst-launch-1.0 decodebin ! fakesink (bare GStreamer decode)' "$t_gst"
row 'gst-launch-1.0 decode + scale to 160x90 + 16 kHz mono' "$t_gstscale"
row 'ffmpeg scdet,freezedetect,blackdetect + silencedetect' "$t_ffdet"
row "evalverse score --jobs $JOBS (every dimension, one process)" "$t_score"
