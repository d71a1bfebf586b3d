//! Senders: put media on the wire (RTP over UDP, with RTCP) or into a file, for the demo, the
//! tests, and generators that want to hook in with one command (`evalverse send`).
mod draw;
pub mod inject;
pub mod picture_faults;
pub mod sound_faults;
pub mod sources;
pub mod speech;
pub mod synth;

use crate::ingest::pipeline::{fill, strip_comments};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use synth::{Scene, SceneSpec};
use thiserror::Error;

pub const SEND_SYNTH: &str = include_str!("../../pipelines/send-synth.pipeline");
pub const SEND_FILE: &str = include_str!("../../pipelines/send-file.pipeline");
pub const WRITE_FILE: &str = include_str!("../../pipelines/write-file.pipeline");
pub const SEND_IMAGES: &str = include_str!("../../pipelines/send-images.pipeline");
pub const SEND_FRAGMENTS: &str = include_str!("../../pipelines/send-fragments.pipeline");

/// Samples of encoder delay `avenc_aac` puts before the audio at 48 kHz. `mp4mux` does not
/// record it, so file writers drop that many samples from the head to keep sync exact.
pub const AAC_PRIMING: u64 = 1024;

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

/// A medium the input lacks leaves its branch (queue `vq` or `aq` after `decode`) unlinked: end
/// it at `no-more-pads` so the pipeline can still reach EOS — the branch, and the RTCP sink of
/// its RTP session (session 0 video, 1 audio), which rtpbin never ends for a session that never
/// carried data. The EOS goes out from a thread of its own: a sink receiving EOS before PLAYING
/// blocks the caller, and the signal runs on decodebin's streaming thread.
fn end_missing_branches(pipeline: &gst::Pipeline) {
    let Some(decode) = pipeline.by_name("decode") else {
        return;
    };
    let p = pipeline.downgrade();
    decode.connect("no-more-pads", false, move |_| {
        let p = p.upgrade()?;
        let mut pads = vec![];
        for (session, q) in ["vq", "aq"].into_iter().enumerate() {
            let Some(pad) = p.by_name(q).and_then(|e| e.static_pad("sink")) else {
                continue;
            };
            if pad.is_linked() {
                continue;
            }
            pads.push(pad);
            pads.extend(
                p.by_name("rtpbin")
                    .and_then(|r| r.static_pad(&format!("send_rtcp_src_{session}")))
                    .and_then(|r| r.peer()),
            );
        }
        if !pads.is_empty() {
            std::thread::spawn(move || {
                for pad in pads {
                    pad.send_event(gst::event::Eos::new());
                }
            });
        }
        None
    });
}

pub(crate) fn launch(desc: &str) -> Result<gst::Pipeline, SendError> {
    crate::ingest::init().map_err(|e| SendError::Pipeline(e.to_string()))?;
    gst::parse::launch(desc)
        .map_err(|e| SendError::Pipeline(format!("{e}\n  description: {desc}")))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| SendError::Pipeline("not a pipeline".into()))
}

/// Run `pipeline` until EOS, an error, or `stop`.
pub(crate) fn run(pipeline: &gst::Pipeline, stop: &AtomicBool) -> Result<(), SendError> {
    run_fed(pipeline, stop, &[])
}

/// Once our feeding threads are done, how long the pipeline has to deliver its EOS.
const EOS_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// Once every RTP data sink has its EOS, how long the RTCP side gets to send its BYE.
const RTCP_GRACE: std::time::Duration = std::time::Duration::from_millis(300);

