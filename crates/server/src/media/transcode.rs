//! Image types for the images routes: which type uploaded bytes are (by their magic bytes, not
//! the name a client gave them), and re-encoding a generated image to the `output_format` a
//! client asked for when Gemini sent another type. Both use the `image` crate, built with
//! only its PNG, JPEG and WebP codecs.

use std::io::Cursor;

use base64::Engine as _;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageFormat};
use pollux_translate::gemini::Blob;
use pollux_translate::images::OutputFormat;

use crate::error::ApiError;

/// The MIME type of an uploaded image, `None` for anything but PNG, JPEG and WebP.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    match image::guess_format(bytes).ok()? {
        ImageFormat::Png => Some("image/png"),
        ImageFormat::Jpeg => Some("image/jpeg"),
        ImageFormat::WebP => Some("image/webp"),
        _ => None,
    }
}

/// `blob`'s base64 data in `output`'s type: as sent when the types match, else decoded and
/// encoded again (JPEG at `jpeg_quality`, default 90, without alpha; WebP lossless, the
/// only WebP encoder the crate has). CPU-bound: run it off the async workers.
pub fn to_format(
    blob: &Blob,
    output: OutputFormat,
    jpeg_quality: Option<u8>,
) -> Result<String, ApiError> {
    if blob.mime_type.eq_ignore_ascii_case(output.mime()) {
        return Ok(blob.data.clone());
    }
    let bad = |what: String| ApiError::BadGateway {
        message: format!(
            "The upstream sent an image ({}) that could not be converted to {}: {what}",
            blob.mime_type,
            output.name()
        ),
        code: Some("upstream_error".to_owned()),
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob.data.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    let decoded = image::load_from_memory(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut out = Cursor::new(Vec::with_capacity(bytes.len()));
    let written = match output {
        OutputFormat::Png => decoded.write_to(&mut out, ImageFormat::Png),
        OutputFormat::Jpeg => {
            let rgb = DynamicImage::ImageRgb8(decoded.to_rgb8());
            rgb.write_with_encoder(JpegEncoder::new_with_quality(
                &mut out,
                jpeg_quality.unwrap_or(90),
            ))
        }
        OutputFormat::Webp => {
            let rgba = DynamicImage::ImageRgba8(decoded.to_rgba8());
            rgba.write_with_encoder(WebPEncoder::new_lossless(&mut out))
        }
    };
    written.map_err(|e| bad(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(out.into_inner()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            w,
            h,
            image::Rgba([200, 30, 30, 255]),
        ));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn converts_png_to_each_format_keeping_the_size() {
        let blob = Blob {
            mime_type: "image/png".to_owned(),
            data: base64::engine::general_purpose::STANDARD.encode(png(12, 8)),
        };
        assert_eq!(
            to_format(&blob, OutputFormat::Png, None).unwrap(),
            blob.data
        );
        for (format, mime) in [
            (OutputFormat::Jpeg, "image/jpeg"),
            (OutputFormat::Webp, "image/webp"),
        ] {
            let out = to_format(&blob, format, Some(50)).unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(out)
                .unwrap();
            assert_eq!(sniff(&bytes), Some(mime));
            let back = image::load_from_memory(&bytes).unwrap();
            assert_eq!((back.width(), back.height()), (12, 8));
        }
        assert_eq!(sniff(&png(1, 1)), Some("image/png"));
        assert_eq!(sniff(b"GIF89a...."), None);
        let broken = Blob {
            mime_type: "image/jpeg".to_owned(),
            data: "QUJD".to_owned(),
        };
        assert!(to_format(&broken, OutputFormat::Png, None).is_err());
    }
}
