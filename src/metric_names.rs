//! Every metric name in one place (Prometheus rules: base units, `_total` for counters,
//! `_seconds` for times, `_ratio` for fractions). Descriptions are registered by
//! `output::telemetry::describe()`; the README table lists the same set.
//!
//! Labels: `stream` (bounded by `server.max_streams`), and where noted `medium`
//! (`video`|`audio`), `source` (`events`|`local_motion`|`lips`), `during` (`speech`|`silence`), `dimension`, `kind` (event kinds, a fixed set), `rule`, `severity`, `state`.

pub const FRAMES: &str = "evalverse_frames_total";
pub const DROPPED_FRAMES: &str = "evalverse_dropped_frames_total";
pub const DROPPED_AUDIO_CHUNKS: &str = "evalverse_dropped_audio_chunks_total";
pub const RTP_PACKETS: &str = "evalverse_rtp_packets_total";
pub const RTP_PACKETS_LOST: &str = "evalverse_rtp_packets_lost_total";
pub const RTP_PACKETS_MALFORMED: &str = "evalverse_rtp_packets_malformed_total";
pub const RTP_PACKETS_REORDERED: &str = "evalverse_rtp_packets_reordered_total";
pub const RTP_JITTER: &str = "evalverse_rtp_jitter_seconds";
pub const RTP_LAST_PACKET_AGE: &str = "evalverse_rtp_last_packet_age_seconds";
pub const STREAM_STATE: &str = "evalverse_stream_state";
pub const SCORE: &str = "evalverse_score";
pub const CALIBRATED_SCORE: &str = "evalverse_calibrated_score";
pub const AUDIO_DELAY: &str = "evalverse_audio_delay_seconds";
pub const AUDIO_DRIFT: &str = "evalverse_audio_drift_seconds";
pub const SYNC_CONFIDENCE: &str = "evalverse_sync_confidence_ratio";
pub const SYNC_EVIDENCE: &str = "evalverse_sync_evidence";
pub const FLICKER: &str = "evalverse_flicker_ratio";
pub const FREEZE_RATIO: &str = "evalverse_freeze_ratio";
pub const BLACK_RATIO: &str = "evalverse_black_ratio";
pub const SILENCE_RATIO: &str = "evalverse_silence_ratio";
pub const LOUDNESS: &str = "evalverse_loudness_lufs";
pub const TRUE_PEAK: &str = "evalverse_true_peak_dbtp";
pub const EXPOSURE_CLIPPED: &str = "evalverse_exposure_clipped_ratio";
pub const CAMERA_SHAKE: &str = "evalverse_camera_shake_ratio";
pub const FACES: &str = "evalverse_faces";
pub const LIP_MOVEMENT: &str = "evalverse_lip_movement_ratio";
pub const SHOT_LENGTH: &str = "evalverse_average_shot_length_seconds";
pub const CUTS_PER_MINUTE: &str = "evalverse_cuts_per_minute";
pub const CUTS: &str = "evalverse_cuts_total";
pub const EVENTS: &str = "evalverse_events_total";
pub const WINDOWS: &str = "evalverse_windows_total";
pub const LATENCY: &str = "evalverse_evaluation_latency_seconds";
pub const ALERTS: &str = "evalverse_alerts_total";
pub const VERDICT_STOP: &str = "evalverse_verdict_stop";
pub const TRANSPORT_DAMAGED: &str = "evalverse_transport_damaged_ratio";
pub const WEBHOOK_DELIVERIES: &str = "evalverse_webhook_deliveries_total";

/// Every name above, for checks that dashboards and rules name only real metrics.
pub const ALL: &[&str] = &[
    FRAMES,
    DROPPED_FRAMES,
    DROPPED_AUDIO_CHUNKS,
    RTP_PACKETS,
    RTP_PACKETS_LOST,
    RTP_PACKETS_MALFORMED,
    RTP_PACKETS_REORDERED,
    RTP_JITTER,
    RTP_LAST_PACKET_AGE,
    STREAM_STATE,
    SCORE,
    CALIBRATED_SCORE,
    AUDIO_DELAY,
    AUDIO_DRIFT,
    SYNC_CONFIDENCE,
    SYNC_EVIDENCE,
    FLICKER,
    FREEZE_RATIO,
    BLACK_RATIO,
    SILENCE_RATIO,
    LOUDNESS,
    TRUE_PEAK,
    EXPOSURE_CLIPPED,
    CAMERA_SHAKE,
    FACES,
    LIP_MOVEMENT,
    SHOT_LENGTH,
    CUTS_PER_MINUTE,
    CUTS,
    EVENTS,
    WINDOWS,
    LATENCY,
    ALERTS,
    VERDICT_STOP,
    TRANSPORT_DAMAGED,
    WEBHOOK_DELIVERIES,
];

#[cfg(test)]
mod tests {
    /// `ALL` lists every `pub const` name of this file (none forgotten when one is added).
    #[test]
    fn all_lists_every_name() {
        let src = include_str!("metric_names.rs");
        let declared = src
            .lines()
            .filter(|l| l.starts_with("pub const ") && l.contains(": &str ="))
            .count();
        assert_eq!(declared, super::ALL.len());
        let mut sorted = super::ALL.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), super::ALL.len());
    }
}
