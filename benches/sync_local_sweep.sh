#!/bin/bash
# Sync from local motion, measured: 12 generated 40 s clips (640x360, 25 fps) where a thing is
# dropped every 0.9–2.5 s and lands with a thud, at random delays in −450…+450 ms (no cuts, no
# flashes: only the local-motion evidence can speak), then 6 controls: the same kind of pictures
# with the drops silent and beeps (with white flashes) at unrelated times. Prints one line a clip:
# the delay, the estimate (None: declined), its source, the local evidence z, and how many
# windows answered from local motion (with their largest error against the delay).
#   B=path/to/evalverse benches/sync_local_sweep.sh
B=${B:-${CARGO_TARGET_DIR:-target}/release/evalverse}
B=$(realpath "$B"); W=$(mktemp -d); cd "$W"
python3 - > plan.txt <<'P'
import random
r=random.Random(2026)
for i in range(12):
    t=1.6; v=[]
    while t<38.5: v.append(round(t,3)); t+=0.9+1.6*r.random()
    d=round(r.uniform(-450,450))
    print(i, d, ",".join(map(str,v)))
P
while read i d drops; do
  $B generate --duration 40 --cuts 99 --drops $drops --audio-delay-ms $d --seed $((30+i)) c$i.mp4 >/dev/null 2>&1
  $B eval c$i.mp4 --json 2>/dev/null | python3 -c "
import json,sys
win=[]
for l in sys.stdin:
    r=json.loads(l)
    if r.get('type')=='window' and r['sync'].get('source')=='local_motion':
        win.append(r['sync']['audio_delay_ms'])
    if r.get('type')=='summary':
        s=r['sync']; loc=s.get('local') or {}
        print('clip $i delay $d est', s.get('audio_delay_ms'), 'source', s.get('source'), 'z', loc.get('z'), 'best', loc.get('best_lag_ms'),
              'windows_local', len(win), 'windows_max_err', max([abs(w-($d)) for w in win], default=None))"
done < plan.txt
# controls: silent drops, beeps (with flashes) at another draw's times
python3 - > ctl.txt <<'P'
import random
r=random.Random(7)
for i in range(6):
    def draw():
        t=1.6; v=[]
        while t<38.5: v.append(round(t,3)); t+=0.9+1.6*r.random()
        return v
    print(i, ",".join(map(str,draw())), ",".join(map(str,draw())))
P
while read i drops flashes; do
  $B generate --duration 40 --cuts 99 --drops $drops --silent-drops $(for f in ${flashes//,/ }; do echo -n "--flash $f "; done) --seed $((60+i)) k$i.mp4 >/dev/null 2>&1
  $B eval k$i.mp4 --json 2>/dev/null | python3 -c "
import json,sys
win=0
for l in sys.stdin:
    r=json.loads(l)
    if r.get('type')=='window' and r['sync'].get('source')=='local_motion':
        win+=1
    if r.get('type')=='summary':
        s=r['sync']; loc=s.get('local') or {}
        print('control $i local', loc.get('audio_delay_ms'), 'z', loc.get('z'), 'summary', s.get('audio_delay_ms'), s.get('source'), 'windows_local', win)"
done < ctl.txt
