//! Per-session RTP packet statistics, taken as packets arrive (pad probe on the `udpsrc`).
//!
//! Parsing uses the `rtp` crate's header unmarshal; the arithmetic follows RFC 3550:
//! - **loss**: expected (extended highest sequence − first + 1) minus received, never negative;
//! - **interarrival jitter** (§6.4.1, A.8): `J += (|D(i-1,i)| − J) / 16`, in RTP clock units,
//!   reported in seconds;
//! - **reordering**: a packet whose extended sequence is below the highest seen;
//! - **malformed**: datagrams that are not RTP version 2 or carry another payload type;
//! - **last-packet age**: seconds since the last valid packet, the input to stall detection.
use rtp::header::Header;
use std::time::Instant;
use webrtc_util::marshal::Unmarshal;

/// Counters and estimates for one RTP session. Cheap to update: header parse, a few integers.
#[derive(Debug, Clone)]
pub struct RtpStats {
    clock_rate: u32,
    payload_type: u8,
    started: Instant,
    pub received: u64,
    pub malformed: u64,
    pub reordered: u64,
    pub bytes: u64,
    /// Valid packets since the current SSRC appeared (the base for loss).
    received_ssrc: u64,
    first_ext_seq: Option<u64>,
    highest_ext_seq: u64,
    cycles: u64,
    last_seq: u16,
    /// RFC 3550 jitter estimate in RTP timestamp units.
    jitter: f64,
    last_transit: Option<f64>,
    last_arrival: Option<Instant>,
    pub ssrc: Option<u32>,
}

/// What a packet turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketVerdict {
    Valid,
    Malformed,
}

impl RtpStats {
    pub fn new(clock_rate: u32, payload_type: u8) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            payload_type,
            started: Instant::now(),
            received: 0,
            malformed: 0,
            reordered: 0,
            bytes: 0,
            received_ssrc: 0,
            first_ext_seq: None,
            highest_ext_seq: 0,
            cycles: 0,
            last_seq: 0,
            jitter: 0.0,
            last_transit: None,
            last_arrival: None,
            ssrc: None,
        }
    }

    /// Account one datagram that arrived at `now`.
    pub fn on_datagram(&mut self, data: &[u8], now: Instant) -> PacketVerdict {
        let mut buf = data;
        let header = match Header::unmarshal(&mut buf) {
            Ok(h) if h.version == 2 && h.payload_type == self.payload_type => h,
            _ => {
                self.malformed += 1;
                return PacketVerdict::Malformed;
            }
        };
        // A new SSRC (sender restarted) starts the sequence space over.
        if self.ssrc != Some(header.ssrc) {
            self.ssrc = Some(header.ssrc);
            self.first_ext_seq = None;
            self.cycles = 0;
            self.last_transit = None;
            self.received_ssrc = 0;
        }
        self.received += 1;
        self.received_ssrc += 1;
        self.bytes += data.len() as u64;
        let seq = header.sequence_number;
        match self.first_ext_seq {
            None => {
                self.first_ext_seq = Some(seq as u64);
                self.highest_ext_seq = seq as u64;
                self.last_seq = seq;
            }
            Some(_) => {
                let delta = seq.wrapping_sub(self.last_seq);
                if delta < 0x8000 {
                    // Forward (possibly with a gap); wrap adds a cycle.
                    if seq < self.last_seq {
                        self.cycles += 1 << 16;
                    }
                    self.last_seq = seq;
                    self.highest_ext_seq = self.highest_ext_seq.max(self.cycles + seq as u64);
                } else {
                    // Backwards: a late (reordered) or duplicate packet.
                    self.reordered += 1;
                }
            }
        }
        let arrival_units = now.duration_since(self.started).as_secs_f64() * self.clock_rate as f64;
        let transit = arrival_units - header.timestamp as f64;
        if let Some(prev) = self.last_transit {
            let mut d = (transit - prev).abs();
            // RTP timestamps wrap at 2^32; a wrap shows up as a huge jump, not jitter.
            if d > (1u64 << 31) as f64 {
                d = ((1u64 << 32) as f64 - d).abs();
            }
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
        self.last_arrival = Some(now);
        PacketVerdict::Valid
    }

    /// Packets expected from the sequence numbers seen.
    pub fn expected(&self) -> u64 {
        match self.first_ext_seq {
            Some(first) => self.highest_ext_seq - first + 1,
            None => 0,
        }
    }

    /// Packets lost (expected − received, never negative; duplicates can make received larger).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received_ssrc)
    }

    /// Interarrival jitter in seconds.
    pub fn jitter_s(&self) -> f64 {
        self.jitter / self.clock_rate as f64
    }

    /// Seconds since the last valid packet, or since the session started when none came yet.
    pub fn last_packet_age_s(&self, now: Instant) -> f64 {
        now.duration_since(self.last_arrival.unwrap_or(self.started))
            .as_secs_f64()
    }

    pub fn has_packets(&self) -> bool {
        self.last_arrival.is_some()
    }
}

