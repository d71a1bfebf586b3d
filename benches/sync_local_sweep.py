#!/usr/bin/env python3
"""Sync from local motion that makes sound, measured per family of content.

Families (40 s generated clips, 640x360, 25 fps, one shot: no cuts, no flashes, so only the
local-motion evidence can speak), 12 clips each at random delays in -450..+450 ms:
  drops  a thing dropped every 0.9-2.5 s somewhere in the frame lands with a thud
  talk   a face in close-up whose mouth opens with every syllable it speaks
  walk   someone walks across the frame and back, each foot landing with a footstep
  speech a face in close-up speaking English (espeak-ng: random sentences, voices, rates and
         pitches), its mouth opening with the speech's loudness (`generate --speech`)
and 6 controls each, whose sounds are not those of the picture's motion:
  drops  the drops land in silence; beeps (with white flashes) sound at another draw's times
  talk, walk  a mismatched dub: the syllables or footsteps of another take (--sound-seed)
  speech      a mismatched dub: other sentences heard over the same mouth (--dub)
plus DUBS more mismatched dubs of talk, walk and speech (default 0).

Prints one line a clip and a SUMMARY line a family: committed / clips, median and largest error
of the whole-file estimate, windows that answered from local motion and their largest error;
for controls, commitments of the local evidence (whole or windowed), which must be 0.

  B=path/to/evalverse benches/sync_local_sweep.py [drops talk walk speech] [--work DIR] [--dubs N]

The speech family needs espeak-ng (Debian: apt-get install espeak-ng).
"""
import argparse, concurrent.futures as cf, json, os, random, subprocess, tempfile

B = os.environ.get('B') or os.path.join(os.environ.get('CARGO_TARGET_DIR', 'target'), 'release', 'evalverse')
ap = argparse.ArgumentParser()
ap.add_argument('families', nargs='*', default=['drops', 'talk', 'walk', 'speech'])
ap.add_argument('--work', default=None, help='clips are kept (and reused) here')
ap.add_argument('--dubs', type=int, default=0)
a = ap.parse_args()
work = a.work or tempfile.mkdtemp()
os.makedirs(work, exist_ok=True)


def drop_times(r):
    t, v = 1.6, []
    while t < 38.5:
        v.append(round(t, 3))
        t += 0.9 + 1.6 * r.random()
    return v


WORDS = ('glass table window morning photograph summer river garden letter station evening coffee '
         'paper market doctor pocket silver basket yellow bottle carpet kitchen ladder mirror pencil '
         'rabbit saddle thunder velvet wagon harbour engine blanket candle orchard lantern').split()
VERBS = 'placed found carried opened dropped painted counted folded watched mended buried sold'.split()
DETS = 'the a my your this that every'.split()
VOICES = ['en-gb', 'en-us', 'en-gb-scotland', 'en-gb-x-rp', 'en-029']


def speech(seed):
    """A WAV of about a minute of English sentences, its voice, rate and pitch drawn from seed."""
    out = os.path.join(work, f'speech{seed}.wav')
    if not os.path.exists(out):
        r = random.Random(seed)
        sentences = []
        for _ in range(30):
            w = [r.choice(DETS), r.choice(WORDS), r.choice(VERBS), r.choice(DETS), r.choice(WORDS)]
            if r.random() < 0.5:
                w += ['and', r.choice(VERBS), r.choice(DETS), r.choice(WORDS)]
            sentences.append(' '.join(w) + r.choice(['.', '.', ',', '?']))
        voice = r.choice(VOICES) + r.choice(['', '+f2', '+m3', '+f4'])
        subprocess.run(['espeak-ng', '-v', voice, '-s', str(r.randint(140, 190)), '-p', str(r.randint(30, 70)),
                        '-w', out + '.part.wav', ' '.join(sentences)], check=True, capture_output=True)
        os.rename(out + '.part.wav', out)
    return out


def source(fam, r):
    if fam == 'drops':
        return ['--drops', ','.join(map(str, drop_times(r)))]
    if fam == 'speech':
        return ['--talk', '0:40', '--speech', speech(r.randrange(10**6))]
    return [f'--{fam}', '0:40']


