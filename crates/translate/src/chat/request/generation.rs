//! Sampling parameters, output format and thinking controls → `generationConfig`.
//!
//! What a model cannot take is decided by its [`Capabilities`]: such a parameter is dropped
//! and reported (the server turns the list into `x-pollux-dropped-params`), or refused with a
//! 400 in strict mode. Thinking follows Google's published mapping of `reasoning_effort`
//! (<https://ai.google.dev/gemini-api/docs/openai#thinking>).

use crate::build::schema;
use crate::capabilities::{Capabilities, SchemaFlavour, Thinking};
use crate::gemini;
use crate::openai;
use crate::openai::chat::{self, ContentPart, Message};
use crate::TranslateError;

use crate::gemini::MAX_STOP_SEQUENCES;

/// Collects the parameters dropped for the model, or refuses them in strict mode.
pub(super) struct ParamPolicy<'a> {
    pub model: &'a str,
    pub strict: bool,
    pub dropped: Vec<String>,
}

impl ParamPolicy<'_> {
    fn drop_param(&mut self, param: &str, why: &str) -> Result<(), TranslateError> {
        if self.strict {
            return Err(TranslateError::InvalidRequest {
                message: format!(
                    "'{param}' is not supported by model '{}': {why}",
                    self.model
                ),
                param: Some(param.to_owned()),
                code: Some("unsupported_parameter"),
            });
        }
        if !self.dropped.iter().any(|d| d == param) {
            self.dropped.push(param.to_owned());
        }
        Ok(())
    }
}

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
    check_range(req.temperature, 0.0, 2.0, "temperature")?;
    check_range(req.top_p, 0.0, 1.0, "top_p")?;
    check_range(req.presence_penalty, -2.0, 2.0, "presence_penalty")?;
    check_range(req.frequency_penalty, -2.0, 2.0, "frequency_penalty")?;
    let mut n = req.n.unwrap_or(1);
    if n == 0 || n > 8 {
        return Err(TranslateError::invalid(
            "'n' must be between 1 and 8 (Gemini's candidate limit).",
            "n",
        ));
    }
    if let Some(k) = req.top_logprobs {
        if k > 20 {
            return Err(TranslateError::invalid(
                "'top_logprobs' must be between 0 and 20.",
                "top_logprobs",
            ));
        }
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
    // An empty stop sequence would end every answer at once; OpenAI ignores them too.
    stops.retain(|s| !s.is_empty());
    let extra_stops = if stops.len() > MAX_STOP_SEQUENCES {
        stops.split_off(MAX_STOP_SEQUENCES)
    } else {
        Vec::new()
    };

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
    config.thinking_config = thinking_config(req, google, caps, max_tokens, policy)?;
    if let Some(g) = google {
        if let Some(modalities) = &g.response_modalities {
            config.response_modalities =
                modalities.iter().map(|m| m.to_ascii_uppercase()).collect();
        }
        for (key, value) in g.generation_config.iter().flatten() {
            config.extra.insert(camel_case(key), value.clone());
        }
    }
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
                if caps.schema == SchemaFlavour::Legacy {
                    let legacy = schema::to_legacy_schema(s).map_err(|e| {
                        TranslateError::invalid(
                            format!("Invalid schema for response_format: {e}"),
                            "response_format.json_schema.schema",
                        )
                    })?;
                    config.response_schema = Some(legacy);
                } else {
                    let schema = schema::to_json_schema(s.clone()).map_err(|e| {
                        TranslateError::invalid(
                            format!("Invalid schema for response_format: {e}"),
                            "response_format.json_schema.schema",
                        )
                    })?;
                    config.response_json_schema = Some(schema);
                }
            }
        }
    }
    Ok(())
}

/// Google's budgets for `reasoning_effort` on budget-controlled models.
fn effort_budget(effort: &str, min: i32) -> Option<i32> {
    Some(match effort {
        "none" => 0,
        "minimal" => min.max(128),
        "low" => 1024,
        "medium" => 8192,
        "high" => 24576,
        _ => return None,
    })
}

