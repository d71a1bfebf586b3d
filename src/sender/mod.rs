//! Senders: put media on the wire (RTP over UDP, with RTCP) or into a file, for the demo, the
//! tests, and generators that want to hook in with one command (`evalverse send`).
pub mod synth;

use crate::ingest::pipeline::{fill, strip_comments};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use synth::SceneSpec;
use thiserror::Error;

pub const SEND_SYNTH: &str = include_str!("../../pipelines/send-synth.pipeline");
pub const SEND_FILE: &str = include_str!("../../pipelines/send-file.pipeline");
pub const WRITE_FILE: &str = include_str!("../../pipelines/write-file.pipeline");

#[derive(Debug, Error)]
pub enum SendError {
    #[error("sender pipeline: {0}")]
    Pipeline(String),
    #[error("sender failed: {0}")]
    Runtime(String),
}

/// Where RTP goes.
#[derive(Clone, Debug)]
pub struct RtpTarget {
    pub host: String,
    pub video_port: u16,
    pub audio_port: u16,
    pub bitrate_kbps: u32,
}

impl RtpTarget {
    fn values(&self) -> BTreeMap<&'static str, String> {
        let mut v = BTreeMap::new();
        v.insert("host", self.host.clone());
        v.insert("video_port", self.video_port.to_string());
        v.insert("video_rtcp_port", (self.video_port + 1).to_string());
        v.insert("audio_port", self.audio_port.to_string());
        v.insert("audio_rtcp_port", (self.audio_port + 1).to_string());
        v.insert("bitrate_kbps", self.bitrate_kbps.to_string());
        v.insert("gop", "30".to_string());
        v
    }
}

fn launch(desc: &str) -> Result<gst::Pipeline, SendError> {
    crate::ingest::init().map_err(|e| SendError::Pipeline(e.to_string()))?;
    gst::parse::launch(desc)
        .map_err(|e| SendError::Pipeline(format!("{e}\n  description: {desc}")))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| SendError::Pipeline("not a pipeline".into()))
}

/// Run `pipeline` until EOS, an error, or `stop`.
fn run(pipeline: &gst::Pipeline, stop: &AtomicBool) -> Result<(), SendError> {
    pipeline.set_state(gst::State::Playing).map_err(|e| SendError::Runtime(e.to_string()))?;
    let bus = pipeline.bus().ok_or_else(|| SendError::Runtime("no bus".into()))?;
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else { continue };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => break Err(SendError::Runtime(format!("{} ({:?})", e.error(), e.debug()))),
            _ => {}
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// Push the generated video and audio into the pipeline's `video_src` / `audio_src` appsrcs
/// from two threads of ours (appsrc blocks when full: the pipeline paces us).
fn feed(pipeline: &gst::Pipeline, spec: &SceneSpec, stop: Arc<AtomicBool>) -> Result<Vec<std::thread::JoinHandle<()>>, SendError> {
    let get = |name: &str| {
        pipeline
            .by_name(name)
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| SendError::Pipeline(format!("no appsrc named {name}")))
    };
    let (vsrc, asrc) = (get("video_src")?, get("audio_src")?);
    let mut threads = vec![];
    {
        let spec = spec.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut buf = vec![];
            let fd = gst::ClockTime::from_nseconds(1_000_000_000 / spec.fps as u64);
            for n in 0..spec.frames() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                spec.render(n, &mut buf);
                let mut b = gst::Buffer::from_slice(std::mem::take(&mut buf));
                {
                    let b = b.get_mut().expect("new buffer is writable");
                    b.set_pts(gst::ClockTime::from_nseconds(n * 1_000_000_000 / spec.fps as u64));
                    b.set_duration(fd);
                }
                if vsrc.push_buffer(b).is_err() {
                    break;
                }
            }
            let _ = vsrc.end_of_stream();
        }));
    }
    {
        let spec = spec.clone();
        threads.push(std::thread::spawn(move || {
            const CHUNK: usize = 960; // 20 ms at 48 kHz
            let total = (spec.duration_s * 48_000.0) as u64;
            let mut samples = vec![];
            let mut k = 0u64;
            while k < total {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let n = CHUNK.min((total - k) as usize);
                spec.audio(k, n, &mut samples);
                let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
                let mut b = gst::Buffer::from_slice(bytes);
                {
                    let b = b.get_mut().expect("new buffer is writable");
                    b.set_pts(gst::ClockTime::from_nseconds(k * 1_000_000_000 / 48_000));
                    b.set_duration(gst::ClockTime::from_nseconds(n as u64 * 1_000_000_000 / 48_000));
                }
                if asrc.push_buffer(b).is_err() {
                    break;
                }
                k += n as u64;
            }
            let _ = asrc.end_of_stream();
        }));
    }
    Ok(threads)
}

