//! The film-production taxonomy of the EvalVerse idea, and the diagnosis every event and window
//! carries: what was observed, which dimension it hurts, what the problem likely is, what to try.
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    PreProduction,
    Production,
    PostProduction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Sync,
    Continuity,
    Rhythm,
    /// Post-production sound: level, loudness, clipping, dropouts.
    Sound,
    /// Production picture: exposure, focus, noise, camera steadiness.
    Picture,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Sync => "sync",
            Dimension::Continuity => "continuity",
            Dimension::Rhythm => "rhythm",
            Dimension::Sound => "sound",
            Dimension::Picture => "picture",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Diagnosis {
    /// The event kind this diagnoses, when it is an event's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventKind>,
    pub stage: Stage,
    pub aspect: Cow<'static, str>,
    pub dimension: Dimension,
    pub observed: String,
    pub problem: String,
    pub fix: String,
}

use crate::model::local_sync::SyncSource;
use crate::vocab::{Detection, EventKind};
use std::borrow::Cow;

fn value(d: &Detection, key: &str) -> f64 {
    d.values
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .unwrap_or(f64::NAN)
}

/// The diagnosis of a lip fault, or of a flash with its sound (`None` for any other kind).
fn lips_and_effects(d: &Detection, span: &str) -> Option<Diagnosis> {
    Some(match d.kind {
        EventKind::FlashWithSound => Diagnosis {
            event: None,
            stage: Stage::Production,
            aspect: Cow::Borrowed("cinematography (lighting) with sound design"),
            dimension: Dimension::Continuity,
            observed: format!(
                "{:.0}-frame flash at {:.3} s with a transient sound on its first frame ({:.0} dBFS, {:+.0} dB over the 300 ms before, gone {:.0} dB within 400 ms)",
                value(d, "frames"),
                d.start,
                value(d, "onset_db"),
                value(d, "rise_db"),
                value(d, "fall_db")
            ),
            problem: "none by itself: a flash with its sound is an effect (a slate, a camera flash, a shot), not a glitch frame (not scored)".into(),
            fix: "nothing to fix unless no flash belongs here".into(),
        },
        EventKind::SpeechWithoutMouth => Diagnosis {
            event: None,
            stage: Stage::Production,
            aspect: Cow::Borrowed("performance (lip sync)"),
            dimension: Dimension::Sync,
            observed: format!(
                "speech {span} while face {} keeps its mouth still (lip movement {:.3} of the eye span, sound in {:.0} % of it); the same face talks elsewhere",
                value(d, "track"),
                value(d, "mouth_sd"),
                100.0 * value(d, "sound_share")
            ),
            problem: "the character does not perform these words: the mouth starts late, stops early or skips a line the sound speaks".into(),
            fix: "regenerate the span with the speech conditioning the face (or run a lip-sync pass on it); if the words are another speaker's off screen, nothing to do".into(),
        },
        EventKind::MouthWithoutSpeech => Diagnosis {
            event: None,
            stage: Stage::Production,
            aspect: Cow::Borrowed("performance (lip sync)"),
            dimension: Dimension::Sync,
            observed: format!(
                "face {} talks {span} with no sound (lip movement {:.3} of the eye span, sound in {:.0} % of it)",
                value(d, "track"),
                value(d, "mouth_sd"),
                100.0 * value(d, "sound_share")
            ),
            problem: "the mouth moves like speech through silence: the line is missing from the sound, or the face mouths words it was not given".into(),
            fix: "check the dialogue track for the missing line; otherwise regenerate the span with the silence conditioning the face (a closed, still mouth)".into(),
        },
        _ => return None,
    })
}

/// Diagnosis of a continuity or picture event.
pub fn event(d: &Detection) -> Diagnosis {
    let dur = d.end - d.start;
    let span = format!(
        "{:.3}–{:.3} s ({:.2} s{})",
        d.start,
        d.end,
        dur,
        if d.ongoing { ", ongoing" } else { "" }
    );
    let mut diagnosis = fault(d, &span)
        .or_else(|| picture_fault(d, &span))
        .or_else(|| lips_and_effects(d, &span))
        .unwrap_or_else(|| informative(d, &span));
    diagnosis.event = Some(d.kind);
    diagnosis
}

