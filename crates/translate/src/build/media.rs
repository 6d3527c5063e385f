//! Content parts that carry media: data URLs, Gemini-reachable URIs, audio and files.

use crate::gemini::{self, Part};
use crate::TranslateError;

/// Media the server fetched before translation (remote `http(s)` URLs), by URL.
pub trait MediaSource {
    /// The fetched payload as `(mime type, base64 data)`.
    fn fetched(&self, url: &str) -> Option<(&str, &str)>;
}

/// Nothing fetched: remote URLs are refused.
impl MediaSource for () {
    fn fetched(&self, _: &str) -> Option<(&str, &str)> {
        None
    }
}

/// Files API ids (`files/abc`) become full URIs; full URIs pass as they are.
pub(crate) fn files_api_uri(id: &str) -> String {
    if id.contains("://") {
        id.to_owned()
    } else {
        let id = id.strip_prefix("files/").unwrap_or(id);
        format!("https://generativelanguage.googleapis.com/v1beta/files/{id}")
    }
}

pub(crate) fn audio_mime(format: &str) -> Option<&'static str> {
    Some(match format {
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        "aiff" => "audio/aiff",
        "aac" => "audio/aac",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "pcm16" | "pcm" => "audio/pcm",
        _ => return None,
    })
}

/// A media reference: `data:` URLs are inlined (the base64 payload passes through
/// untouched, moved out of the request rather than copied), Gemini-reachable URIs become
/// `fileData`, other URLs must be fetched by the server before translation.
pub(crate) fn media_part(
    url: &mut String,
    filename: Option<&str>,
    media: &dyn MediaSource,
    param: impl Fn() -> String,
) -> Result<Part, TranslateError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',').ok_or_else(|| {
            TranslateError::invalid(
                format!("{}: malformed data URL (no comma).", param()),
                param(),
            )
        })?;
        let mime = meta.strip_suffix(";base64").ok_or_else(|| {
            TranslateError::invalid(
                format!("{}: only base64 data URLs are supported.", param()),
                param(),
            )
        })?;
        let mime = if mime.is_empty() {
            filename
                .and_then(mime_from_filename)
                .unwrap_or("application/octet-stream")
        } else {
            mime
        };
        if !looks_like_base64(data) {
            return Err(TranslateError::invalid(
                format!("{}: the data URL payload is not valid base64.", param()),
                param(),
            ));
        }
        let mime_type = mime.to_owned();
        // Keep only the payload of the URL's own buffer: a shift in place, no second copy.
        let header = url.len() - data.len();
        let mut data = std::mem::take(url);
        data.drain(..header);
        return Ok(Part {
            inline_data: Some(Box::new(gemini::Blob { mime_type, data })),
            ..Part::default()
        });
    }
    if is_gemini_uri(url) {
        return Ok(Part {
            file_data: Some(Box::new(gemini::FileData {
                mime_type: guess_uri_mime(url),
                file_uri: url.to_owned(),
            })),
            ..Part::default()
        });
    }
    if let Some((mime, data)) = media.fetched(url) {
        return Ok(Part {
            inline_data: Some(Box::new(gemini::Blob {
                mime_type: mime.to_owned(),
                data: data.to_owned(),
            })),
            ..Part::default()
        });
    }
    Err(TranslateError::InvalidRequest {
        message: format!(
            "{}: media URLs must be data: URLs, Gemini Files API URIs, gs:// or YouTube URLs (fetching http(s) URLs is turned off).",
            param()
        ),
        param: Some(param()),
        code: Some("unsupported_media_url"),
    })
}

/// URIs Gemini fetches itself.
pub fn is_gemini_uri(url: &str) -> bool {
    url.starts_with("gs://")
        || url.starts_with("https://generativelanguage.googleapis.com/")
        || url.starts_with("https://www.youtube.com/")
        || url.starts_with("https://youtube.com/")
        || url.starts_with("https://youtu.be/")
}

fn guess_uri_mime(url: &str) -> Option<String> {
    if url.contains("youtube.com/") || url.contains("youtu.be/") {
        return Some("video/*".to_owned());
    }
    mime_from_filename(url).map(str::to_owned)
}

fn mime_from_filename(name: &str) -> Option<&'static str> {
    let ext = name.rsplit('.').next()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "html" => "text/html",
        "json" => "application/json",
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        "mp4" => "video/mp4",
        _ => return None,
    })
}

/// A cheap check (one pass, no decode) that a payload is standard base64.
///
/// Payloads run to tens of MB, so the alphabet test is a table lookup folded over 64-byte
/// blocks without a branch per byte (the compiler keeps the block loop tight), which checks
/// a 10 MB image several times faster than a per-byte `all(..)` with early exit.
pub(crate) fn looks_like_base64(data: &str) -> bool {
    let bytes = data.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return false;
    }
    let body = bytes.len()
        - bytes
            .iter()
            .rev()
            .take(2)
            .take_while(|&&b| b == b'=')
            .count();
    let mut blocks = bytes[..body].chunks_exact(64);
    let outside = |chunk: &[u8]| {
        chunk
            .iter()
            .fold(0u8, |acc, &b| acc | NOT_BASE64[b as usize])
    };
    for block in blocks.by_ref() {
        if outside(block) != 0 {
            return false;
        }
    }
    outside(blocks.remainder()) == 0
}

/// 1 for every byte outside the standard base64 alphabet (`A-Z a-z 0-9 + /`).
const NOT_BASE64: [u8; 256] = {
    let mut table = [1u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'+' || c == b'/' {
            table[b] = 0;
        }
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::looks_like_base64;

    /// The plain per-byte definition the table must agree with.
    fn reference(data: &str) -> bool {
        let bytes = data.as_bytes();
        if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
            return false;
        }
        let pad = bytes
            .iter()
            .rev()
            .take(2)
            .take_while(|&&b| b == b'=')
            .count();
        bytes[..bytes.len() - pad]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    }

    #[test]
    fn base64_check_agrees_with_the_per_byte_definition() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        // Lengths around the 64-byte blocks, a bad byte at every position of each, and the
        // characters base64 variants and JSON text bring in.
        for len in [4usize, 60, 64, 68, 124, 128, 132, 200] {
            let good: String = (0..len)
                .map(|i| alphabet[(i * 7 + 3) % 64] as char)
                .collect();
            assert!(looks_like_base64(&good), "len {len}");
            let padded = format!("{}==", &good[..len - 2]);
            assert!(looks_like_base64(&padded), "len {len} padded");
            for bad in ['-', '_', '=', ' ', '\n', '.', '\u{e9}'] {
                for at in [0, len / 2, len - 3, len - 1] {
                    let mut s = good.clone();
                    s.replace_range(at..at + 1, &bad.to_string());
                    assert_eq!(
                        looks_like_base64(&s),
                        reference(&s),
                        "{bad:?} at {at} of {len}"
                    );
                    if bad.len_utf8() == 1 && !(bad == '=' && at == len - 1) {
                        assert!(!looks_like_base64(&s), "{bad:?} at {at} of {len}");
                    }
                }
            }
        }
        for s in ["", "QQ", "QQ=", "Q===", "====", "QUJD", "QUI=", "QQ=="] {
            assert_eq!(looks_like_base64(s), reference(s), "{s:?}");
        }
        assert!(!looks_like_base64("Q==="));
        assert!(looks_like_base64("QQ=="));
    }
}
