//! `evalverse send`: a file, a directory a generator is writing, or a generated sequence, as
//! RTP in real time.
use super::signal_flag;
use anyhow::{Result, bail};
use clap::Args;
use evalverse::sender::{self, RtpTarget, synth::SceneSpec};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(Args)]
pub struct SendArgs {
    /// File, URI or directory to send; omit with --synthetic.
    input: Option<String>,
    /// Frame rate of an image sequence (DIR of PNG/JPEG files).
    #[arg(long, default_value_t = 24)]
    fps: u32,
    /// DIR mode: stop when no new file appeared for this many seconds (or at a file named END).
    #[arg(long, default_value_t = 10.0)]
    idle: f64,
    /// Send a generated sequence (cuts with beeps) instead of a file.
    #[arg(long)]
    synthetic: bool,
    /// Seconds of generated sequence.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Address of the evaluator (`serve`) the RTP goes to.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// UDP port of the video (H.264, payload 96; RTCP on the next port): the stream's
    /// `video.port` in the evaluator's config.
    #[arg(long, default_value_t = 5004)]
    video_port: u16,
    /// UDP port of the audio (Opus, payload 97; RTCP on the next port): the stream's
    /// `audio.port`.
    #[arg(long, default_value_t = 5006)]
    audio_port: u16,
    /// Video bit rate of the H.264 encoding, kbit/s.
    #[arg(long, default_value_t = 2000)]
    bitrate_kbps: u32,
    /// Print the equivalent gst-launch-1.0 line and exit.
    #[arg(long)]
    print: bool,
}

pub fn run(a: SendArgs) -> Result<i32> {
    let target = RtpTarget {
        host: a.host,
        video_port: a.video_port,
        audio_port: a.audio_port,
        bitrate_kbps: a.bitrate_kbps,
    };
    let stop = Arc::new(AtomicBool::new(false));
    signal_flag(stop.clone());
    match (a.input, a.synthetic) {
        (Some(f), false) if std::path::Path::new(&f).is_dir() => {
            if a.print {
                bail!("--print shows the pipeline of a FILE; a directory is sent frame by frame");
            }
            if !(1..=240).contains(&a.fps) || !(0.5..=86_400.0).contains(&a.idle) {
                bail!("--fps 1–240 and --idle 0.5–86400 seconds, please");
            }
            sender::send_dir(
                std::path::Path::new(&f),
                &target,
                &sender::DirOptions {
                    fps: a.fps,
                    idle_s: a.idle,
                },
                stop,
            )?
        }
        (Some(f), false) if a.print => {
            println!("{}", sender::send_file_launch_line(&f, &target)?);
        }
        (Some(f), false) => sender::send_file(&f, &target, stop)?,
        (None, true) => {
            let spec = SceneSpec {
                duration_s: a.duration,
                cuts: sender::synth::irregular_cuts(2.0, a.duration),
                ..Default::default()
            };
            sender::send_synthetic(&spec, &target, stop)?
        }
        _ => bail!("give a FILE, or --synthetic"),
    }
    Ok(0)
}
