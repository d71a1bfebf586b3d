//! `evalverse generate OUT`: a generated test sequence with exactly known cuts and faults.
use super::FaultArgs;
use super::parse_span;
use anyhow::{Result, bail};
use clap::Args;
use evalverse::sender::{self, synth::SceneSpec};
use std::path::PathBuf;

#[derive(Args)]
pub struct GenerateArgs {
    /// The MP4 file to write (H.264 and AAC).
    output: PathBuf,
    /// Seconds of sequence.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Frame width, px.
    #[arg(long, default_value_t = 640)]
    width: usize,
    /// Frame height, px.
    #[arg(long, default_value_t = 360)]
    height: usize,
    /// Frames per second.
    #[arg(long, default_value_t = 25)]
    fps: u32,
    /// Cut times in seconds, comma-separated (default: irregular cuts every 2–4 s).
    #[arg(long, value_delimiter = ',')]
    cuts: Option<Vec<f64>>,
    #[command(flatten)]
    faults: FaultArgs,
    #[command(flatten)]
    picture: super::PictureFaultArgs,
    #[command(flatten)]
    sound: super::SoundFaultArgs,
    /// Fade through black over A:B seconds (repeatable; put a cut at its middle for a
    /// gradual transition).
    #[arg(long, value_parser = parse_span)]
    fade: Vec<(f64, f64)>,
    /// Cross-dissolve into the next shot over A:B seconds (repeatable; the new shot is
    /// alone from B).
    #[arg(long, value_parser = parse_span)]
    dissolve: Vec<(f64, f64)>,
    /// Things dropped at these times, comma-separated: each lands with a thud somewhere in
    /// the frame (local motion that makes a sound, for the local-motion sync evidence).
    #[arg(long, value_delimiter = ',')]
    drops: Vec<f64>,
    /// The drops land without a sound (a control).
    #[arg(long)]
    silent_drops: bool,
    /// A face in close-up speaks over A:B seconds, its mouth opening with every syllable
    /// (repeatable; local motion that makes sound).
    #[arg(long, value_parser = parse_span)]
    talk: Vec<(f64, f64)>,
    /// Someone walks across the frame and back over A:B seconds, each foot landing with a
    /// footstep (repeatable; local motion that makes sound).
    #[arg(long, value_parser = parse_span)]
    walk: Vec<(f64, f64)>,
    /// The talkers' syllables and the walkers' footsteps are heard as this seed draws them,
    /// not as the picture shows them (a control: a mismatched dub).
    #[arg(long)]
    sound_seed: Option<u64>,
    /// The talkers speak this sound file (WAV, FLAC, ...; e.g. from `espeak-ng -w`), their
    /// mouths opening with its loudness, from 0.3 s into each `--talk` span.
    #[arg(long, requires = "talk")]
    speech: Option<PathBuf>,
    /// This sound file is heard instead of `--speech`, over the same mouths (a control: a
    /// mismatched dub).
    #[arg(long, requires = "speech")]
    dub: Option<PathBuf>,
    /// Seed of the content (shapes, colours, motion): one seed per scene when building a
    /// rating study of many clips.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Print the ground truth as JSON.
    #[arg(long)]
    truth: bool,
}

pub fn run(a: GenerateArgs) -> Result<i32> {
    if !(0.5..=3600.0).contains(&a.duration)
        || a.width < 16
        || a.height < 16
        || a.width > 3840
        || a.height > 2160
        || !(1..=120).contains(&a.fps)
    {
        bail!("duration 0.5–3600 s, size 16x16–3840x2160 and fps 1–120, please");
    }
    let f = a.faults;
    let spec = SceneSpec {
        width: a.width,
        height: a.height,
        fps: a.fps,
        duration_s: a.duration,
        cuts: a
            .cuts
            .unwrap_or_else(|| sender::synth::irregular_cuts(2.0, a.duration)),
        beep_on_cut: true,
        flashes: f.flash,
        audio_delay_ms: f.audio_delay_ms,
        freeze: f.freeze,
        black: f.black,
        flicker: f.flicker,
        silence: f.silence,
        fades: a.fade,
        dissolves: a.dissolve,
        drops: a.drops,
        silent_drops: a.silent_drops,
        talk: a.talk,
        walk: a.walk,
        sound_seed: a.sound_seed,
        speech: a.speech,
        dub: a.dub,
        seed: a.seed,
        picture: a.picture.into_faults(),
        sound: a.sound.into_faults(),
        ..Default::default()
    };
    spec.picture
        .validate()
        .and_then(|_| spec.sound.validate())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    sender::write_synthetic(&spec, &a.output)?;
    if a.truth {
        let scene = spec.scene()?;
        println!(
            "{}",
            serde_json::json!({
                "spec": spec,
                "cut_frames": spec.cut_frames(),
                "dissolve_frames": spec.dissolve_frames(),
                // When the talkers' syllables and the walkers' footsteps sound (s, before the
                // audio delay): the picture shows them at these times unless `sound_seed`.
                "syllable_starts": if spec.speech.is_some() { vec![] } else { sender::sources::syllables(spec.sound_seed.unwrap_or(spec.seed), &spec.talk).iter().map(|s| s.start).collect::<Vec<_>>() },
                // When the phrases of `--speech` (or `--dub`) start, heard.
                "speech_phrases": scene.heard_phrases(),
                "footsteps": sender::sources::steps(spec.sound_seed.unwrap_or(spec.seed), &spec.walk).iter().map(|s| s.t).collect::<Vec<_>>(),
            })
        );
    }
    Ok(0)
}
