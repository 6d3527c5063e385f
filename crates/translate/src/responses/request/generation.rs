//! A Responses request's sampling settings, `text.format` and `reasoning` →
//! `generationConfig`, resolved by the shared rules of
//! [`build::generation`](crate::build::generation).

use crate::build::generation::{
    check_sampling, google_generation, response_schema, thinking_config, ParamPolicy,
};
use crate::capabilities::{Capabilities, SchemaFlavour, Thinking};
use crate::gemini;
use crate::openai::responses::{CreateResponse, Input, MessageContent};
use crate::TranslateError;

pub(super) fn map_generation_config(
    req: &CreateResponse,
    caps: &Capabilities,
    policy: &mut ParamPolicy<'_>,
) -> Result<gemini::GenerationConfig, TranslateError> {
    check_sampling(req.temperature, req.top_p, req.top_logprobs)?;
    if req.max_output_tokens == Some(0) {
        return Err(TranslateError::invalid(
            "'max_output_tokens' must be at least 1.",
            "max_output_tokens",
        ));
    }
    let mut config = gemini::GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        max_output_tokens: req.max_output_tokens,
        ..Default::default()
    };
    if let Some(text) = &req.text {
        if let Some(format) = &text.format {
            map_text_format(format, caps, &mut config)?;
        }
        if text.verbosity.as_deref().is_some_and(|v| v != "medium") {
            policy.drop_param("text.verbosity", "Gemini has no verbosity setting")?;
        }
    }
    let top = req.top_logprobs.filter(|&k| k > 0);
    if top.is_some() || req.includes("message.output_text.logprobs") {
        if caps.logprobs {
            config.response_logprobs = Some(true);
            config.logprobs = top;
        } else {
            let param = if top.is_some() {
                "top_logprobs"
            } else {
                "include"
            };
            policy.drop_param(param, "the model does not return log probabilities")?;
        }
    }
    if let Some(resolution) = media_resolution(req) {
        if caps.media_resolution {
            config.media_resolution = Some(resolution);
        } else {
            policy.drop_param("detail", "the model has no media resolution setting")?;
        }
    }

    let google = req.google_options();
    let reasoning = req.reasoning.as_ref();
    let summary = reasoning
        .and_then(|r| r.summary.as_deref().or(r.generate_summary.as_deref()))
        .is_some();
    let mut thinking = thinking_config(
        reasoning.and_then(|r| r.effort.as_ref()),
        google.and_then(|g| g.thinking_config.as_ref()),
        caps,
        req.max_output_tokens,
        policy,
    )?;
    let explicit = google.is_some_and(|g| g.thinking_config.is_some());
    if !explicit {
        // Thought summaries are what `reasoning.summary` asks for, and only that.
        match (&mut thinking, summary) {
            (Some(t), _) => {
                let thinks = t.thinking_budget != Some(0);
                t.include_thoughts = (summary && thinks).then_some(true);
            }
            (None, true) if caps.thinking != Thinking::None => {
                thinking = Some(gemini::ThinkingConfig {
                    include_thoughts: Some(true),
                    thinking_budget: None,
                    thinking_level: None,
                });
            }
            (None, _) => {}
        }
    }
    config.thinking_config = thinking;
    google_generation(&mut config, google);
    Ok(config)
}

fn map_text_format(
    format: &crate::openai::responses::TextFormat,
    caps: &Capabilities,
    config: &mut gemini::GenerationConfig,
) -> Result<(), TranslateError> {
    match format.kind.as_str() {
        "text" => Ok(()),
        "json_object" => {
            config.response_mime_type = Some("application/json".to_owned());
            Ok(())
        }
        "json_schema" => {
            config.response_mime_type = Some("application/json".to_owned());
            let Some(schema) = &format.schema else {
                return Err(TranslateError::invalid(
                    "A 'json_schema' text format needs a 'schema'.",
                    "text.format.schema",
                ));
            };
            response_schema(schema, caps.schema == SchemaFlavour::Legacy, config).map_err(|e| {
                TranslateError::invalid(
                    format!("Invalid schema for text.format: {e}"),
                    "text.format.schema",
                )
            })
        }
        other => Err(TranslateError::invalid(
            format!(
                "Invalid 'text.format.type' '{other}': expected text, json_object or json_schema."
            ),
            "text.format.type",
        )),
    }
}

/// `detail` of image parts → the request-wide `mediaResolution` (the highest asked wins).
fn media_resolution(req: &CreateResponse) -> Option<&'static str> {
    let Input::Items(items) = &req.input else {
        return None;
    };
    let mut best = None;
    for item in items {
        let Some(MessageContent::Parts(parts)) = &item.content else {
            continue;
        };
        for part in parts.iter().filter(|p| p.kind == "input_image") {
            match part.detail.as_deref() {
                Some("high") => return Some("MEDIA_RESOLUTION_HIGH"),
                Some("low") => best = Some("MEDIA_RESOLUTION_LOW"),
                _ => {}
            }
        }
    }
    best
}