/// The sender SSRC of an RTCP compound packet that starts with a well-formed sender report
/// (RFC 3550 §6.4.1: version 2, packet type 200, a length that fits the datagram, and room
/// for the sender info); `None` for anything else. Only such a report, from the SSRC whose RTP
/// we receive, can put a stream on the sender's clock: junk on the RTCP port cannot.
pub fn rtcp_sender_ssrc(data: &[u8]) -> Option<u32> {
    if data.len() < 28 {
        return None;
    }
    let version = data[0] >> 6;
    let packet_type = data[1];
    // Length in 32-bit words minus one, header included.
    let words = u16::from_be_bytes([data[2], data[3]]) as usize + 1;
    if version != 2 || packet_type != 200 || words * 4 > data.len() || words * 4 < 28 {
        return None;
    }
    Some(u32::from_be_bytes([data[4], data[5], data[6], data[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;
    use webrtc_util::marshal::Marshal;

    fn packet(seq: u16, ts: u32) -> Bytes {
        let p = rtp::packet::Packet {
            header: Header {
                version: 2,
                payload_type: 96,
                sequence_number: seq,
                timestamp: ts,
                ssrc: 7,
                ..Default::default()
            },
            payload: Bytes::from_static(&[1, 2, 3, 4]),
        };
        p.marshal().unwrap()
    }

    #[test]
    fn counts_loss_reordering_wrap_and_garbage() {
        let mut s = RtpStats::new(90_000, 96);
        let t0 = Instant::now();
        // 65530..=65535, then 0..5 with 2 missing and 4 arriving late.
        let mut seqs: Vec<u16> = (65530..=65535).collect();
        seqs.extend([0, 1, 3, 5, 4]);
        for (i, seq) in seqs.iter().enumerate() {
            let now = t0 + Duration::from_millis(33 * i as u64);
            assert_eq!(
                s.on_datagram(&packet(*seq, 3000 * i as u32), now),
                PacketVerdict::Valid
            );
        }
        assert_eq!(s.expected(), 12); // 65530..=65535 (6) + 0..=5 (6)
        assert_eq!(s.received, 11);
        assert_eq!(s.lost(), 1); // seq 2
        assert_eq!(s.reordered, 1); // seq 4 after 5
        assert_eq!(
            s.on_datagram(b"not an rtp packet at all", t0),
            PacketVerdict::Malformed
        );
        assert_eq!(s.on_datagram(&[0u8; 3], t0), PacketVerdict::Malformed);
        assert_eq!(s.malformed, 2);
    }

    #[test]
    fn only_a_well_formed_sender_report_names_a_sender() {
        // V=2, PT=200 (SR), length 6 (28 bytes), SSRC 0x01020304, NTP, RTP ts, counts.
        let mut sr = vec![0x80, 200, 0, 6, 1, 2, 3, 4];
        sr.extend([0u8; 20]);
        assert_eq!(rtcp_sender_ssrc(&sr), Some(0x0102_0304));
        let mut rr = sr.clone();
        rr[1] = 201;
        assert_eq!(rtcp_sender_ssrc(&rr), None, "a receiver report");
        let mut v1 = sr.clone();
        v1[0] = 0x40;
        assert_eq!(rtcp_sender_ssrc(&v1), None, "version 1");
        let mut long = sr.clone();
        long[3] = 200;
        assert_eq!(rtcp_sender_ssrc(&long), None, "length beyond the datagram");
        assert_eq!(rtcp_sender_ssrc(&sr[..27]), None, "truncated");
        assert_eq!(rtcp_sender_ssrc(b""), None);
    }

    #[test]
    fn jitter_is_zero_for_perfect_pacing_and_grows_with_variation() {
        let t0 = Instant::now();
        let mut even = RtpStats::new(90_000, 96);
        let mut uneven = RtpStats::new(90_000, 96);
        for i in 0..100u32 {
            even.on_datagram(
                &packet(i as u16, i * 3000),
                t0 + Duration::from_micros(33_333 * i as u64),
            );
            let wobble = if i % 2 == 0 { 0 } else { 10_000 };
            uneven.on_datagram(
                &packet(i as u16, i * 3000),
                t0 + Duration::from_micros(33_333 * i as u64 + wobble),
            );
        }
        assert!(even.jitter_s() < 1e-4, "{}", even.jitter_s());
        // |D| alternates ±10 ms, so J converges towards 10 ms.
        assert!(
            (uneven.jitter_s() - 0.010).abs() < 0.002,
            "{}",
            uneven.jitter_s()
        );
    }
}
