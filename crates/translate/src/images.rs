//! OpenAI image generation and editing (`POST /v1/images/generations` and `/v1/images/edits`,
//! <https://platform.openai.com/docs/api-reference/images>) on Gemini's image models and on
//! Imagen. The wire types live in [`crate::openai::ImageRequest`] and
//! [`crate::gemini::ImageContentRequest`] / [`crate::gemini::PredictRequest`]; this module maps
//! between them.
//!
//! - A Gemini image model (`gemini-*-image*`) gets one `generateContent` call per image, with
//!   `responseModalities: ["IMAGE"]` and `imageConfig`: these models make one image per call
//!   and refuse `candidateCount`. An edit's images (and mask) go before the prompt as
//!   `inlineData` parts.
//! - An Imagen model (`imagen-*`) gets `:predict` calls of at most [`gemini::MAX_SAMPLES`]
//!   images each (`sampleCount`); Imagen on the Gemini API does not edit images.
//! - `size` becomes an aspect ratio (and, for Gemini 3 image models and Imagen Standard and
//!   Ultra, an image size tier); `quality` `high` or `hd` asks for at least `2K`.
//! - `response_format: "url"` is refused: Pollux hosts no files. `output_format` is honoured
//!   by the server, which re-encodes what Gemini sends when the type differs ([`OutputFormat`]).
//! - An answer without an image is an error that quotes Gemini's text, never an empty list.

use crate::gemini::{
    self, Blob, Candidate, Content, FinishReason, ImageConfig, ImageContentRequest,
    ImageContentResponse, ImageGenerationConfig, Part, PredictInstance, PredictParameters,
    PredictRequest, PredictResponse, Role,
};
use crate::openai::{
    ImageCompletedEvent, ImageData, ImageInputTokens, ImageRequest, ImageUsage, ImagesResponse,
};
use crate::TranslateError;

/// OpenAI's limit on `n`.
pub const MAX_IMAGES: u32 = 10;

/// OpenAI's limit on `partial_images`.
pub const MAX_PARTIAL_IMAGES: u32 = 3;

/// The aspect ratios Gemini image models accept, as (name, width, height).
const GEMINI_RATIOS: [(&str, u32, u32); 10] = [
    ("1:1", 1, 1),
    ("2:3", 2, 3),
    ("3:2", 3, 2),
    ("3:4", 3, 4),
    ("4:3", 4, 3),
    ("4:5", 4, 5),
    ("5:4", 5, 4),
    ("9:16", 9, 16),
    ("16:9", 16, 9),
    ("21:9", 21, 9),
];

/// The aspect ratios Imagen accepts.
const IMAGEN_RATIOS: [&str; 5] = ["1:1", "3:4", "4:3", "9:16", "16:9"];

/// The line sent before an edit's mask: Gemini has no mask input, so the mask travels as a
/// second image with this explanation.
pub const MASK_NOTE: &str = "The next image is a mask for the first image: change only the \
    areas where the mask is fully transparent, and keep everything else as it is.";

/// What kind of image model a Gemini model id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageModel {
    /// `gemini-*-image*`: `generateContent` with the `IMAGE` modality.
    Gemini,
    /// `imagen-*`: `:predict`.
    Imagen,
}

impl ImageModel {
    /// The kind of `model` (a Gemini id without `models/`), `None` for a model that makes no
    /// images.
    pub fn of(model: &str) -> Option<ImageModel> {
        if model.starts_with("imagen-") {
            Some(ImageModel::Imagen)
        } else if model.starts_with("gemini-") && model.contains("-image") {
            Some(ImageModel::Gemini)
        } else {
            None
        }
    }
}

/// Refuses a chat or Responses request for an Imagen model: Imagen serves only `:predict`,
/// and Gemini's own answer (a 404 for `generateContent`) names no way out.
pub fn check_text_model(model: &str) -> Result<(), TranslateError> {
    if ImageModel::of(model) != Some(ImageModel::Imagen) {
        return Ok(());
    }
    Err(TranslateError::InvalidRequest {
        message: format!(
            "The model '{model}' makes only images: call POST /v1/images/generations with it, \
             or use a Gemini model (gemini-2.5-flash, or gemini-2.5-flash-image for text with \
             images) here."
        ),
        param: Some("model".to_owned()),
        code: Some("model_not_supported"),
    })
}

/// The image types a client may ask for (`output_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Png,
    Jpeg,
    Webp,
}

