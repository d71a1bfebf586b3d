//! `evalverse inject IN OUT`: copy a file with faults of exactly known ground truth.
use super::FaultArgs;
use super::parse_span;
use anyhow::Result;
use clap::Args;
use evalverse::sender::inject::{Faults, inject};
use evalverse::sender::picture_faults::PictureFaults;
use std::path::PathBuf;

#[derive(Args)]
pub struct InjectArgs {
    input: String,
    output: PathBuf,
    #[command(flatten)]
    faults: FaultArgs,
    /// Replace the frame at T seconds with the frame one second earlier (repeatable).
    #[arg(long)]
    swap_frame: Vec<f64>,
    /// Colour-grade change over A:B seconds (repeatable).
    #[arg(long, value_parser = parse_span)]
    grade_shift: Vec<(f64, f64)>,
    /// Exposure changed by STOPS (+ brighter, − darker) over A:B seconds: A:B:STOPS (repeatable).
    #[arg(long, value_parser = parse_amount, allow_hyphen_values = true)]
    exposure: Vec<(f64, f64, f64)>,
    /// Camera shake over A:B: each frame moved at random by up to PCT % of the width: A:B:PCT.
    #[arg(long, value_parser = parse_amount)]
    shake: Vec<(f64, f64, f64)>,
    /// Focus lost over A:B: a blur of radius PX pixels (≈ Gaussian σ): A:B:PX.
    #[arg(long, value_parser = parse_amount)]
    blur: Vec<(f64, f64, f64)>,
    /// Luma noise of σ SIGMA code values over A:B: A:B:SIGMA.
    #[arg(long, value_parser = parse_amount)]
    noise: Vec<(f64, f64, f64)>,
}

/// `A:B:X`: a span with an amount.
fn parse_amount(s: &str) -> Result<(f64, f64, f64), String> {
    let (span, x) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?}: expected A:B:AMOUNT"))?;
    let (a, b) = parse_span(span)?;
    let x: f64 = x
        .trim()
        .parse()
        .map_err(|_| format!("{x:?} is not a number"))?;
    Ok((a, b, x))
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
        picture: PictureFaults {
            exposure: a.exposure,
            shake: a.shake,
            blur: a.blur,
            noise: a.noise,
        },
    };
    let truth = inject(&a.input, &a.output, &faults)?;
    println!("{}", serde_json::to_string(&truth)?);
    Ok(0)
}