/// The diagnosis of a fault event (`None` for an informative one).
fn fault(d: &Detection, span: &str) -> Option<Diagnosis> {
    Some(match d.kind {
        EventKind::Freeze => Diagnosis {
            event: None,
            stage: Stage::Production,
            aspect: Cow::Borrowed("cinematography (motion)"),
            dimension: Dimension::Continuity,
            observed: format!("picture frozen {span}: {} consecutive frames without change", value(d, "frames")),
            problem: "the generator repeated frames: a stalled sampler, duplicate-frame padding in frame-rate conversion, or a muxing gap".into(),
            fix: "regenerate the segment; check frame interpolation and frame-rate conversion for duplicated frames".into(),
        },
        EventKind::Black => Diagnosis {
            event: None,
            stage: Stage::PostProduction,
            aspect: Cow::Borrowed("editing"),
            dimension: Dimension::Continuity,
            observed: format!("black picture {span}, mean luma {:.3}", value(d, "mean_luma")),
            problem: "unplanned black: missing frames, a failed decode, or a fade that was not in the shot plan".into(),
            fix: "check the frame sequence for gaps; if the fade is intended, keep it under the minimum event duration or raise analysis.min_event_s".into(),
        },
        EventKind::Silence => Diagnosis {
            event: None,
            stage: Stage::PostProduction,
            aspect: Cow::Borrowed("sound design"),
            dimension: Dimension::Continuity,
            observed: format!("audio silent {span} at {:.0} dBFS", value(d, "level_db")),
            problem: "an audio dropout: the soundtrack stopped while the picture went on".into(),
            fix: "check the audio generator and mixer for gaps; re-render the audio of this span".into(),
        },
        EventKind::Flicker => Diagnosis {
            event: None,
            stage: Stage::Production,
            aspect: Cow::Borrowed("cinematography (lighting, exposure)"),
            dimension: Dimension::Continuity,
            observed: format!(
                "luma oscillating {span}: {:.1} % frame to frame at {:.1} Hz",
                100.0 * value(d, "amplitude"),
                value(d, "frequency_hz")
            ),
            problem: "exposure is inconsistent between frames, typical of frames generated without temporal consistency".into(),
            fix: "enable temporal attention / consistency in the generator, lower the guidance scale, or run a deflicker pass".into(),
        },
        EventKind::Flash => Diagnosis {
            event: None,
            stage: Stage::Production,
            aspect: Cow::Borrowed("cinematography (lighting)"),
            dimension: Dimension::Continuity,
            observed: format!("{:.0}-frame flash at {:.3} s (luma jump {:+.2})", value(d, "frames"), d.start, value(d, "luma_jump")),
            problem: "a 1–3 frame change that returns to the same shot: an intended flash, or a glitch frame".into(),
            fix: "if unintended, replace the frames by interpolating their neighbours".into(),
        },
        EventKind::Glitch => Diagnosis {
            event: None,
            stage: Stage::Production,
            aspect: Cow::Borrowed("performance (temporal coherence)"),
            dimension: Dimension::Continuity,
            observed: format!("{:.0}-frame content glitch at {:.3} s (distance {:.2}, luma change {:+.2})", value(d, "frames"), d.start, value(d, "distance"), value(d, "luma_jump")),
            problem: "the picture jumps to other content for a frame or two and back: a swapped, repeated-from-elsewhere or corrupt frame".into(),
            fix: "regenerate or interpolate the frame(s); check frame ordering in the generator's output and muxer".into(),
        },
        EventKind::GradeJump => Diagnosis {
            event: None,
            stage: Stage::PostProduction,
            aspect: Cow::Borrowed("colour"),
            dimension: Dimension::Continuity,
            observed: format!(
                "look changed abruptly at {:.3} s inside a shot (luma {:+.3}, Cb {:+.3}, Cr {:+.3}; structure kept {:.2})",
                d.start,
                value(d, "luma_shift"),
                value(d, "cb_shift"),
                value(d, "cr_shift"),
                value(d, "structure")
            ),
            problem: "exposure or colour grade jumps within a shot: the generator lost its look between frames".into(),
            fix: "grade-match the segment (or regenerate it with the previous frames as context); lock the colour conditioning".into(),
        },
        _ => return None,
    })
}