/// Count the EOS events reaching the pipeline's RTP data sinks (the udpsinks behind rtpbin's
/// `send_rtp_src_*`). The pipeline-wide EOS also waits for the RTCP sinks, and rtpbin's RTCP
/// thread has been seen to hold that back for good now and then (a sender hanging after
/// everything was sent); the data sinks say when the media are out.
fn rtp_sinks_done(
    pipeline: &gst::Pipeline,
) -> Option<(usize, Arc<std::sync::atomic::AtomicUsize>)> {
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut n = 0;
    let mut iter = pipeline.iterate_sinks();
    while let Ok(Some(sink)) = iter.next() {
        let Some(pad) = sink.static_pad("sink") else {
            continue;
        };
        let rtp = pad
            .peer()
            .map(|p| p.name().starts_with("send_rtp_src"))
            .unwrap_or(false);
        if !rtp {
            continue;
        }
        n += 1;
        let done = done.clone();
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(e)) = &info.data {
                if e.type_() == gst::EventType::Eos {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
    (n > 0).then_some((n, done))
}

/// [`run`] for a pipeline fed by `feeders` (threads of ours): it also ends when they have all
/// finished and no EOS came within [`EOS_GRACE`] (everything was sent), and, for an RTP sender,
/// [`RTCP_GRACE`] after every RTP data sink has its EOS.
fn run_fed(
    pipeline: &gst::Pipeline,
    stop: &AtomicBool,
    feeders: &[std::thread::JoinHandle<()>],
) -> Result<(), SendError> {
    let rtp = rtp_sinks_done(pipeline);
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| SendError::Runtime(e.to_string()))?;
    let bus = pipeline
        .bus()
        .ok_or_else(|| SendError::Runtime("no bus".into()))?;
    let mut fed_at: Option<std::time::Instant> = None;
    let mut sent_at: Option<std::time::Instant> = None;
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        if !feeders.is_empty() && feeders.iter().all(|t| t.is_finished()) {
            let since = *fed_at.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() > EOS_GRACE {
                tracing::warn!("the sender pipeline held its EOS back; ending after the grace");
                break Ok(());
            }
        }
        if let Some((n, done)) = &rtp {
            if done.load(Ordering::Relaxed) >= *n {
                let since = *sent_at.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > RTCP_GRACE {
                    break Ok(());
                }
            }
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(SendError::Runtime(format!(
                    "{} ({:?})",
                    e.error(),
                    e.debug()
                )));
            }
            _ => {}
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// Push the generated video and audio into the pipeline's `video_src` / `audio_src` appsrcs
/// from two threads of ours (appsrc blocks when full: the pipeline paces us).
fn feed(
    pipeline: &gst::Pipeline,
    scene: &Arc<Scene>,
    stop: Arc<AtomicBool>,
    audio_head: u64,
) -> Result<Vec<std::thread::JoinHandle<()>>, SendError> {
    let get = |name: &str| {
        pipeline
            .by_name(name)
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| SendError::Pipeline(format!("no appsrc named {name}")))
    };
    let (vsrc, asrc) = (get("video_src")?, get("audio_src")?);
    let mut threads = vec![];
    {
        let scene = scene.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let spec = &scene.spec;
            let mut buf = vec![];
            let fd = gst::ClockTime::from_nseconds(1_000_000_000 / spec.fps as u64);
            for n in 0..spec.frames() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                scene.render(n, &mut buf);
                let mut b = gst::Buffer::from_slice(std::mem::take(&mut buf));
                {
                    let b = b.get_mut().expect("new buffer is writable");
                    b.set_pts(gst::ClockTime::from_nseconds(
                        n * 1_000_000_000 / spec.fps as u64,
                    ));
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
        let scene = scene.clone();
        threads.push(std::thread::spawn(move || {
            let spec = &scene.spec;
            const CHUNK: usize = 960; // 20 ms at 48 kHz
            let total = (spec.duration_s * 48_000.0) as u64 + audio_head;
            let mut samples = vec![];
            let mut k = audio_head;
            while k < total {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let n = CHUNK.min((total - k) as usize);
                scene.audio(k, n, &mut samples);
                let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
                let mut b = gst::Buffer::from_slice(bytes);
                {
                    let b = b.get_mut().expect("new buffer is writable");
                    b.set_pts(gst::ClockTime::from_nseconds(
                        (k - audio_head) * 1_000_000_000 / 48_000,
                    ));
                    b.set_duration(gst::ClockTime::from_nseconds(
                        n as u64 * 1_000_000_000 / 48_000,
                    ));
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
pub fn send_synthetic(
    spec: &SceneSpec,
    target: &RtpTarget,
    stop: Arc<AtomicBool>,
) -> Result<(), SendError> {
    send_synthetic_with(spec, target, stop, |_| {})
}

/// [`send_synthetic`], with a chance to adjust the sender pipeline before it plays (tests set
/// the payloaders' `timestamp-offset` to make RTP timestamps wrap, for instance).
pub fn send_synthetic_with(
    spec: &SceneSpec,
    target: &RtpTarget,
    stop: Arc<AtomicBool>,
    adjust: impl FnOnce(&gst::Pipeline),
) -> Result<(), SendError> {
    let scene = Arc::new(spec.scene()?);
    let mut v = target.values();
    v.extend(spec_values(spec));
    v.insert("gop", spec.fps.to_string());
    let desc = fill(&strip_comments(SEND_SYNTH), &v).map_err(SendError::Pipeline)?;
    let pipeline = launch(&desc)?;
    adjust(&pipeline);
    let threads = feed(&pipeline, &scene, stop.clone(), 0)?;
    let r = run_fed(&pipeline, &stop, &threads);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    r
}

/// Write a generated sequence to an MP4 file (H.264 + AAC), as fast as it encodes.
pub fn write_synthetic(spec: &SceneSpec, path: &std::path::Path) -> Result<(), SendError> {
    let scene = Arc::new(spec.scene()?);
    let mut v = spec_values(spec);
    v.insert("gop", (spec.fps * 2).to_string());
    v.insert("bitrate_kbps", "2000".into());
    v.insert("path", path.to_string_lossy().replace('"', ""));
    let desc = fill(&strip_comments(WRITE_FILE), &v).map_err(SendError::Pipeline)?;
    let pipeline = launch(&desc)?;
    let stop = Arc::new(AtomicBool::new(false));
    let threads = feed(&pipeline, &scene, stop.clone(), AAC_PRIMING)?;
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
    end_missing_branches(&pipeline);
    run(&pipeline, &stop)
}

/// The gst-launch-1.0 line equivalent to `send_file` (for the README and `send --print`).
pub fn send_file_launch_line(input: &str, target: &RtpTarget) -> Result<String, SendError> {
    let uri = crate::ingest::to_uri(input).map_err(|e| SendError::Pipeline(e.to_string()))?;
    let mut v = target.values();
    v.insert("uri", uri);
    fill(&strip_comments(SEND_FILE), &v)
        .map(|d| format!("gst-launch-1.0 -e {d}"))
        .map_err(SendError::Pipeline)
}

/// How a directory a generator writes into is read.
#[derive(Clone, Debug)]
pub struct DirOptions {
    /// Frame rate of an image sequence.
    pub fps: u32,
    /// Stop when no new file has appeared for this long (a file named `END` stops at once).
    pub idle_s: f64,
}

fn kind_of(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".png") {
        Some("image/png")
    } else if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
        Some("image/jpeg")
    } else if lower.ends_with(".ts") || lower.ends_with(".m4s") || lower == "init.mp4" {
        Some("fragment")
    } else {
        None
    }
}

/// Files of the directory in the order a generator writes them (name order; `init.mp4` first).
fn listing(dir: &std::path::Path) -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|n| kind_of(&n).map(|k| (n, k)))
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| (a.0 != "init.mp4", &a.0).cmp(&(b.0 != "init.mp4", &b.0)));
    v
}

/// Stream a growing image sequence or fragment files as RTP, following the directory as a
/// generator writes it. A file is taken once a newer one exists or it has not grown for
/// 0.5 s (so half-written files are not read).
pub fn send_dir(
    dir: &std::path::Path,
    target: &RtpTarget,
    opts: &DirOptions,
    stop: Arc<AtomicBool>,
) -> Result<(), SendError> {
    if !dir.is_dir() {
        return Err(SendError::Pipeline(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    // Wait for the first file to know what the generator writes.
    let t0 = std::time::Instant::now();
    let first_kind = loop {
        if let Some((_, k)) = listing(dir).first() {
            break *k;
        }
        if stop.load(Ordering::Relaxed) || t0.elapsed().as_secs_f64() > opts.idle_s {
            return Err(SendError::Runtime(format!(
                "no .png/.jpg/.ts/.m4s files appeared in {}",
                dir.display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut v = target.values();
    v.insert("fps", opts.fps.to_string());
    v.insert("gop", opts.fps.to_string());
    let (desc, src_name) = if first_kind == "fragment" {
        (fill(&strip_comments(SEND_FRAGMENTS), &v), "fragments")
    } else {
        v.insert("caps", first_kind.to_string());
        (fill(&strip_comments(SEND_IMAGES), &v), "images")
    };
    let pipeline = launch(&desc.map_err(SendError::Pipeline)?)?;
    let src = pipeline
        .by_name(src_name)
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .ok_or_else(|| SendError::Pipeline("no appsrc".into()))?;
    let feeder = {
        let (dir, stop, opts) = (dir.to_path_buf(), stop.clone(), opts.clone());
        std::thread::spawn(move || {
            let mut sent = std::collections::BTreeSet::new();
            let mut frame = 0u64;
            let mut last_new = std::time::Instant::now();
            let mut sizes: std::collections::BTreeMap<String, (u64, std::time::Instant)> =
                Default::default();
            while !stop.load(Ordering::Relaxed) {
                if dir.join("END").exists() && listing(&dir).iter().all(|(n, _)| sent.contains(n)) {
                    break;
                }
                let files = listing(&dir);
                let mut progressed = false;
                for (i, (name, kind)) in files.iter().enumerate() {
                    if sent.contains(name)
                        || *kind != first_kind && !(first_kind == "fragment" && *kind == "fragment")
                    {
                        continue;
                    }
                    let path = dir.join(name);
                    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    let newer_exists = i + 1 < files.len();
                    let entry = sizes
                        .entry(name.clone())
                        .or_insert((len, std::time::Instant::now()));
                    if entry.0 != len {
                        *entry = (len, std::time::Instant::now());
                    }
                    if len == 0 || !(newer_exists || entry.1.elapsed().as_secs_f64() > 0.5) {
                        break; // keep order: wait for this file
                    }
                    let Ok(bytes) = std::fs::read(&path) else {
                        break;
                    };
                    let mut b = gst::Buffer::from_slice(bytes);
                    if first_kind != "fragment" {
                        let b = b.get_mut().expect("new buffer is writable");
                        b.set_pts(gst::ClockTime::from_nseconds(
                            frame * 1_000_000_000 / opts.fps as u64,
                        ));
                        b.set_duration(gst::ClockTime::from_nseconds(
                            1_000_000_000 / opts.fps as u64,
                        ));
                    }
                    if src.push_buffer(b).is_err() {
                        return;
                    }
                    frame += 1;
                    sent.insert(name.clone());
                    progressed = true;
                }
                if progressed {
                    last_new = std::time::Instant::now();
                } else if last_new.elapsed().as_secs_f64() > opts.idle_s {
                    break;
                } else {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
            let _ = src.end_of_stream();
        })
    };
    end_missing_branches(&pipeline);
    let r = run(&pipeline, &stop);
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.join();
    r
}
