//! `evalverse inject IN OUT`: copy a file with faults of exactly known ground truth.
use super::FaultArgs;
use super::parse_span;
use anyhow::Result;
use clap::Args;
use evalverse::sender::inject::{Faults, inject};
use std::path::PathBuf;

#[derive(Args)]
pub struct InjectArgs {
    /// The clip to copy: a file or URI (not changed).
    input: String,
    /// The faulty copy to write (MP4: H.264 and AAC).
    output: PathBuf,
    #[command(flatten)]
    faults: FaultArgs,
    /// Replace the frame at T seconds with the frame one second earlier (repeatable).
    #[arg(long)]
    swap_frame: Vec<f64>,
    /// Colour-grade change over A:B seconds (repeatable).
    #[arg(long, value_parser = parse_span)]
    grade_shift: Vec<(f64, f64)>,
    #[command(flatten)]
    picture: super::PictureFaultArgs,
    #[command(flatten)]
    sound: super::SoundFaultArgs,
}

pub fn run(a: InjectArgs) -> Result<i32> {
    let f = a.faults;
    let faults = Faults {
        audio_delay_ms: f.audio_delay_ms,
        freeze: f.freeze,
        black: f.black,
        flicker: f.flicker,
        silence: f.silence,
        grade_shift: a.grade_shift,
        flash: f.flash,
        swap_frame: a.swap_frame,
        picture: a.picture.into_faults(),
        sound: a.sound.into_faults(),
    };
    let truth = inject(&a.input, &a.output, &faults)?;
    println!("{}", serde_json::to_string(&truth)?);
    Ok(0)
}