impl OutputFormat {
    pub fn mime(self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Webp => "image/webp",
        }
    }

    /// The name OpenAI uses (`ImagesResponse.output_format`).
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Png => "png",
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Webp => "webp",
        }
    }

    fn parse(value: Option<&str>) -> Result<OutputFormat, TranslateError> {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("png") => Ok(OutputFormat::Png),
            Some("jpeg" | "jpg") => Ok(OutputFormat::Jpeg),
            Some("webp") => Ok(OutputFormat::Webp),
            Some(other) => Err(TranslateError::invalid(
                format!(
                    "output_format '{other}' is not supported: send 'png' (the default), \
                     'jpeg' or 'webp'."
                ),
                "output_format",
            )),
        }
    }
}

/// The upstream calls of one images request.
#[derive(Debug, Clone)]
pub enum ImageCalls {
    /// `calls` identical `generateContent` calls, one image each.
    Gemini {
        request: ImageContentRequest,
        calls: u32,
    },
    /// `:predict` calls whose `sampleCount`s add up to `n`.
    Imagen(Vec<PredictRequest>),
}

/// An images request mapped: the calls and how to shape what they return.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub calls: ImageCalls,
    pub output: OutputFormat,
    /// JPEG quality (1-100) from `output_compression`, when the output is JPEG.
    pub jpeg_quality: Option<u8>,
}

/// The images of an edit as Gemini parts: inline base64, or Files API uploads for a form
/// above Gemini's inline limit.
#[derive(Debug, Clone, Default)]
pub struct EditImages {
    pub images: Vec<Part>,
    pub mask: Option<Part>,
}

/// Maps a request for `model` (a Gemini id, without `models/`); `edit` holds an edit's images.
pub fn to_gemini(
    req: &ImageRequest,
    model: &str,
    edit: Option<&EditImages>,
) -> Result<ImagePlan, TranslateError> {
    let Some(kind) = ImageModel::of(model) else {
        return Err(TranslateError::InvalidRequest {
            message: format!(
                "The model '{model}' does not make images. Use a Gemini image model \
                 (gemini-2.5-flash-image, gemini-3-pro-image-preview) or an Imagen model \
                 (imagen-4.0-generate-001), or an alias configured to one."
            ),
            param: Some("model".to_owned()),
            code: Some("model_not_supported"),
        });
    };
    if req.prompt.trim().is_empty() {
        return Err(TranslateError::invalid(
            "'prompt' is required: describe the image you want.",
            "prompt",
        ));
    }
    if req.partial_images.is_some_and(|n| n > MAX_PARTIAL_IMAGES) {
        return Err(TranslateError::invalid(
            format!("'partial_images' must be between 0 and {MAX_PARTIAL_IMAGES}."),
            "partial_images",
        ));
    }
    match req.response_format.as_deref() {
        None | Some("b64_json") => {}
        Some("url") => {
            return Err(TranslateError::InvalidRequest {
                message: "response_format 'url' is not supported: Pollux hosts no files. Send \
                          response_format 'b64_json' (the default here) and decode \
                          data[].b64_json."
                    .to_owned(),
                param: Some("response_format".to_owned()),
                code: Some("unsupported_parameter"),
            })
        }
        Some(other) => {
            return Err(TranslateError::invalid(
                format!("response_format '{other}' is not supported: send 'b64_json'."),
                "response_format",
            ))
        }
    }
    let n = req.n.unwrap_or(1);
    if !(1..=MAX_IMAGES).contains(&n) {
        return Err(TranslateError::invalid(
            format!("'n' must be between 1 and {MAX_IMAGES}."),
            "n",
        ));
    }
    let output = OutputFormat::parse(req.output_format.as_deref())?;
    let jpeg_quality = match req.output_compression {
        Some(c) if c > 100 => {
            return Err(TranslateError::invalid(
                "'output_compression' must be between 0 and 100.",
                "output_compression",
            ))
        }
        Some(c) if output == OutputFormat::Jpeg => Some(c.max(1)),
        _ => None,
    };
    let high = quality_is_high(req.quality.as_deref())?;
    let (aspect_ratio, tier) = size_options(req.size.as_deref(), high, kind)?;
    let calls = match kind {
        ImageModel::Gemini => {
            // Only Gemini 3 image models take `imageSize`; 2.5 Flash Image makes 1K images.
            let image_size = tier.filter(|_| model.starts_with("gemini-3"));
            let image_config =
                (aspect_ratio.is_some() || image_size.is_some()).then_some(ImageConfig {
                    aspect_ratio,
                    image_size,
                });
            ImageCalls::Gemini {
                request: ImageContentRequest {
                    contents: vec![Content {
                        role: Some(Role::User),
                        parts: parts(&req.prompt, edit),
                    }],
                    generation_config: ImageGenerationConfig {
                        // The 2.0 image preview refuses an image-only answer.
                        response_modalities: if model.starts_with("gemini-2.0") {
                            vec!["TEXT", "IMAGE"]
                        } else {
                            vec!["IMAGE"]
                        },
                        image_config,
                    },
                },
                calls: n,
            }
        }
        ImageModel::Imagen => {
            if edit.is_some() {
                return Err(TranslateError::InvalidRequest {
                    message: format!(
                        "Imagen models ('{model}') do not edit images on the Gemini API: use a \
                         Gemini image model such as gemini-2.5-flash-image."
                    ),
                    param: Some("model".to_owned()),
                    code: Some("model_not_supported"),
                });
            }
            if tier == Some("4K") {
                return Err(TranslateError::invalid(
                    "Imagen makes images up to 2K (about 2048 pixels on the long side): ask \
                     for a size such as 2048x2048.",
                    "size",
                ));
            }
            // Imagen Fast has a single size.
            let image_size = tier.filter(|_| !model.contains("fast"));
            let mut left = n;
            let mut calls = Vec::new();
            while left > 0 {
                let sample_count = left.min(gemini::MAX_SAMPLES);
                left -= sample_count;
                calls.push(PredictRequest {
                    instances: vec![PredictInstance {
                        prompt: req.prompt.clone(),
                    }],
                    parameters: PredictParameters {
                        sample_count,
                        aspect_ratio,
                        image_size,
                    },
                });
            }
            ImageCalls::Imagen(calls)
        }
    };
    Ok(ImagePlan {
        calls,
        output,
        jpeg_quality,
    })
}

