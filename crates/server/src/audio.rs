//! Encoding Gemini's speech (24 kHz signed 16-bit little-endian mono PCM) into the client's
//! `response_format`, incrementally: [`Encoding::push`] takes PCM as it arrives and returns
//! the bytes ready to send, [`Encoding::finish`] the rest. Every codec is a kept crate,
//! none hand-written (docs/audio.md, "Formats"):
//!
//! - `pcm`: the samples as Gemini sent them.
//! - `wav`: `hound`'s RIFF header, then the samples. A streamed WAV cannot know its length
//!   up front, so its size fields say `0xFFFFFFFF` ("until the end"), as OpenAI's streamed
//!   WAV does; a whole answer gets the exact sizes.
//! - `mp3`: LAME (`mp3lame-encoder`, built from its C source), 64 kbit/s CBR at 24 kHz,
//!   frames sent as LAME completes them.
//! - `flac`: `flacenc` (pure Rust); it encodes a whole signal, so the stream is sent at the
//!   end.
//! - `opus`: Ogg Opus as OpenAI sends it (RFC 7845,
//!   <https://www.rfc-editor.org/rfc/rfc7845>): libopus (`opus`, built from its bundled C
//!   source) makes 20 ms packets, the `ogg` crate pages them; sent page by page as they fill.
//! - `aac`: no encoder in the build (see [`supported`]); refused with 400 before any upstream
//!   call (docs/audio.md says why).

use std::io::Cursor;

use pollux_translate::openai::audio::SpeechFormat;
use pollux_translate::speech::SAMPLE_RATE;

use crate::error::ApiError;

/// The formats Pollux encodes, in the order error messages list them.
pub const FORMATS: [SpeechFormat; 5] = [
    SpeechFormat::Mp3,
    SpeechFormat::Opus,
    SpeechFormat::Wav,
    SpeechFormat::Flac,
    SpeechFormat::Pcm,
];

/// Refuses a format no encoder in this build covers, naming the ones that work.
pub fn supported(format: SpeechFormat) -> Result<(), ApiError> {
    if FORMATS.contains(&format) {
        return Ok(());
    }
    Err(ApiError::InvalidRequest {
        message: format!(
            "response_format '{}' is not available: Pollux has no {} encoder (docs/audio.md). \
             Send one of: {}.",
            format.name(),
            format.name(),
            FORMATS.map(SpeechFormat::name).join(", ")
        ),
        param: Some("response_format".to_owned()),
        code: Some("unsupported_format".to_owned()),
    })
}

/// One response's encoder.
pub enum AudioEncoder {
    Pcm,
    Wav {
        header_sent: bool,
        streamed: bool,
        /// Samples of a whole (non-streamed) answer, for hound to write with exact sizes.
        samples: Vec<i16>,
    },
    Mp3(Box<mp3lame_encoder::Encoder>),
    Opus(Box<OggOpus>),
    Flac(Vec<i32>),
}

/// PCM bytes not yet a whole sample (an event may end mid-sample).
pub struct Encoding {
    encoder: AudioEncoder,
    carry: Option<u8>,
    /// Samples pushed so far.
    pub samples: u64,
}

fn encode_error(what: &str, e: impl std::fmt::Debug) -> ApiError {
    ApiError::BadGateway {
        message: format!("Encoding the audio as {what} failed: {e:?}"),
        code: Some("audio_encoding_failed".to_owned()),
    }
}

impl Encoding {
    /// An encoder for `format`; `streamed` when the body goes out as the audio arrives.
    pub fn new(format: SpeechFormat, streamed: bool) -> Result<Encoding, ApiError> {
        supported(format)?;
        let encoder = match format {
            SpeechFormat::Pcm => AudioEncoder::Pcm,
            SpeechFormat::Wav => AudioEncoder::Wav {
                header_sent: false,
                streamed,
                samples: Vec::new(),
            },
            SpeechFormat::Flac => AudioEncoder::Flac(Vec::new()),
            SpeechFormat::Mp3 => {
                use mp3lame_encoder::{Bitrate, Builder, Quality};
                let mut b = Builder::new().ok_or_else(|| encode_error("mp3", "no LAME"))?;
                b.set_num_channels(1).map_err(|e| encode_error("mp3", e))?;
                b.set_sample_rate(SAMPLE_RATE)
                    .map_err(|e| encode_error("mp3", e))?;
                b.set_brate(Bitrate::Kbps64)
                    .map_err(|e| encode_error("mp3", e))?;
                b.set_quality(Quality::Good)
                    .map_err(|e| encode_error("mp3", e))?;
                // No Xing/Info frame: it would need a seek back to the start to be right.
                b.set_to_write_vbr_tag(false)
                    .map_err(|e| encode_error("mp3", e))?;
                AudioEncoder::Mp3(Box::new(b.build().map_err(|e| encode_error("mp3", e))?))
            }
            SpeechFormat::Opus => AudioEncoder::Opus(Box::new(OggOpus::new()?)),
            SpeechFormat::Aac => return Err(encode_error(format.name(), "no encoder")),
        };
        Ok(Encoding {
            encoder,
            carry: None,
            samples: 0,
        })
    }

