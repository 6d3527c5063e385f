//! Image generation as Gemini serves it: a `generateContent` request whose
//! `generationConfig.responseModalities` holds `IMAGE` gets, when no scenario is queued, one
//! real PNG in an `inlineData` part, sized from `imageConfig` the way the image models size
//! theirs (<https://ai.google.dev/gemini-api/docs/image-generation>: 1024x1024 for 1:1 at 1K,
//! 1344x768 for 16:9, twice or four times that at 2K and 4K); and `models/{imagen}:predict`
//! (<https://ai.google.dev/gemini-api/docs/imagen>) answers `sampleCount` predictions with
//! `bytesBase64Encoded` PNGs, the request checked against the oracle's `PredictImageRequest`.
//! Every image is a gradient, so a test can decode it and measure it.

use std::io::Cursor;

use base64::Engine as _;
use image::{ImageFormat, Rgb, RgbImage};
use serde_json::{json, Value};

use crate::checks::{schema_rejection, Rejection};
use crate::oracle::violations;
use crate::scenario::Scenario;

/// Gemini image models' 1K sizes per aspect ratio.
const GEMINI_1K: [(&str, u32, u32); 10] = [
    ("1:1", 1024, 1024),
    ("2:3", 832, 1248),
    ("3:2", 1248, 832),
    ("3:4", 864, 1184),
    ("4:3", 1184, 864),
    ("4:5", 896, 1152),
    ("5:4", 1152, 896),
    ("9:16", 768, 1344),
    ("16:9", 1344, 768),
    ("21:9", 1536, 672),
];

/// Imagen's 1K sizes per aspect ratio.
const IMAGEN_1K: [(&str, u32, u32); 5] = [
    ("1:1", 1024, 1024),
    ("3:4", 896, 1280),
    ("4:3", 1280, 896),
    ("9:16", 768, 1408),
    ("16:9", 1408, 768),
];

/// A `width` x `height` PNG of a colour gradient.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        let r = (x * 255 / width.max(1)) as u8;
        let g = (y * 255 / height.max(1)) as u8;
        Rgb([r, g, 128])
    });
    let mut out = Cursor::new(Vec::new());
    // Writing a PNG to memory cannot fail short of running out of memory.
    let _ = img.write_to(&mut out, ImageFormat::Png);
    out.into_inner()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sized(table: &[(&str, u32, u32)], ratio: Option<&str>, tier: Option<&str>) -> (u32, u32) {
    let (_, w, h) = table
        .iter()
        .find(|(r, _, _)| Some(*r) == ratio)
        .copied()
        .unwrap_or(table[0]);
    let scale = match tier {
        Some("2K") => 2,
        Some("4K") => 4,
        _ => 1,
    };
    (w * scale, h * scale)
}

/// Whether a `generateContent` request asks for images.
pub fn wants_image(request: &Value) -> bool {
    request
        .pointer("/generationConfig/responseModalities")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|m| m.as_str() == Some("IMAGE")))
}

/// The default answer to an image request: one PNG sized by its `imageConfig`.
pub fn image_answer(request: &Value) -> Scenario {
    let config = request.pointer("/generationConfig/imageConfig");
    let field = |name: &str| config.and_then(|c| c.get(name)).and_then(Value::as_str);
    let (w, h) = sized(&GEMINI_1K, field("aspectRatio"), field("imageSize"));
    Scenario::answer(vec![vec![json!({
        "inlineData": {"mimeType": "image/png", "data": b64(&png(w, h))}
    })]])
}

/// `models/{model}:predict`: Imagen only, the body checked against the oracle.
pub fn predict(model: &str, body: &[u8], validate: bool) -> Result<Value, Rejection> {
    if !model.starts_with("imagen-") {
        return Err(Rejection::new(
            404,
            "NOT_FOUND",
            format!(
                "models/{model} is not found for API version v1beta, or is not supported for \
                 predict. Call ListModels to see the list of available models and their \
                 supported methods."
            ),
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Rejection::invalid(format!("Invalid JSON payload received. {e}")))?;
    if validate {
        let found = violations("PredictImageRequest", &value).map_err(Rejection::invalid)?;
        if !found.is_empty() {
            return Err(schema_rejection(&found));
        }
    }
    let params = value.get("parameters");
    let field = |name: &str| params.and_then(|p| p.get(name)).and_then(Value::as_str);
    let count = params
        .and_then(|p| p.get("sampleCount"))
        .and_then(Value::as_u64)
        .unwrap_or(4);
    let (w, h) = sized(&IMAGEN_1K, field("aspectRatio"), field("imageSize"));
    let image = b64(&png(w, h));
    let predictions: Vec<Value> = (0..count)
        .map(|_| json!({"bytesBase64Encoded": image, "mimeType": "image/png"}))
        .collect();
    Ok(json!({ "predictions": predictions }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::gemini_errors;

    #[test]
    fn predict_answers_validate_and_have_the_asked_shape() {
        let body = json!({"instances": [{"prompt": "a fox"}],
            "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}});
        let answer = predict("imagen-4.0-generate-001", body.to_string().as_bytes(), true).unwrap();
        assert_eq!(
            gemini_errors("PredictImageResponse", &answer),
            Vec::<String>::new()
        );
        let predictions = answer["predictions"].as_array().unwrap();
        assert_eq!(predictions.len(), 2);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(predictions[0]["bytesBase64Encoded"].as_str().unwrap())
            .unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (1408, 768));
        let bad = json!({"instances": [{"prompt": "p"}], "parameters": {"sampleCount": 9}});
        assert_eq!(
            predict("imagen-4.0-generate-001", bad.to_string().as_bytes(), true)
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            predict("gemini-2.5-flash", b"{}", true).unwrap_err().code,
            404
        );
    }

    #[test]
    fn image_answer_follows_image_config() {
        let req = json!({"contents": [], "generationConfig": {"responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "3:2", "imageSize": "2K"}}});
        assert!(wants_image(&req));
        assert!(!wants_image(&json!({"contents": []})));
        let Scenario::Answer { chunks, .. } = image_answer(&req) else {
            panic!("not an answer")
        };
        let data = chunks[0][0]["inlineData"]["data"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (2496, 1664));
    }
}