/// The user turn: an edit's images, its mask after an explanation, then the prompt.
fn parts(prompt: &str, edit: Option<&EditImages>) -> Vec<Part> {
    let mut parts = Vec::new();
    if let Some(edit) = edit {
        parts.extend(edit.images.iter().cloned());
        if let Some(mask) = &edit.mask {
            parts.push(Part::text(MASK_NOTE));
            parts.push(mask.clone());
        }
    }
    parts.push(Part::text(prompt));
    parts
}

/// Whether `quality` asks for more than the default size; an unknown value is a 400.
fn quality_is_high(quality: Option<&str>) -> Result<bool, TranslateError> {
    match quality {
        None | Some("auto" | "standard" | "low" | "medium") => Ok(false),
        Some("high" | "hd") => Ok(true),
        Some(other) => Err(TranslateError::invalid(
            format!(
                "quality '{other}' is not supported: send 'auto', 'low', 'medium', 'high', \
                 'standard' or 'hd'."
            ),
            "quality",
        )),
    }
}

/// `size` (`auto`, `WIDTHxHEIGHT`, or an aspect ratio such as `16:9`) as an aspect ratio and
/// a size tier (the nearest to the long side: `2K` past 1792 pixels, `4K` past 3072; high
/// quality asks for at least `2K`).
fn size_options(
    size: Option<&str>,
    high: bool,
    kind: ImageModel,
) -> Result<(Option<&'static str>, Option<&'static str>), TranslateError> {
    let floor = high.then_some("2K");
    let size = match size.map(str::trim) {
        None | Some("" | "auto") => return Ok((None, floor)),
        Some(size) => size,
    };
    let allowed = |name: &str| match kind {
        ImageModel::Gemini => true,
        ImageModel::Imagen => IMAGEN_RATIOS.contains(&name),
    };
    if let Some(&(name, _, _)) = GEMINI_RATIOS.iter().find(|(n, _, _)| *n == size) {
        if allowed(name) {
            return Ok((Some(name), floor));
        }
    }
    let parsed = size
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)))
        .filter(|&(w, h)| w > 0 && h > 0);
    // The closest allowed ratio within 2%: DALL-E 3's 1792x1024 is 16:9 to 1.6%.
    let ratio = parsed.and_then(|(w, h)| {
        let wanted = f64::from(w) / f64::from(h);
        GEMINI_RATIOS
            .iter()
            .filter(|(name, _, _)| allowed(name))
            .map(|&(name, a, b)| {
                let r = f64::from(a) / f64::from(b);
                (name, (wanted - r).abs() / r)
            })
            .filter(|&(_, off)| off <= 0.02)
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .map(|(name, _)| name)
    });
    let (Some((w, h)), Some(ratio)) = (parsed, ratio) else {
        let ratios: Vec<&str> = GEMINI_RATIOS
            .iter()
            .map(|(n, _, _)| *n)
            .filter(|n| allowed(n))
            .collect();
        return Err(TranslateError::InvalidRequest {
            message: format!(
                "size '{size}' has no matching aspect ratio on this model. Send 'auto', \
                 1024x1024, 1536x1024, 1024x1536, 1792x1024 or 1024x1792, or a WIDTHxHEIGHT \
                 (or ratio) of {}.",
                ratios.join(", ")
            ),
            param: Some("size".to_owned()),
            code: Some("unsupported_size"),
        });
    };
    let long = w.max(h);
    // The nearest tier to the long side: 1K is about 1024 pixels, 2K 2048, 4K 4096.
    let tier = if long > 3072 {
        Some("4K")
    } else if long > 1792 {
        Some("2K")
    } else {
        None
    };
    Ok((Some(ratio), tier.or(floor)))
}