    /// Takes PCM bytes; returns the encoded bytes ready to send (possibly none).
    pub fn push(&mut self, pcm: &[u8]) -> Result<Vec<u8>, ApiError> {
        let mut joined;
        let mut bytes = pcm;
        if let Some(b) = self.carry.take() {
            joined = Vec::with_capacity(pcm.len() + 1);
            joined.push(b);
            joined.extend_from_slice(pcm);
            bytes = &joined;
        }
        if bytes.len() % 2 == 1 {
            self.carry = bytes.last().copied();
            bytes = &bytes[..bytes.len() - 1];
        }
        self.samples += (bytes.len() / 2) as u64;
        let samples = || {
            bytes
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
        };
        match &mut self.encoder {
            AudioEncoder::Pcm => Ok(bytes.to_vec()),
            AudioEncoder::Wav {
                header_sent,
                streamed: true,
                ..
            } => {
                let mut out = Vec::with_capacity(bytes.len() + 44);
                if !*header_sent {
                    *header_sent = true;
                    out = streaming_wav_header()?;
                }
                out.extend_from_slice(bytes);
                Ok(out)
            }
            AudioEncoder::Wav { samples: all, .. } => {
                all.extend(samples());
                Ok(Vec::new())
            }
            AudioEncoder::Flac(all) => {
                all.extend(samples().map(i32::from));
                Ok(Vec::new())
            }
            AudioEncoder::Mp3(lame) => {
                let input: Vec<i16> = samples().collect();
                let mut out =
                    Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(input.len()));
                lame.encode_to_vec(mp3lame_encoder::MonoPcm(&input), &mut out)
                    .map_err(|e| encode_error("mp3", e))?;
                Ok(out)
            }
            AudioEncoder::Opus(opus) => opus.push(samples()),
        }
    }

    /// The bytes that end the stream (a whole file for the buffered formats).
    pub fn finish(self) -> Result<Vec<u8>, ApiError> {
        match self.encoder {
            AudioEncoder::Pcm => Ok(Vec::new()),
            AudioEncoder::Wav {
                header_sent,
                streamed: true,
                ..
            } => {
                if header_sent {
                    Ok(Vec::new())
                } else {
                    streaming_wav_header()
                }
            }
            AudioEncoder::Wav { samples, .. } => {
                let mut out = Cursor::new(Vec::with_capacity(samples.len() * 2 + 44));
                let mut writer = hound::WavWriter::new(&mut out, wav_spec())
                    .map_err(|e| encode_error("wav", e))?;
                let mut w16 = writer.get_i16_writer(samples.len() as u32);
                for s in samples {
                    w16.write_sample(s);
                }
                w16.flush().map_err(|e| encode_error("wav", e))?;
                writer.finalize().map_err(|e| encode_error("wav", e))?;
                Ok(out.into_inner())
            }
            AudioEncoder::Flac(samples) => flac(&samples),
            AudioEncoder::Opus(opus) => opus.finish(),
            AudioEncoder::Mp3(mut lame) => {
                let mut out = Vec::with_capacity(7200);
                lame.flush_to_vec::<mp3lame_encoder::FlushNoGap>(&mut out)
                    .map_err(|e| encode_error("mp3", e))?;
                Ok(out)
            }
        }
    }
}