fn spec_values(spec: &SceneSpec) -> BTreeMap<&'static str, String> {
    let mut v = BTreeMap::new();
    v.insert("width", spec.width.to_string());
    v.insert("height", spec.height.to_string());
    v.insert("fps", spec.fps.to_string());
    v
}

/// Stream a generated sequence as RTP (H.264 + Opus, with RTCP) in real time. Blocks until the
/// sequence ends or `stop` is set.
pub fn send_synthetic(spec: &SceneSpec, target: &RtpTarget, stop: Arc<AtomicBool>) -> Result<(), SendError> {
    let mut v = target.values();
    v.extend(spec_values(spec));
    v.insert("gop", spec.fps.to_string());
    let desc = fill(&strip_comments(SEND_SYNTH), &v).map_err(SendError::Pipeline)?;
    let pipeline = launch(&desc)?;
    let threads = feed(&pipeline, spec, stop.clone())?;
    let r = run(&pipeline, &stop);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    r
}

/// Write a generated sequence to an MP4 file (H.264 + AAC), as fast as it encodes.
pub fn write_synthetic(spec: &SceneSpec, path: &std::path::Path) -> Result<(), SendError> {
    let mut v = spec_values(spec);
    v.insert("gop", (spec.fps * 2).to_string());
    v.insert("bitrate_kbps", "2000".into());
    v.insert("path", path.to_string_lossy().replace('"', ""));
    let desc = fill(&strip_comments(WRITE_FILE), &v).map_err(SendError::Pipeline)?;
    let pipeline = launch(&desc)?;
    let stop = Arc::new(AtomicBool::new(false));
    let threads = feed(&pipeline, spec, stop.clone())?;
    let r = run(&pipeline, &AtomicBool::new(false));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    r
}

/// Stream a file as RTP in real time (decoded and re-encoded). Blocks until it ends or `stop`.
pub fn send_file(input: &str, target: &RtpTarget, stop: Arc<AtomicBool>) -> Result<(), SendError> {
    let uri = crate::ingest::to_uri(input).map_err(|e| SendError::Pipeline(e.to_string()))?;
    let mut v = target.values();
    v.insert("uri", uri);
    let desc = fill(&strip_comments(SEND_FILE), &v).map_err(SendError::Pipeline)?;
    let pipeline = launch(&desc)?;
    // A medium the file lacks leaves its branch unlinked: end it so the pipeline can reach EOS.
    if let Some(decode) = pipeline.by_name("decode") {
        let p = pipeline.downgrade();
        decode.connect("no-more-pads", false, move |_| {
            if let Some(p) = p.upgrade() {
                for q in ["vq", "aq"] {
                    if let Some(pad) = p.by_name(q).and_then(|e| e.static_pad("sink")) {
                        if !pad.is_linked() {
                            pad.send_event(gst::event::Eos::new());
                        }
                    }
                }
            }
            None
        });
    }
    run(&pipeline, &stop)
}

/// The gst-launch-1.0 line equivalent to `send_file` (for the README and `send --print`).
pub fn send_file_launch_line(input: &str, target: &RtpTarget) -> Result<String, SendError> {
    let uri = crate::ingest::to_uri(input).map_err(|e| SendError::Pipeline(e.to_string()))?;
    let mut v = target.values();
    v.insert("uri", uri);
    fill(&strip_comments(SEND_FILE), &v).map(|d| format!("gst-launch-1.0 -e {d}")).map_err(SendError::Pipeline)
}
