//! A talker whose mouth follows recorded speech (post-production / sound design: lip sync, the
//! commonest sound-making motion in film). `generate --speech FILE` reads any sound file
//! GStreamer decodes (speech from `espeak-ng -w`, a voice recording) and opens the talker's
//! mouth with its loudness: the level over a 20 ms window, mapped from 36 dB below the
//! speech's loud level (shut) to that level (wide open), so the jaw drops as a syllable starts
//! and closes as it fades. `--dub FILE` is heard instead, over the same mouth: a mismatched
//! dub, the control.
//!
//! In each talk span the speech starts 0.3 s in and repeats after a 0.5 s pause until the span
//! ends.
use super::SendError;
use crate::ingest::pipeline::{fill, strip_comments};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub const READ_SOUND: &str = include_str!("../../pipelines/read-sound.pipeline");

const RATE: f64 = 48_000.0;
/// Longest sound file read, s (a bound on memory: 10 minutes are 115 MB of samples).
pub const MAX_SPEECH_S: f64 = 600.0;
/// Where the speech starts in a talk span, and the pause before it repeats, s.
const LEAD_S: f64 = 0.3;
const PAUSE_S: f64 = 0.5;
/// The mouth's range: shut this many dB below the loud level.
const RANGE_DB: f64 = 36.0;
/// How long the reader may go without a buffer before it gives up.
const READ_STALL: Duration = Duration::from_secs(30);

/// Speech samples at 48 kHz and the mouth opening they drive, per millisecond.
#[derive(Debug)]
pub struct Speech {
    samples: Vec<f32>,
    open: Vec<f32>,
}

impl Speech {
    /// Read and decode `path` (mono 48 kHz after conversion).
    pub fn read(path: &Path) -> Result<Arc<Self>, SendError> {
        let err = |e: String| SendError::Pipeline(format!("{}: {e}", path.display()));
        let uri = crate::ingest::to_uri(&path.to_string_lossy()).map_err(|e| err(e.to_string()))?;
        let mut v = BTreeMap::new();
        v.insert("uri", uri.replace('"', "%22"));
        let desc = fill(&strip_comments(READ_SOUND), &v).map_err(SendError::Pipeline)?;
        let pipeline = super::launch(&desc)?;
        let sink = pipeline
            .by_name("sound")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| err("no sound sink".into()))?;
        sink.set_sync(false);
        let r = pull_all(&pipeline, &sink).map_err(err);
        let _ = pipeline.set_state(gst::State::Null);
        let samples = r?;
        if samples.len() < (0.2 * RATE) as usize {
            return Err(err("less than 0.2 s of sound".into()));
        }
        let open = mouth_track(&samples);
        Ok(Arc::new(Self { samples, open }))
    }

    /// From samples at 48 kHz (tests).
    pub fn from_samples(samples: Vec<f32>) -> Self {
        let open = mouth_track(&samples);
        Self { samples, open }
    }

    pub fn len_s(&self) -> f64 {
        self.samples.len() as f64 / RATE
    }

    /// Seconds into the speech heard at `t` in the talk `spans`, if it is sounding.
    pub fn position(&self, spans: &[(f64, f64)], t: f64) -> Option<f64> {
        let (a, _) = spans.iter().find(|(a, b)| t >= *a && t < *b)?;
        let dt = t - a - LEAD_S;
        if dt < 0.0 {
            return None;
        }
        let k = dt.rem_euclid(self.len_s() + PAUSE_S);
        (k < self.len_s()).then_some(k)
    }

    /// The sample `pos` seconds in (linear between samples).
    pub fn sample(&self, pos: f64) -> f64 {
        let x = pos * RATE;
        let i = x.floor() as usize;
        let f = x - i as f64;
        let at = |i: usize| self.samples.get(i).copied().unwrap_or(0.0) as f64;
        at(i) * (1.0 - f) + at(i + 1) * f
    }

    /// How far the mouth is open `pos` seconds in (0–1).
    pub fn open(&self, pos: f64) -> f64 {
        let ms = pos * 1000.0;
        let i = ms.floor() as usize;
        let f = ms - i as f64;
        let at = |i: usize| self.open.get(i).copied().unwrap_or(0.0) as f64;
        at(i) * (1.0 - f) + at(i + 1) * f
    }

    /// When the speech starts to sound after a pause of 100 ms or more, s into the speech
    /// (ground truth for `generate --truth`).
    pub fn phrase_starts(&self) -> Vec<f64> {
        let mut out = vec![];
        let mut shut_ms = 100;
        for (i, o) in self.open.iter().enumerate() {
            if *o > 0.1 {
                if shut_ms >= 100 {
                    out.push(i as f64 / 1000.0);
                }
                shut_ms = 0;
            } else {
                shut_ms += 1;
            }
        }
        out
    }
}