fn wav_spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// hound's header for no samples, with the RIFF and `data` sizes set to `0xFFFFFFFF`.
fn streaming_wav_header() -> Result<Vec<u8>, ApiError> {
    let mut out = Cursor::new(Vec::with_capacity(44));
    hound::WavWriter::new(&mut out, wav_spec())
        .and_then(hound::WavWriter::finalize)
        .map_err(|e| encode_error("wav", e))?;
    let mut header = out.into_inner();
    // hound writes the canonical 44-byte PCM header: sizes at 4..8 and 40..44.
    if header.len() != 44 || &header[36..40] != b"data" {
        return Err(encode_error("wav", "unexpected header layout"));
    }
    header[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    header[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    Ok(header)
}

/// 20 ms at 24 kHz: the frame size RFC 7845 and libopus recommend for speech.
const OPUS_FRAME: usize = 480;

/// The Ogg stream's serial number: one logical stream per file, so any fixed value will do.
const OGG_SERIAL: u32 = 0x506f_6c78;

/// libopus's recommended output buffer size for one packet.
const OPUS_MAX_PACKET: usize = 4000;

/// An Ogg Opus stream being written (RFC 7845): the `OpusHead` and `OpusTags` header pages
/// first, then one page per `push` that completed a packet. Granule positions
/// count 48 kHz samples whatever the input rate (§4), pre-skip included; the last page's
/// granule trims the padding that fills the last frame and flushes the encoder's lookahead
/// (§4.4), so a decoder plays exactly the samples Gemini sent.
pub struct OggOpus {
    encoder: opus::Encoder,
    pages: ogg::writing::PacketWriter<'static, Vec<u8>>,
    /// Samples not yet a whole frame.
    pending: Vec<i16>,
    /// The encoder's lookahead at 24 kHz: decoders drop twice as many 48 kHz samples.
    lookahead: usize,
    /// Samples (24 kHz) taken in, and encoded (padding included).
    taken: u64,
    encoded: u64,
    headers_written: bool,
}

impl OggOpus {
    fn new() -> Result<OggOpus, ApiError> {
        let err = |e: opus::Error| encode_error("opus", e);
        let mut encoder =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(err)?;
        // 32 kbit/s: transparent for 24 kHz speech (libopus's own guidance for fullband
        // speech is 28-40 kbit/s), about half the size of the 64 kbit/s mp3.
        encoder
            .set_bitrate(opus::Bitrate::Bits(32_000))
            .map_err(err)?;
        let lookahead = usize::try_from(encoder.get_lookahead().map_err(err)?)
            .map_err(|e| encode_error("opus", e))?;
        Ok(OggOpus {
            encoder,
            pages: ogg::writing::PacketWriter::new(Vec::new()),
            pending: Vec::with_capacity(OPUS_FRAME * 2),
            lookahead,
            taken: 0,
            encoded: 0,
            headers_written: false,
        })
    }

    /// Pre-skip in 48 kHz samples (the `OpusHead` field).
    fn pre_skip(&self) -> u64 {
        self.lookahead as u64 * 2
    }

    /// `OpusHead` (§5.1) and `OpusTags` (§5.2), each on a page of its own with granule 0.
    fn write_headers(&mut self) -> Result<(), ApiError> {
        let pre_skip = u16::try_from(self.pre_skip()).map_err(|e| encode_error("opus", e))?;
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        // Version 1, one channel.
        head.extend_from_slice(&[1, 1]);
        head.extend_from_slice(&pre_skip.to_le_bytes());
        // The input rate, informational: decoders play Opus at 48 kHz.
        head.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
        // Output gain 0 dB, channel mapping family 0 (mono or stereo, no table).
        head.extend_from_slice(&[0, 0, 0]);
        let vendor = opus::version().as_bytes();
        let mut tags = Vec::with_capacity(16 + vendor.len());
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        // No user comments.
        tags.extend_from_slice(&0u32.to_le_bytes());
        use ogg::writing::PacketWriteEndInfo::EndPage;
        for packet in [head, tags] {
            self.pages
                .write_packet(packet, OGG_SERIAL, EndPage, 0)
                .map_err(|e| encode_error("opus", e))?;
        }
        self.headers_written = true;
        Ok(())
    }

    /// Encodes every whole frame of `pending`; the last packet ends the page (or, with
    /// `end_granule`, the stream, with that granule position).
    fn encode_frames(&mut self, end_granule: Option<u64>) -> Result<(), ApiError> {
        use ogg::writing::PacketWriteEndInfo::{EndPage, EndStream, NormalPacket};
        let frames = self.pending.len() / OPUS_FRAME;
        for (i, frame) in self.pending.chunks_exact(OPUS_FRAME).enumerate() {
            let packet = self
                .encoder
                .encode_vec(frame, OPUS_MAX_PACKET)
                .map_err(|e| encode_error("opus", e))?;
            self.encoded += OPUS_FRAME as u64;
            let last = i + 1 == frames;
            let (end, granule) = match (last, end_granule) {
                (true, Some(g)) => (EndStream, g),
                (true, None) => (EndPage, self.encoded * 2),
                (false, _) => (NormalPacket, self.encoded * 2),
            };
            self.pages
                .write_packet(packet, OGG_SERIAL, end, granule)
                .map_err(|e| encode_error("opus", e))?;
        }
        self.pending.drain(..frames * OPUS_FRAME);
        Ok(())
    }

    fn push(&mut self, samples: impl Iterator<Item = i16>) -> Result<Vec<u8>, ApiError> {
        if !self.headers_written {
            self.write_headers()?;
        }
        let before = self.pending.len();
        self.pending.extend(samples);
        self.taken += (self.pending.len() - before) as u64;
        self.encode_frames(None)?;
        Ok(std::mem::take(self.pages.inner_mut()))
    }

    fn finish(mut self) -> Result<Vec<u8>, ApiError> {
        if !self.headers_written {
            self.write_headers()?;
        }
        // Silence past the end pushes the last real samples through the lookahead; it is
        // at least one frame, so the stream always ends on a packet marked end-of-stream.
        let padded = (self.pending.len() + self.lookahead).div_ceil(OPUS_FRAME) * OPUS_FRAME;
        self.pending.resize(padded.max(OPUS_FRAME), 0);
        let end = self.pre_skip() + self.taken * 2;
        self.encode_frames(Some(end))?;
        Ok(self.pages.into_inner())
    }
}

fn flac(samples: &[i32]) -> Result<Vec<u8>, ApiError> {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|(_, e)| encode_error("flac", e))?;
    let source = flacenc::source::MemSource::from_samples(samples, 1, 16, SAMPLE_RATE as usize);
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| encode_error("flac", e))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream
        .write(&mut sink)
        .map_err(|e| encode_error("flac", e))?;
    Ok(sink.as_slice().to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 0.5 s of a 440 Hz tone.
    fn tone() -> Vec<u8> {
        (0..12_000)
            .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 24_000.0).sin() * 8000.0) as i16)
            .flat_map(i16::to_le_bytes)
            .collect()
    }

    fn encode(format: SpeechFormat, streamed: bool, pieces: &[&[u8]]) -> Vec<u8> {
        let mut e = Encoding::new(format, streamed).unwrap();
        let mut out = Vec::new();
        for p in pieces {
            out.extend(e.push(p).unwrap());
        }
        assert_eq!(e.samples, 12_000);
        out.extend(e.finish().unwrap());
        out
    }

    #[test]
    fn wav_whole_and_streamed_read_back_with_hound() {
        let pcm = tone();
        // Split at an odd offset: the half sample is carried over.
        let (a, b) = pcm.split_at(1001);
        let whole = encode(SpeechFormat::Wav, false, &[a, b]);
        let reader = hound::WavReader::new(Cursor::new(&whole)).unwrap();
        assert_eq!(reader.spec(), wav_spec());
        assert_eq!(reader.duration(), 12_000);
        let streamed = encode(SpeechFormat::Wav, true, &[a, b]);
        assert_eq!(&streamed[..4], b"RIFF");
        assert_eq!(&streamed[4..8], &[0xff; 4]);
        assert_eq!(&streamed[44..], &pcm[..]);
        assert_eq!(encode(SpeechFormat::Pcm, true, &[a, b]), pcm);
    }

    #[test]
    fn mp3_is_mpeg2_layer3_frames_at_24khz() {
        let pcm = tone();
        let out = encode(SpeechFormat::Mp3, true, &[&pcm[..5000], &pcm[5000..]]);
        // Frame sync, MPEG-2 (24 kHz), layer III.
        assert_eq!(out[0], 0xff);
        assert_eq!(out[1] & 0xfe, 0xf2, "{:x}", out[1]);
        // 64 kbit/s for 0.5 s is about 4 KB.
        assert!((3000..6000).contains(&out.len()), "{}", out.len());
    }

    #[test]
    fn flac_has_its_stream_marker() {
        let out = encode(SpeechFormat::Flac, false, &[&tone()]);
        assert_eq!(&out[..4], b"fLaC");
        assert!(out.len() < 24_000);
    }

    /// Reads an Ogg Opus file back with the `ogg` reader and libopus's decoder: the
    /// `OpusHead` fields, and the 48 kHz samples a player plays (pre-skip dropped, the end
    /// trimmed to the last granule position, RFC 7845 §4).
    fn decode_ogg_opus(bytes: &[u8]) -> (u16, Vec<i16>) {
        let mut reader = ogg::reading::PacketReader::new(Cursor::new(bytes));
        let head = reader.read_packet_expected().unwrap();
        assert!(head.first_in_stream() && head.last_in_page());
        assert_eq!(&head.data[..8], b"OpusHead");
        assert_eq!(head.data[8..10], [1, 1], "version 1, mono");
        let pre_skip = u16::from_le_bytes([head.data[10], head.data[11]]);
        assert_eq!(&head.data[12..16], &24_000u32.to_le_bytes());
        let tags = reader.read_packet_expected().unwrap();
        assert_eq!(&tags.data[..8], b"OpusTags");
        assert!(tags.last_in_page());
        let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
        let mut pcm = Vec::new();
        let mut buf = vec![0i16; 5760];
        let mut end = 0;
        while let Some(packet) = reader.read_packet().unwrap() {
            let n = decoder.decode(&packet.data, &mut buf, false).unwrap();
            pcm.extend_from_slice(&buf[..n]);
            if packet.last_in_stream() {
                end = packet.absgp_page();
            }
        }
        assert!(end > 0, "no end-of-stream page");
        pcm.truncate(end as usize);
        pcm.drain(..usize::from(pre_skip));
        (pre_skip, pcm)
    }

    #[test]
    fn opus_is_ogg_opus_that_decodes_to_the_same_length_and_tone() {
        let pcm = tone();
        let out = encode(SpeechFormat::Opus, true, &[&pcm[..5001], &pcm[5001..]]);
        assert_eq!(&out[..4], b"OggS");
        let (pre_skip, decoded) = decode_ogg_opus(&out);
        assert!(pre_skip > 0);
        // 0.5 s at 48 kHz, to the sample.
        assert_eq!(decoded.len(), 24_000);
        // Lossy, but the tone's energy survives: the RMS stays within 20% of the input's.
        let rms = |s: &[i16]| {
            (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
        };
        let input: Vec<i16> = pcm
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        let (a, b) = (rms(&input), rms(&decoded));
        assert!((b / a - 1.0).abs() < 0.2, "rms {a} in, {b} out");
        // 32 kbit/s for 0.5 s is about 2 KB (plus headers).
        assert!((1000..4000).contains(&out.len()), "{}", out.len());
    }

    #[test]
    fn opus_stream_is_sent_in_whole_pages_as_frames_complete() {
        let pcm = tone();
        let mut e = Encoding::new(SpeechFormat::Opus, true).unwrap();
        // 100 samples: no whole frame yet, but the header pages go out at once.
        let first = e.push(&pcm[..200]).unwrap();
        assert_eq!(&first[..4], b"OggS");
        assert!(first.windows(8).any(|w| w == b"OpusTags"));
        let second = e.push(&pcm[200..]).unwrap();
        assert_eq!(&second[..4], b"OggS", "each push ends on a page boundary");
        let tail = e.finish().unwrap();
        assert_eq!(&tail[..4], b"OggS");
        // The last page carries the end-of-stream flag.
        let last = tail.windows(4).rposition(|w| w == b"OggS").unwrap();
        assert_eq!(tail[last + 5] & 0x04, 0x04);
        let whole = [first, second, tail].concat();
        assert_eq!(decode_ogg_opus(&whole).1.len(), 24_000);
    }

    #[test]
    fn unsupported_formats_list_the_working_ones() {
        let err = supported(SpeechFormat::Aac).unwrap_err().to_string();
        assert!(err.contains("mp3, opus, wav, flac, pcm"), "{err}");
    }
}