/// The images of one `generateContent` answer (thought images left out) and its usage; an
/// answer without an image is an error quoting Gemini's text.
pub fn images_from_gemini(
    answer: ImageContentResponse,
) -> Result<(Vec<Blob>, Option<ImageUsage>), TranslateError> {
    let usage = answer.usage_metadata.as_ref().map(|u| {
        let image_tokens: u64 = u
            .prompt_tokens_details
            .iter()
            .filter(|d| d.modality == "IMAGE")
            .map(|d| d.token_count)
            .sum();
        let output = u.candidates_token_count + u.thoughts_token_count;
        ImageUsage {
            input_tokens: u.prompt_token_count,
            output_tokens: output,
            total_tokens: u.total_token_count.max(u.prompt_token_count + output),
            input_tokens_details: ImageInputTokens {
                text_tokens: u.prompt_token_count.saturating_sub(image_tokens),
                image_tokens,
            },
        }
    });
    if let Some(reason) = answer
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.as_deref())
    {
        return Err(policy(format!(
            "Gemini blocked the prompt ({reason}); no image was made."
        )));
    }
    let mut images = Vec::new();
    let mut text = String::new();
    let mut finish = None;
    for candidate in answer.candidates {
        let Candidate {
            content,
            finish_reason,
            finish_message,
            ..
        } = candidate;
        finish = finish.or(finish_reason);
        for part in content.map(|c| c.parts).unwrap_or_default() {
            if part.is_thought() {
                continue;
            }
            match (part.inline_data, part.text) {
                (Some(blob), _) if blob.mime_type.starts_with("image/") => images.push(*blob),
                (_, Some(t)) => text.push_str(&t),
                _ => {}
            }
        }
        if let Some(message) = finish_message {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&message);
        }
    }
    if !images.is_empty() {
        return Ok((images, usage));
    }
    let reason = finish.unwrap_or(FinishReason::NoImage);
    let said = match text.trim() {
        "" => "no text".to_owned(),
        t => format!("\"{t}\""),
    };
    if matches!(
        reason,
        FinishReason::Safety
            | FinishReason::ImageSafety
            | FinishReason::ProhibitedContent
            | FinishReason::ImageProhibitedContent
            | FinishReason::Blocklist
            | FinishReason::Spii
            | FinishReason::Recitation
            | FinishReason::ImageRecitation
    ) {
        return Err(policy(format!(
            "Gemini made no image ({}): {said}.",
            reason.as_str()
        )));
    }
    let reason = match reason {
        FinishReason::Stop => FinishReason::NoImage,
        other => other,
    };
    Err(TranslateError::UpstreamFinish {
        reason: reason.as_str().to_owned(),
        message: format!(
            "Gemini answered without an image ({}) and said: {said}. Ask for a picture \
             explicitly, or rephrase the prompt.",
            reason.as_str()
        ),
    })
}