/// When phrases of `speech` start in the talk `spans` (s of the timeline, before any delay).
pub fn phrase_times(speech: &Speech, spans: &[(f64, f64)]) -> Vec<f64> {
    let starts = speech.phrase_starts();
    let period = speech.len_s() + PAUSE_S;
    let mut out = vec![];
    for (a, b) in spans {
        let mut from = a + LEAD_S;
        while from < *b {
            out.extend(starts.iter().map(|p| from + p).take_while(|t| t < b));
            from += period;
        }
    }
    out
}

fn pull_all(pipeline: &gst::Pipeline, sink: &gst_app::AppSink) -> Result<Vec<f32>, String> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot play: {e}"))?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut out: Vec<f32> = vec![];
    let mut last = std::time::Instant::now();
    loop {
        if let Some(m) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = m.view() {
                let hint = if out.is_empty() {
                    " (found no sound it can decode: is it a sound file?)"
                } else {
                    ""
                };
                return Err(format!("cannot decode: {}{hint}", e.error()));
            }
        }
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) else {
            if sink.is_eos() {
                return Ok(out);
            }
            if last.elapsed() > READ_STALL {
                return Err(format!("no sound for {} s", READ_STALL.as_secs()));
            }
            continue;
        };
        last = std::time::Instant::now();
        let Some(buf) = sample.buffer() else { continue };
        let map = buf.map_readable().map_err(|_| "unreadable buffer")?;
        out.extend(
            map.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        if out.len() as f64 > MAX_SPEECH_S * RATE {
            return Err(format!("longer than {MAX_SPEECH_S} s"));
        }
    }
}

/// The mouth opening per millisecond: the level over 20 ms, from [`RANGE_DB`] below the loud
/// level (the 95th percentile of the levels above −60 dBFS) up to it.
fn mouth_track(samples: &[f32]) -> Vec<f32> {
    let ms = (RATE / 1000.0) as usize;
    let energy: Vec<f64> = samples
        .chunks(ms)
        .map(|c| c.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / c.len() as f64)
        .collect();
    let db: Vec<f64> = (0..energy.len())
        .map(|i| {
            let w = &energy[i.saturating_sub(10)..(i + 10).min(energy.len())];
            10.0 * (w.iter().sum::<f64>() / w.len() as f64 + 1e-12).log10()
        })
        .collect();
    let mut loud: Vec<f64> = db.iter().copied().filter(|d| *d > -60.0).collect();
    loud.sort_by(f64::total_cmp);
    let Some(top) = loud.get(loud.len() * 95 / 100).copied() else {
        return vec![0.0; db.len()];
    };
    let lin = |d: f64| 10f64.powf(d / 20.0);
    db.iter()
        .map(|d| {
            ((lin(*d) - lin(top - RANGE_DB)) / (lin(top) - lin(top - RANGE_DB))).clamp(0.0, 1.0)
                as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mouth_follows_the_level_and_the_speech_repeats_after_a_pause() {
        // 0.5 s of silence, 0.3 s of a loud tone, 0.4 s of silence.
        let mut s = vec![0.0f32; 24_000];
        s.extend((0..14_400).map(|i| 0.5 * (i as f32 * 0.05).sin()));
        s.extend(vec![0.0f32; 19_200]);
        let sp = Speech::from_samples(s);
        assert!((sp.len_s() - 1.2).abs() < 1e-9);
        assert_eq!(sp.open(0.3), 0.0);
        assert!(sp.open(0.6) > 0.9, "{}", sp.open(0.6));
        assert_eq!(sp.open(1.0), 0.0);
        let starts = sp.phrase_starts();
        assert_eq!(starts.len(), 1);
        assert!((starts[0] - 0.49).abs() < 0.012, "{starts:?}");
        let spans = [(2.0, 10.0)];
        assert_eq!(sp.position(&spans, 2.2), None);
        assert!((sp.position(&spans, 2.4).unwrap() - 0.1).abs() < 1e-9);
        // 1.2 s of speech, 0.5 s of pause, then again.
        assert_eq!(sp.position(&spans, 2.3 + 1.3), None);
        assert!((sp.position(&spans, 2.3 + 1.7 + 0.6).unwrap() - 0.6).abs() < 1e-9);
        assert_eq!(sp.position(&spans, 11.0), None);
    }
}