/// The diagnosis of a picture fault (production / cinematography; `model::picture`).
fn picture_fault(d: &Detection, span: &str) -> Option<Diagnosis> {
    let (aspect, observed, problem, fix) = match d.kind {
        EventKind::Overexposed => (
            "cinematography (exposure)",
            format!(
                "overexposed {span}: {:.0} % of the picture at video white (clipped), mean level {:.2}",
                100.0 * value(d, "highlights"),
                value(d, "mean_luma")
            ),
            "highlights are burnt out: detail there is lost and no grade brings it back",
            "regenerate with lower exposure or brightness conditioning; keep skies and lights below white",
        ),
        EventKind::Underexposed => (
            "cinematography (exposure)",
            format!(
                "underexposed {span}: mean level {:.2}, and 95 % of the picture at or below {:.2} of the range (nothing reaches a mid-tone)",
                value(d, "mean_luma"),
                value(d, "p95")
            ),
            "the picture is too dark: the shadows hold most of it and quantisation eats their detail, though it is neither a black frame nor a fade",
            "regenerate brighter, or lift the shadows in the grade before they are quantised away",
        ),
        EventKind::Blur => (
            "cinematography (focus)",
            format!(
                "focus lost {span}: fine detail at {:.0} % of the shot's own level (sharpness {:.3} vs {:.3})",
                100.0 * value(d, "ratio"),
                value(d, "sharpness"),
                value(d, "shot_sharpness")
            ),
            "the picture went soft inside a shot: a focus pull the shot plan does not have, or the generator lost detail",
            "regenerate the span; if a rack focus was intended, check the shot plan",
        ),
        EventKind::Noise => (
            "cinematography (noise)",
            format!(
                "noise rose {span}: σ {:.1} code values against the shot's {:.1}",
                value(d, "noise"),
                value(d, "shot_noise")
            ),
            "the picture grew noisy inside a shot: an unconverged sampler, too few denoising steps, or an encoder starved of bits",
            "raise the sampler's steps for the span, or check the encoder's bitrate",
        ),
        EventKind::Shake => (
            "cinematography (camera movement)",
            format!(
                "camera shaking {span}: path jitter {:.2} % of the picture width (RMS), up to {:.2} %",
                value(d, "jitter_pct"),
                value(d, "peak_pct")
            ),
            "the camera path jitters frame to frame around its smooth course: unstable camera conditioning or an unsmoothed trajectory",
            "smooth the camera path (conditioning or stabilisation) and regenerate; a stabilising pass can save the take",
        ),
        EventKind::CameraJump => (
            "cinematography (camera movement)",
            format!(
                "picture jumped {:.1} % of its width at {:.3} s inside a shot (dx {:+.1} %, dy {:+.1} %)",
                value(d, "jump_pct"),
                d.start,
                value(d, "dx_pct"),
                value(d, "dy_pct")
            ),
            "the camera teleported between two frames without a cut: lost temporal coherence",
            "regenerate the span with the previous frames as context, or cut there on purpose",
        ),
        _ => return None,
    };
    Some(Diagnosis {
        event: None,
        stage: Stage::Production,
        aspect: aspect.into(),
        dimension: Dimension::Picture,
        observed,
        problem: problem.into(),
        fix: fix.into(),
    })
}

