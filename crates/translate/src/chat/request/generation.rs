//! A chat request's sampling parameters, output format and thinking controls →
//! `generationConfig`, read from the request and resolved by the shared rules of
//! [`build::generation`](crate::build::generation).

use crate::build::generation::{
    check_range, check_sampling, google_generation, response_schema, split_stops, thinking_config,
    ParamPolicy,
};
use crate::capabilities::{Capabilities, SchemaFlavour};
use crate::gemini;
use crate::openai::chat::{self, ContentPart, Message};
use crate::TranslateError;

/// What the generation settings resolve to.
pub(super) struct Generation {
    pub config: gemini::GenerationConfig,
    pub extra_stops: Vec<String>,
    /// Choices the answer will have (1 when `n` was dropped).
    pub n: u32,
}

pub(super) fn map_generation_config(
    req: &chat::ChatCompletionRequest,
    caps: &Capabilities,
    policy: &mut ParamPolicy<'_>,
) -> Result<Generation, TranslateError> {
    check_sampling(req.temperature, req.top_p, req.top_logprobs)?;
    check_range(req.presence_penalty, -2.0, 2.0, "presence_penalty")?;
    check_range(req.frequency_penalty, -2.0, 2.0, "frequency_penalty")?;
    let mut n = req.n.unwrap_or(1);
    if n == 0 || n > 8 {
        return Err(TranslateError::invalid(
            "'n' must be between 1 and 8 (Gemini's candidate limit).",
            "n",
        ));
    }
    let max_tokens = req.max_completion_tokens.or(req.max_tokens);
    if max_tokens == Some(0) {
        let param = if req.max_completion_tokens.is_some() {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        return Err(TranslateError::invalid(
            format!("'{param}' must be at least 1."),
            param,
        ));
    }

    let mut stops: Vec<String> = match &req.stop {
        None => Vec::new(),
        Some(chat::Stop::One(s)) => vec![s.clone()],
        Some(chat::Stop::Many(v)) => v.clone(),
    };
    let extra_stops = split_stops(&mut stops);

    let mut config = gemini::GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        max_output_tokens: max_tokens,
        stop_sequences: stops,
        seed: req.seed,
        ..Default::default()
    };

    let penalties = [
        ("presence_penalty", req.presence_penalty),
        ("frequency_penalty", req.frequency_penalty),
    ];
    for (param, value) in penalties {
        // A zero penalty is the default and means nothing; never worth a drop warning.
        let Some(v) = value.filter(|v| *v != 0.0) else {
            continue;
        };
        if caps.penalties {
            match param {
                "presence_penalty" => config.presence_penalty = Some(v),
                _ => config.frequency_penalty = Some(v),
            }
        } else {
            policy.drop_param(param, "the model does not accept penalties")?;
        }
    }

    if n > 1 {
        if caps.multiple_candidates {
            config.candidate_count = Some(n);
        } else {
            policy.drop_param("n", "the model returns one candidate only")?;
            n = 1;
        }
    }

    if req.logprobs == Some(true) {
        if caps.logprobs {
            config.response_logprobs = Some(true);
            config.logprobs = req.top_logprobs.filter(|&k| k > 0);
        } else {
            policy.drop_param("logprobs", "the model does not return log probabilities")?;
        }
    }

    if let Some(resolution) = media_resolution(req) {
        if caps.media_resolution {
            config.media_resolution = Some(resolution);
        } else {
            policy.drop_param(
                "image_url.detail",
                "the model has no media resolution setting",
            )?;
        }
    }

    map_response_format(req, caps, &mut config)?;
    let google = req.google_options();
    config.thinking_config = thinking_config(
        req.reasoning_effort.as_ref(),
        google.and_then(|g| g.thinking_config.as_ref()),
        caps,
        max_tokens,
        policy,
    )?;
    google_generation(&mut config, google);
    Ok(Generation {
        config,
        extra_stops,
        n,
    })
}

fn map_response_format(
    req: &chat::ChatCompletionRequest,
    caps: &Capabilities,
    config: &mut gemini::GenerationConfig,
) -> Result<(), TranslateError> {
    match &req.response_format {
        None | Some(chat::ResponseFormat::Text) => {}
        Some(chat::ResponseFormat::JsonObject) => {
            config.response_mime_type = Some("application/json".to_owned());
        }
        Some(chat::ResponseFormat::JsonSchema { json_schema }) => {
            config.response_mime_type = Some("application/json".to_owned());
            if let Some(s) = &json_schema.schema {
                response_schema(s, caps.schema == SchemaFlavour::Legacy, config).map_err(|e| {
                    TranslateError::invalid(
                        format!("Invalid schema for response_format: {e}"),
                        "response_format.json_schema.schema",
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// `detail` of image parts → the request-wide `mediaResolution` (the highest asked wins).
fn media_resolution(req: &chat::ChatCompletionRequest) -> Option<&'static str> {
    let mut best: Option<&'static str> = None;
    for message in &req.messages {
        let Message::User(m) = message else { continue };
        let chat::Content::Parts(parts) = &m.content else {
            continue;
        };
        for part in parts {
            if let ContentPart::ImageUrl { image_url } = part {
                match image_url.detail.as_deref() {
                    Some("high") => return Some("MEDIA_RESOLUTION_HIGH"),
                    Some("low") => best = Some("MEDIA_RESOLUTION_LOW"),
                    _ => {}
                }
            }
        }
    }
    best
}