/// The images of one `:predict` answer; none at all is an error.
pub fn images_from_imagen(answer: PredictResponse) -> Result<Vec<Blob>, TranslateError> {
    let mut filtered = Vec::new();
    let mut images = Vec::new();
    for p in answer.predictions {
        match p.bytes_base64_encoded {
            Some(data) if !data.is_empty() => images.push(Blob {
                mime_type: p.mime_type.unwrap_or_else(|| "image/png".to_owned()),
                data,
            }),
            _ => filtered.extend(p.rai_filtered_reason),
        }
    }
    if !images.is_empty() {
        return Ok(images);
    }
    Err(policy(if filtered.is_empty() {
        "Imagen returned no image: its safety filters remove images without saying why. \
         Rephrase the prompt."
            .to_owned()
    } else {
        format!("Imagen made no image: {}", filtered.join(" "))
    }))
}

fn policy(message: String) -> TranslateError {
    TranslateError::InvalidRequest {
        message,
        param: Some("prompt".to_owned()),
        code: Some("content_policy_violation"),
    }
}

/// Adds the usage of one call to the total of the calls before it.
pub fn add_usage(total: Option<ImageUsage>, one: Option<ImageUsage>) -> Option<ImageUsage> {
    match (total, one) {
        (Some(a), Some(b)) => Some(ImageUsage {
            input_tokens: a.input_tokens + b.input_tokens,
            output_tokens: a.output_tokens + b.output_tokens,
            total_tokens: a.total_tokens + b.total_tokens,
            input_tokens_details: ImageInputTokens {
                text_tokens: a.input_tokens_details.text_tokens
                    + b.input_tokens_details.text_tokens,
                image_tokens: a.input_tokens_details.image_tokens
                    + b.input_tokens_details.image_tokens,
            },
        }),
        (a, b) => a.or(b),
    }
}

/// The OpenAI answer: `images` are base64 in `output`'s type, `created` a Unix time.
pub fn to_openai(
    images: Vec<String>,
    output: OutputFormat,
    usage: Option<ImageUsage>,
    created: u64,
) -> ImagesResponse {
    ImagesResponse {
        created,
        data: images
            .into_iter()
            .map(|b64_json| ImageData { b64_json })
            .collect(),
        output_format: output.name(),
        usage,
    }
}

/// Which route a stream answers: the event types differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRoute {
    /// `/v1/images/generations`: `image_generation.*` events.
    Generation,
    /// `/v1/images/edits`: `image_edit.*` events.
    Edit,
}

/// The parameters a streamed request asked for that Pollux cannot honour, for the
/// dropped-params header: `partial_images` above 0, since Gemini sends no interim images.
pub fn stream_dropped(req: &ImageRequest) -> &'static str {
    if req.partial_images.unwrap_or(0) > 0 {
        "partial_images"
    } else {
        ""
    }
}