/// The diagnosis of a loudness jump, placed at a cut or inside a shot (`at_cut`).
fn loudness_jump(d: &Detection) -> Diagnosis {
    // `at_cut` is absent where the stream has no pictures (no shots to place it in).
    let at_cut = d.values.iter().find(|v| v.0 == "at_cut").map(|v| v.1 > 0.5);
    let observed = format!(
        "sound level stepped {:+.1} dB at {:.3} s ({:.0} → {:.0} dBFS){}",
        value(d, "step_db"),
        d.start,
        value(d, "before_db"),
        value(d, "after_db"),
        match at_cut {
            Some(true) => ", at a cut",
            Some(false) => ", inside a shot",
            None => "",
        }
    );
    let (problem, fix) = match at_cut {
        Some(true) => (
            "none by itself: the new scene has its own level (not scored)",
            "if the change is too abrupt for the edit, crossfade the sound across the cut",
        ),
        Some(false) => (
            "a level step with no cut within 0.25 s: a gain step in the mix, or a split edit (J/L cut) whose sound leads or trails the picture cut (not scored: a loud sound effect reads the same)",
            "if no edit motivates it, ride the gain back to the shot's level or crossfade the change, and check the audio generator's normalisation between segments",
        ),
        None => (
            "a step in the sound's level: a scene change, a sound effect, or a gain step in the mix (not scored)",
            "if unintended, ride the gain or crossfade the level change",
        ),
    };
    Diagnosis {
        event: None,
        stage: Stage::PostProduction,
        aspect: Cow::Borrowed("sound design (level)"),
        dimension: Dimension::Sound,
        observed,
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// The diagnosis of an informative event: something film-makers do on purpose, or the
/// transport's doing (the timestamp discontinuity).
fn informative(d: &Detection, span: &str) -> Diagnosis {
    match d.kind {
        EventKind::StaticShot => Diagnosis {
            event: None,
            stage: Stage::Production,
            aspect: Cow::Borrowed("cinematography (camera, staging)"),
            dimension: Dimension::Continuity,
            observed: if value(d, "shot_opened_still") >= 0.5 {
                format!("static shot {span}: the shot opened on a still picture ({} frames)", value(d, "frames"))
            } else {
                format!(
                    "still picture {span} after the motion settled ({} frames; motion before {:.4})",
                    value(d, "frames"),
                    value(d, "motion_before")
                )
            },
            problem: "none by itself: a title card, a photograph, an establishing shot or a held pose is the content's own choice (not scored)".into(),
            fix: "nothing to fix unless the shot was meant to move; a rule on continuity.static_ratio can flag long ones".into(),
        },
        EventKind::FadeBlack => Diagnosis {
            event: None,
            stage: Stage::PostProduction,
            aspect: Cow::Borrowed("editing"),
            dimension: Dimension::Continuity,
            observed: format!("black {span} reached by a fade (or at the start), mean luma {:.3}", value(d, "mean_luma")),
            problem: "none by itself: a fade to or from black is an editing choice (not scored)".into(),
            fix: "nothing to fix unless the shot plan has no fade here".into(),
        },
        EventKind::Quiet => Diagnosis {
            event: None,
            stage: Stage::PostProduction,
            aspect: Cow::Borrowed("sound design"),
            dimension: Dimension::Continuity,
            observed: format!("audio quiet {span} at {:.0} dBFS, entered gradually", value(d, "level_db")),
            problem: "none by itself: a pause, a fade-out or a quiet passage (not scored)".into(),
            fix: "nothing to fix unless the soundtrack should carry on here".into(),
        },
        EventKind::LightingChange => Diagnosis {
            event: None,
            stage: Stage::Production,
            aspect: Cow::Borrowed("cinematography (lighting)"),
            dimension: Dimension::Continuity,
            observed: format!(
                "light changed abruptly at {:.3} s inside a shot, unevenly across the picture (global-grade fit residual {:.2})",
                d.start,
                value(d, "residual")
            ),
            problem: "none by itself: a lamp, a stage light or lightning changes parts of the picture differently, unlike a generator's grade instability (not scored)".into(),
            fix: "nothing to fix unless no light changes in the scene".into(),
        },
        EventKind::Clipping => Diagnosis {
            event: None,
            stage: Stage::PostProduction,
            aspect: Cow::Borrowed("sound design (mix level)"),
            dimension: Dimension::Sound,
            observed: format!(
                "sound clipped {span}: {:.0} runs of full-scale samples, true peak {:+.1} dBTP",
                value(d, "clipped_runs"),
                value(d, "true_peak_dbtp")
            ),
            problem: "the mix went over full scale: the waveform's tops are cut flat, heard as distortion".into(),
            fix: "lower the gain before the output stage or add a true-peak limiter at −1 dBTP (EBU R 128), then re-render the audio of this span".into(),
        },
        EventKind::Dropout => Diagnosis {
            event: None,
            stage: Stage::PostProduction,
            aspect: Cow::Borrowed("sound design"),
            dimension: Dimension::Sound,
            observed: format!(
                "sound cut to digital silence for {:.0} ms at {:.3} s and came back ({:.0} dBFS before, {:.0} dBFS after)",
                value(d, "hole_ms"),
                d.start,
                value(d, "before_db"),
                value(d, "after_db")
            ),
            problem: "a dropout: samples lost between the audio generator and the mux (a buffer underrun, a dropped packet, a bad splice)".into(),
            fix: "check the audio path for underruns and splices at this time; re-render or crossfade the span".into(),
        },
        EventKind::LoudnessJump => loudness_jump(d),
        // EventKind::Discontinuity (the faults are `fault`'s).
        _ => Diagnosis {
            event: None,
            stage: Stage::PostProduction,
            aspect: Cow::Borrowed("editing (timeline)"),
            dimension: Dimension::Continuity,
            observed: format!(
                "{} timestamps jumped {:+.3} s at {:.3} s of the stream (expected {:.3} s, got {:.3} s)",
                if value(d, "audio") >= 0.5 { "audio" } else { "video" },
                value(d, "jump_s"),
                d.start,
                value(d, "expected_s"),
                value(d, "got_s")
            ),
            problem: "the source's clock restarted or was re-stamped (a generator or muxer restart, a concatenation of files): the timeline is folded back to continuous time, so scores go on; sync across the jump is only as good as the two media's shared stamps".into(),
            fix: "re-stamp the output continuously (e.g. ffmpeg -fflags +genpts, or setts) or restart the stream".into(),
        },
    }
}

/// What a committed delay rests on, in words (for the diagnosis and the terminal): the events
/// matched, or the local motion's z, span and regions when that is the `source`.
pub fn sync_evidence(
    source: Option<SyncSource>,
    matched: usize,
    local: Option<&crate::model::local_sync::LocalEstimate>,
    lips: Option<&crate::model::faces::lips::LipsEstimate>,
) -> String {
    if let (Some(SyncSource::Lips), Some(l)) = (source, lips) {
        return format!(
            "from the lips of face {}: r {:.2}, z {:.1} over {:.1} s of speech",
            l.track.map_or("?".to_string(), |t| t.to_string()),
            l.peak,
            l.z,
            l.span_s
        );
    }
    match (source, local) {
        (Some(SyncSource::LocalMotion), Some(l)) => format!(
            "from {}: z {:.1} over {:.0} s, {} regions",
            match l.evidence {
                Some(crate::model::local_sync::LocalEvidence::LevelChanges) => {
                    "motion that follows the sound's loudness (a mouth with speech)"
                }
                _ => "local motion that makes sound",
            },
            l.z.unwrap_or(0.0),
            l.span_s,
            l.regions
        ),
        _ => format!("{matched} audio-visual events matched"),
    }
}

/// Diagnosis of a committed audio delay outside the detectability window; `evidence` as
/// [`sync_evidence`] words it.
pub fn sync(delay_ms: f64, evidence: &str) -> Diagnosis {
    let (word, limit) = if delay_ms >= 0.0 {
        ("late", super::DETECT_LATE_MS)
    } else {
        ("early", super::DETECT_EARLY_MS)
    };
    Diagnosis {
        event: None,
        stage: Stage::PostProduction,
        aspect: Cow::Borrowed("sound design (audio-visual fusion)"),
        dimension: Dimension::Sync,
        observed: format!("audio {word} by {:.0} ms ({evidence})", delay_ms.abs()),
        problem: format!(
            "viewers notice audio {word} beyond {limit:.0} ms (ITU-R BT.1359): the audio and video tracks are offset"
        ),
        fix: format!(
            "shift the audio by {:+.0} ms (e.g. ffmpeg -itsoffset), and check how the generator timestamps its audio",
            -delay_ms
        ),
    }
}

/// Diagnosis of a drift in the audio delay within a stream.
pub fn drift(from_ms: f64, to_ms: f64, over_s: f64) -> Diagnosis {
    Diagnosis {
        event: None,
        stage: Stage::PostProduction,
        aspect: Cow::Borrowed("sound design (audio-visual fusion)"),
        dimension: Dimension::Sync,
        observed: format!("audio delay moved from {from_ms:+.0} ms to {to_ms:+.0} ms over {over_s:.0} s"),
        problem: "audio and video clocks run at different rates (sample-rate mismatch) or a track lost samples".into(),
        fix: "resample the audio to the video clock; check for dropped audio buffers at the generator".into(),
    }
}

/// Diagnosis of shots too short to read.
pub fn short_shots(n: usize, shortest_s: f64) -> Diagnosis {
    Diagnosis {
        event: None,
        stage: Stage::PostProduction,
        aspect: Cow::Borrowed("editing rhythm"),
        dimension: Dimension::Rhythm,
        observed: format!("{n} shot(s) shorter than 0.5 s, shortest {shortest_s:.2} s"),
        problem: "stutter cuts: the generator switched shots faster than a viewer can read them"
            .into(),
        fix: "merge or extend the shots; check the shot plan for unintended shot changes".into(),
    }
}

/// Diagnosis of an average shot length outside film norms.
pub fn pacing(asl_s: f64) -> Diagnosis {
    let (problem, fix) = if asl_s < 2.0 {
        (
            "cutting much faster than modern film (2–6 s a shot): the sequence reads as frantic",
            "plan fewer, longer shots",
        )
    } else {
        (
            "shots much longer than modern film norms: pacing may drag",
            "plan more coverage or cut within long takes",
        )
    };
    Diagnosis {
        event: None,
        stage: Stage::PreProduction,
        aspect: Cow::Borrowed("scene planning"),
        dimension: Dimension::Rhythm,
        observed: format!("average shot length {asl_s:.2} s"),
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// Diagnosis of a shot whose look departs from the sequence, named by the group that drifted
/// most (grade, exposure, camera or texture).
pub fn style_drift(drift: f32, parts: &crate::model::style::DriftParts) -> Diagnosis {
    use crate::model::style::Group;
    let (group, part) = parts.largest();
    let (stage, aspect, problem, fix) = match group {
        Group::Grade => (
            Stage::PostProduction,
            "colour",
            "the grade drifts between shots: the generator lost the sequence's colour",
            "grade-match the shot to the sequence, or condition the generator on a reference frame",
        ),
        Group::Exposure => (
            Stage::Production,
            "cinematography (exposure)",
            "the exposure drifts between shots: highlights or shadows are clipped unlike the rest of the sequence",
            "match the shot's exposure to the sequence (lower or lift it before the clipping), or regenerate it with the sequence's lighting",
        ),
        Group::Camera => (
            Stage::Production,
            "cinematography (camera movement)",
            "the camera moves unlike the rest of the sequence: a locked-off sequence gained a moving camera, or the reverse",
            "if unplanned, regenerate the shot with the sequence's camera motion (or stabilise it)",
        ),
        Group::Texture => (
            Stage::Production,
            "cinematography (focus, grain)",
            "the texture drifts between shots: the shot is softer or grainier than the sequence",
            "regenerate the shot at the sequence's detail level, or match grain and sharpness in the finish",
        ),
    };
    Diagnosis {
        event: None,
        stage,
        aspect: aspect.into(),
        dimension: Dimension::Continuity,
        observed: format!(
            "the current shot's look signature is {drift:.1} just-noticeable steps from the sequence's, the largest part in {} ({part:.1}; parts combine as a root sum of squares: grade {:.1}, exposure {:.1}, camera {:.1}{})",
            group.as_str(),
            parts.grade,
            parts.exposure,
            parts.camera,
            parts
                .texture
                .map(|t| format!(", texture {t:.1}"))
                .unwrap_or_default()
        ),
        problem: problem.into(),
        fix: fix.into(),
    }
}