/// Resolves `reasoning_effort`, `extra_body.google.thinking_config` and the small
/// `max_tokens` policy into one `thinkingConfig` (never both budget and level).
///
/// Thinking tokens count against `maxOutputTokens`. So that a small `max_tokens` does not
/// silently yield an empty answer, a budget model's thinking is capped at half the client's
/// limit (raised to the model's minimum, or turned off where the model allows it); an answer
/// that thinking still cut short ends with `finish_reason: "length"`.
fn thinking_config(
    req: &chat::ChatCompletionRequest,
    google: Option<&openai::GoogleOptions>,
    caps: &Capabilities,
    max_tokens: Option<u32>,
    policy: &mut ParamPolicy<'_>,
) -> Result<Option<gemini::ThinkingConfig>, TranslateError> {
    let effort = req.reasoning_effort.as_deref();
    if let Some(explicit) = google.and_then(|g| g.thinking_config.as_ref()) {
        // The client spoke Gemini directly: pass it on as written.
        return Ok(Some(gemini::ThinkingConfig {
            include_thoughts: explicit.include_thoughts,
            thinking_budget: explicit.thinking_budget,
            thinking_level: explicit.thinking_level.clone(),
        }));
    }
    let invalid_effort = |e: &str| {
        TranslateError::invalid(
            format!(
                "Invalid 'reasoning_effort' value '{e}': expected none, minimal, low, medium or high."
            ),
            "reasoning_effort",
        )
    };
    match &caps.thinking {
        Thinking::None => {
            if let Some(e) = effort {
                effort_budget(e, 0).ok_or_else(|| invalid_effort(e))?;
                policy.drop_param("reasoning_effort", "the model does not think")?;
            }
            Ok(None)
        }
        Thinking::Budget {
            min,
            max,
            can_disable,
        } => {
            let requested = match effort {
                Some(e) => Some(effort_budget(e, *min).ok_or_else(|| invalid_effort(e))?),
                None => None,
            };
            let half_limit = max_tokens.map(|m| i32::try_from(m / 2).unwrap_or(i32::MAX));
            let budget = match (requested, half_limit) {
                (Some(b), Some(half)) if b > half => Some(b.min(half)),
                (Some(b), _) => Some(b),
                // No effort asked: leave Gemini's dynamic thinking unless the limit is small.
                (None, Some(half)) if half < *max => Some(half),
                (None, _) => None,
            };
            let Some(budget) = budget else {
                return Ok(None);
            };
            let budget = if budget == 0 {
                if *can_disable {
                    0
                } else {
                    *min
                }
            } else if budget < *min {
                // The client's limit leaves no room to think: do not think, where allowed.
                if *can_disable && effort.is_none() {
                    0
                } else {
                    *min
                }
            } else {
                budget.min(*max)
            };
            Ok(Some(gemini::ThinkingConfig {
                include_thoughts: (effort.is_some() && budget > 0).then_some(true),
                thinking_budget: Some(budget),
                thinking_level: None,
            }))
        }
        Thinking::Level { levels } => {
            let Some(e) = effort else {
                return Ok(None);
            };
            effort_budget(e, 0).ok_or_else(|| invalid_effort(e))?;
            let has = |l: &str| levels.iter().any(|x| x == l);
            let lowest = levels.first().map(String::as_str).unwrap_or("low");
            let level = match e {
                "none" | "minimal" if has("minimal") => "minimal",
                "none" | "minimal" => lowest,
                "medium" if has("medium") => "medium",
                "medium" | "high" => "high",
                _ => "low",
            };
            Ok(Some(gemini::ThinkingConfig {
                include_thoughts: Some(true),
                thinking_budget: None,
                thinking_level: Some(level.to_owned()),
            }))
        }
    }
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

/// `generation_config` keys may come snake_case (Python habits); Gemini's JSON is camelCase.
fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn check_range(value: Option<f64>, min: f64, max: f64, param: &str) -> Result<(), TranslateError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(TranslateError::invalid(
            format!("Invalid '{param}': {v} is outside the allowed range [{min}, {max}]."),
            param,
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_keys() {
        assert_eq!(camel_case("top_k"), "topK");
        assert_eq!(camel_case("responseMimeType"), "responseMimeType");
        assert_eq!(camel_case("speech_config"), "speechConfig");
    }
}