/// The events of a streamed answer, one `completed` event per final image, in order:
/// `images` are base64 in `output`'s type, each with the usage of the call that made it
/// (zeros where Gemini reports none, as Imagen; the field is required). There is no state
/// to carry: Gemini sends each image whole, so there are no partial images to number.
pub fn stream_events(
    route: ImageRoute,
    req: &ImageRequest,
    images: Vec<(String, Option<ImageUsage>)>,
    output: OutputFormat,
    created_at: u64,
) -> Vec<ImageCompletedEvent> {
    let kind = match route {
        ImageRoute::Generation => "image_generation.completed",
        ImageRoute::Edit => "image_edit.completed",
    };
    let size = match req.size.as_deref() {
        Some("1024x1024") => "1024x1024",
        Some("1024x1536") => "1024x1536",
        Some("1536x1024") => "1536x1024",
        _ => "auto",
    };
    let quality = match req.quality.as_deref() {
        Some("low") => "low",
        Some("medium" | "standard") => "medium",
        Some("high" | "hd") => "high",
        _ => "auto",
    };
    images
        .into_iter()
        .map(|(b64_json, usage)| ImageCompletedEvent {
            kind,
            b64_json,
            created_at,
            size,
            quality,
            background: "auto",
            output_format: output.name(),
            usage: usage.unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(value: serde_json::Value) -> ImageRequest {
        ImageRequest::from_slice(value.to_string().as_bytes()).unwrap()
    }

    fn upstream(plan: &ImagePlan) -> serde_json::Value {
        match &plan.calls {
            ImageCalls::Gemini { request, .. } => serde_json::to_value(request).unwrap(),
            ImageCalls::Imagen(calls) => serde_json::to_value(calls).unwrap(),
        }
    }

    #[test]
    fn gemini_request_carries_modality_ratio_and_one_call_per_image() {
        let plan = to_gemini(
            &request(json!({"prompt": "a fox", "n": 3, "size": "1536x1024"})),
            "gemini-2.5-flash-image",
            None,
        )
        .unwrap();
        let ImageCalls::Gemini { calls, .. } = plan.calls else {
            panic!("not gemini")
        };
        assert_eq!(calls, 3);
        assert_eq!(
            upstream(&plan),
            json!({"contents": [{"role": "user", "parts": [{"text": "a fox"}]}],
                "generationConfig": {"responseModalities": ["IMAGE"],
                    "imageConfig": {"aspectRatio": "3:2"}}})
        );
        assert_eq!(plan.output, OutputFormat::Png);
    }

    #[test]
    fn gemini3_gets_an_image_size_tier() {
        let plan = to_gemini(
            &request(json!({"prompt": "p", "size": "4096x4096"})),
            "gemini-3-pro-image-preview",
            None,
        )
        .unwrap();
        assert_eq!(
            upstream(&plan)["generationConfig"]["imageConfig"],
            json!({"aspectRatio": "1:1", "imageSize": "4K"})
        );
        let plan = to_gemini(
            &request(json!({"prompt": "p", "quality": "high"})),
            "gemini-3-pro-image-preview",
            None,
        )
        .unwrap();
        assert_eq!(
            upstream(&plan)["generationConfig"]["imageConfig"],
            json!({"imageSize": "2K"})
        );
        // 2.5 Flash Image takes no tier, and no imageConfig when there is nothing to say.
        let plan = to_gemini(
            &request(json!({"prompt": "p", "quality": "high"})),
            "gemini-2.5-flash-image",
            None,
        )
        .unwrap();
        assert!(upstream(&plan)["generationConfig"]
            .get("imageConfig")
            .is_none());
    }

    #[test]
    fn dalle_sizes_map_to_ratios() {
        for (size, ratio) in [
            ("1024x1024", "1:1"),
            ("256x256", "1:1"),
            ("1792x1024", "16:9"),
            ("1024x1792", "9:16"),
            ("1024x1536", "2:3"),
            ("21:9", "21:9"),
        ] {
            let (got, tier) = size_options(Some(size), false, ImageModel::Gemini).unwrap();
            assert_eq!(got, Some(ratio), "{size}");
            assert_eq!(tier, None, "{size}");
        }
        let err = size_options(Some("1000x100"), false, ImageModel::Gemini).unwrap_err();
        assert!(err.to_string().contains("1536x1024"), "{err}");
        // Imagen has fewer ratios.
        assert!(size_options(Some("1536x1024"), false, ImageModel::Imagen).is_err());
        assert!(size_options(Some("banana"), false, ImageModel::Imagen).is_err());
    }

    #[test]
    fn imagen_splits_n_into_calls_of_four() {
        let plan = to_gemini(
            &request(json!({"prompt": "p", "n": 6, "size": "1792x1024", "quality": "hd"})),
            "imagen-4.0-generate-001",
            None,
        )
        .unwrap();
        assert_eq!(
            upstream(&plan),
            json!([
                {"instances": [{"prompt": "p"}], "parameters": {"sampleCount": 4,
                    "aspectRatio": "16:9", "imageSize": "2K"}},
                {"instances": [{"prompt": "p"}], "parameters": {"sampleCount": 2,
                    "aspectRatio": "16:9", "imageSize": "2K"}},
            ])
        );
        let plan = to_gemini(
            &request(json!({"prompt": "p", "quality": "hd"})),
            "imagen-4.0-fast-generate-001",
            None,
        )
        .unwrap();
        assert_eq!(
            upstream(&plan),
            json!([{"instances": [{"prompt": "p"}], "parameters": {"sampleCount": 1}}])
        );
    }

    #[test]
    fn streamed_images_are_one_completed_event_each_within_openai_enums() {
        let req = request(
            json!({"prompt": "p", "stream": true, "partial_images": 2, "size": "1536x1024",
                "quality": "hd"}),
        );
        assert!(to_gemini(&req, "gemini-2.5-flash-image", None).is_ok());
        assert_eq!(stream_dropped(&req), "partial_images");
        let usage = ImageUsage {
            input_tokens: 3,
            output_tokens: 5,
            total_tokens: 8,
            input_tokens_details: ImageInputTokens {
                text_tokens: 3,
                image_tokens: 0,
            },
        };
        let events = stream_events(
            ImageRoute::Generation,
            &req,
            vec![("AAAA".to_owned(), Some(usage)), ("BBBB".to_owned(), None)],
            OutputFormat::Webp,
            7,
        );
        assert_eq!(
            serde_json::to_value(&events).unwrap(),
            json!([
                {"type": "image_generation.completed", "b64_json": "AAAA", "created_at": 7,
                 "size": "1536x1024", "quality": "high", "background": "auto",
                 "output_format": "webp", "usage": {"input_tokens": 3, "output_tokens": 5,
                 "total_tokens": 8, "input_tokens_details": {"text_tokens": 3,
                 "image_tokens": 0}}},
                {"type": "image_generation.completed", "b64_json": "BBBB", "created_at": 7,
                 "size": "1536x1024", "quality": "high", "background": "auto",
                 "output_format": "webp", "usage": {"input_tokens": 0, "output_tokens": 0,
                 "total_tokens": 0, "input_tokens_details": {"text_tokens": 0,
                 "image_tokens": 0}}},
            ])
        );
        let edit = request(json!({"prompt": "p", "size": "16:9"}));
        assert_eq!(stream_dropped(&edit), "");
        let events = stream_events(
            ImageRoute::Edit,
            &edit,
            vec![("CCCC".to_owned(), None)],
            OutputFormat::Png,
            7,
        );
        assert_eq!(events[0].kind, "image_edit.completed");
        assert_eq!((events[0].size, events[0].quality), ("auto", "auto"));
    }

    #[test]
    fn edits_send_images_then_mask_note_then_prompt() {
        let blob = |d: &str| {
            Part::inline(Blob {
                mime_type: "image/png".to_owned(),
                data: d.to_owned(),
            })
        };
        let edit = EditImages {
            images: vec![blob("AAAA"), blob("BBBB")],
            mask: Some(blob("CCCC")),
        };
        let plan = to_gemini(
            &request(json!({"prompt": "add a hat"})),
            "gemini-2.5-flash-image",
            Some(&edit),
        )
        .unwrap();
        assert_eq!(
            upstream(&plan)["contents"][0]["parts"],
            json!([
                {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                {"inlineData": {"mimeType": "image/png", "data": "BBBB"}},
                {"text": MASK_NOTE},
                {"inlineData": {"mimeType": "image/png", "data": "CCCC"}},
                {"text": "add a hat"},
            ])
        );
        let err = to_gemini(
            &request(json!({"prompt": "p"})),
            "imagen-4.0-generate-001",
            Some(&edit),
        )
        .unwrap_err();
        assert!(err.to_string().contains("gemini-2.5-flash-image"), "{err}");
    }

    #[test]
    fn bad_input_is_refused_with_what_to_send() {
        for (body, model, param, says) in [
            (
                json!({"prompt": "p"}),
                "gemini-2.5-flash",
                "model",
                "does not make images",
            ),
            (
                json!({"prompt": " "}),
                "imagen-4.0-generate-001",
                "prompt",
                "required",
            ),
            (
                json!({"prompt": "p", "response_format": "url"}),
                "imagen-4.0-generate-001",
                "response_format",
                "hosts no files",
            ),
            (
                json!({"prompt": "p", "output_format": "gif"}),
                "imagen-4.0-generate-001",
                "output_format",
                "'webp'",
            ),
            (
                json!({"prompt": "p", "n": 11}),
                "imagen-4.0-generate-001",
                "n",
                "between 1",
            ),
            (
                json!({"prompt": "p", "n": 0}),
                "imagen-4.0-generate-001",
                "n",
                "between 1",
            ),
            (
                json!({"prompt": "p", "stream": true, "partial_images": 4}),
                "gemini-2.5-flash-image",
                "partial_images",
                "between 0 and 3",
            ),
            (
                json!({"prompt": "p", "quality": "ultra"}),
                "gemini-2.5-flash-image",
                "quality",
                "'hd'",
            ),
            (
                json!({"prompt": "p", "size": "4096x4096"}),
                "imagen-4.0-generate-001",
                "size",
                "2048x2048",
            ),
        ] {
            let err = to_gemini(&request(body.clone()), model, None).unwrap_err();
            let TranslateError::InvalidRequest {
                param: Some(p),
                message,
                ..
            } = &err
            else {
                panic!("{body}: {err:?}");
            };
            assert_eq!(p, param, "{body}");
            assert!(message.contains(says), "{body}: {message}");
        }
    }

    #[test]
    fn jpeg_quality_comes_from_output_compression() {
        let plan = to_gemini(
            &request(json!({"prompt": "p", "output_format": "jpeg", "output_compression": 40})),
            "gemini-2.5-flash-image",
            None,
        )
        .unwrap();
        assert_eq!(
            (plan.output, plan.jpeg_quality),
            (OutputFormat::Jpeg, Some(40))
        );
    }

    fn answer(value: serde_json::Value) -> ImageContentResponse {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn gemini_answer_gives_images_and_usage_skipping_thoughts() {
        let (images, usage) = images_from_gemini(answer(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"inlineData": {"mimeType": "image/png", "data": "T0"}, "thought": true},
                {"text": "Here it is"},
                {"inlineData": {"mimeType": "image/png", "data": "QUJD"}}]},
                "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 300, "candidatesTokenCount": 1290,
                "totalTokenCount": 1590, "promptTokensDetails": [
                    {"modality": "TEXT", "tokenCount": 42}, {"modality": "IMAGE", "tokenCount": 258}]}
        })))
        .unwrap();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].data, "QUJD");
        let usage = usage.unwrap();
        assert_eq!(
            serde_json::to_value(&usage).unwrap(),
            json!({"input_tokens": 300, "output_tokens": 1290, "total_tokens": 1590,
                "input_tokens_details": {"text_tokens": 42, "image_tokens": 258}})
        );
        let twice = add_usage(Some(usage), images_from_gemini(answer(json!({
            "candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "QQ=="}}]}}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
        }))).unwrap().1).unwrap();
        assert_eq!((twice.input_tokens, twice.total_tokens), (310, 1605));
        assert_eq!(twice.input_tokens_details.text_tokens, 52);
    }

    #[test]
    fn text_only_answer_is_an_error_quoting_gemini() {
        let err = images_from_gemini(answer(json!({
            "candidates": [{"content": {"parts": [{"text": "I can only describe it."}]},
                "finishReason": "STOP"}]
        })))
        .unwrap_err();
        let TranslateError::UpstreamFinish { reason, message } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(reason, "NO_IMAGE");
        assert!(message.contains("\"I can only describe it.\""), "{message}");
        let err = images_from_gemini(answer(json!({
            "candidates": [{"finishReason": "IMAGE_SAFETY", "finishMessage": "Unsafe."}]
        })))
        .unwrap_err();
        assert!(
            matches!(&err, TranslateError::InvalidRequest { code: Some("content_policy_violation"), message, .. }
            if message.contains("IMAGE_SAFETY") && message.contains("Unsafe.")),
            "{err:?}"
        );
        let err = images_from_gemini(answer(json!({"promptFeedback": {"blockReason": "OTHER"}})))
            .unwrap_err();
        assert!(
            err.to_string().contains("blocked the prompt (OTHER)"),
            "{err}"
        );
        let err = images_from_gemini(answer(json!({}))).unwrap_err();
        assert!(err.to_string().contains("NO_IMAGE"), "{err}");
    }

    #[test]
    fn imagen_answer_gives_images_or_an_error() {
        let images = images_from_imagen(
            serde_json::from_value(json!({"predictions": [
                {"bytesBase64Encoded": "QUJD", "mimeType": "image/png"},
                {"raiFilteredReason": "filtered"}]}))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(images.len(), 1);
        let err = images_from_imagen(serde_json::from_value(json!({})).unwrap()).unwrap_err();
        assert!(err.to_string().contains("safety filters"), "{err}");
    }

    #[test]
    fn imagen_is_refused_for_text() {
        assert!(check_text_model("gemini-2.5-flash-image").is_ok());
        assert!(check_text_model("gemini-2.5-flash").is_ok());
        let err = check_text_model("imagen-4.0-generate-001").unwrap_err();
        assert!(err.to_string().contains("/v1/images/generations"), "{err}");
    }

    #[test]
    fn response_shape() {
        let out = to_openai(vec!["QUJD".into()], OutputFormat::Webp, None, 7);
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({"created": 7, "data": [{"b64_json": "QUJD"}], "output_format": "webp"})
        );
    }
}