plan = []  # (name, family, delay or None for a control, generate args)
for fam in a.families:
    r = random.Random({'drops': 2026, 'talk': 2027, 'walk': 2028, 'speech': 2029}[fam])
    for i in range(12):
        d = round(r.uniform(-450, 450))
        src = source(fam, r)
        plan.append((f'{fam}{i}', fam, d, src + ['--audio-delay-ms', str(d), '--seed', str(300 + i)]))
    for i in range(6 + (a.dubs if fam != 'drops' else 0)):
        name = f'{fam}-control{i}' if i < 6 else f'{fam}-dub{i - 6}'
        if fam == 'drops':
            drops, beeps = drop_times(r), drop_times(r)
            src = ['--drops', ','.join(map(str, drops)), '--silent-drops'] + sum([['--flash', str(f)] for f in beeps], [])
        elif fam == 'speech':
            src = source(fam, r) + ['--dub', speech(r.randrange(10**6))]
        else:
            src = [f'--{fam}', '0:40', '--sound-seed', str(1400 + i if i < 6 else 9000 + i - 6)]
        seed = 400 + i if i < 6 else 500 + i - 6
        plan.append((name, fam, None, src + ['--seed', str(seed)]))


def generate(p):
    name, _, _, args = p
    out = os.path.join(work, name + '.mp4')
    if not os.path.exists(out):
        subprocess.run([B, 'generate', '--duration', '40', '--cuts', '99', *args, out + '.part.mp4'], check=True, capture_output=True)
        os.rename(out + '.part.mp4', out)
    return out


with cf.ThreadPoolExecutor(2) as ex:
    paths = list(ex.map(generate, plan))

summary = {}
for (name, fam, delay, _), path in zip(plan, paths):
    out = subprocess.run([B, 'eval', path, '--json'], capture_output=True, text=True).stdout
    windows, sync = [], {}
    for line in out.splitlines():
        r = json.loads(line)
        if r.get('type') == 'window' and r['sync'].get('source') == 'local_motion':
            windows.append(r['sync']['audio_delay_ms'])
        if r.get('type') == 'summary':
            sync = r['sync']
    loc = sync.get('local') or {}
    got, z = loc.get('audio_delay_ms'), loc.get('z')
    level = loc.get('level') or {}
    s = summary.setdefault((fam, delay is None), dict(n=0, committed=0, err=[], windows=0, werr=[], z=[], lz=[], by={}))
    s['n'] += 1
    s['committed'] += got is not None
    s['windows'] += len(windows)
    s['z'].append(z or 0.0)
    s['lz'].append(level.get('z') or 0.0)
    if got is not None:
        s['by'][loc.get('evidence')] = s['by'].get(loc.get('evidence'), 0) + 1
    how = f'{loc.get("evidence")}, level z {level.get("z")} ratio {level.get("second_ratio")}'
    if delay is None:
        print(f'{name:16s} local {got} z {z} best {loc.get("best_lag_ms")} windows {len(windows)} ({how}; summary: {sync.get("audio_delay_ms")} from {sync.get("source")})')
    else:
        if got is not None:
            s['err'].append(abs(got - delay))
        s['werr'] += [abs(w - delay) for w in windows]
        werr = max([abs(w - delay) for w in windows], default=None)
        print(f'{name:16s} delay {delay:+5d} local {got} z {z} best {loc.get("best_lag_ms")} windows {len(windows)} max err {werr} ({how})')

for (fam, control), s in summary.items():
    if control:
        print(f'SUMMARY {fam} controls: {s["committed"]}/{s["n"]} commit, {s["windows"]} windows from local motion, '
              f'highest z {max(s["z"]):.2f}, highest level-change z {max(s["lz"]):.2f}')
    else:
        e = sorted(s['err'])
        med = f'{e[len(e) // 2]:.1f}' if e else '-'
        print(f'SUMMARY {fam}: {s["committed"]}/{s["n"]} commit, median |error| {med} ms, max {max(e, default=0):.1f} ms; '
              f'{s["windows"]} windows from local motion, max error {max(s["werr"], default=0):.1f} ms, '
              f'over a frame: {sum(x > 40 for x in s["werr"])}; committed by {s["by"]}')
