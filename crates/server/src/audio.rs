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
//! - `opus` and `aac`: no encoder in the build (see [`supported`]); refused with 400 before
//!   any upstream call.

use std::io::Cursor;

use pollux_translate::openai::audio::SpeechFormat;
use pollux_translate::speech::SAMPLE_RATE;

use crate::error::ApiError;

/// The formats Pollux encodes, in the order error messages list them.
pub const FORMATS: [SpeechFormat; 4] = [
    SpeechFormat::Mp3,
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
            SpeechFormat::Opus | SpeechFormat::Aac => {
                return Err(encode_error(format.name(), "no encoder"))
            }
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

    #[test]
    fn unsupported_formats_list_the_working_ones() {
        for f in [SpeechFormat::Opus, SpeechFormat::Aac] {
            let err = supported(f).unwrap_err().to_string();
            assert!(err.contains("mp3, wav, flac, pcm"), "{err}");
        }
    }
}
