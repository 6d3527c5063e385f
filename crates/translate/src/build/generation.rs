//! The generation settings both dialects resolve the same way → `generationConfig`.
//!
//! What a model cannot take is decided by its [`Capabilities`]: such a parameter is dropped
//! and reported (the server turns the list into `x-pollux-dropped-params`), or refused with a
//! 400 in strict mode (`ParamPolicy`). Thinking follows Google's published mapping of
//! `reasoning_effort` (<https://ai.google.dev/gemini-api/docs/openai#thinking>).

use serde_json::Value;

use crate::build::options::RequestOptions;
use crate::build::schema;
use crate::capabilities::{Capabilities, Thinking};
use crate::gemini::{self, MAX_STOP_SEQUENCES};
use crate::openai::{GoogleOptions, GoogleThinkingConfig, ReasoningEffort};
use crate::TranslateError;

/// Collects the parameters dropped for the model, or refuses them in strict mode.
pub(crate) struct ParamPolicy<'a> {
    pub model: &'a str,
    pub strict: bool,
    pub dropped: Vec<String>,
}

impl<'a> ParamPolicy<'a> {
    /// Nothing dropped yet; strict when the options say so.
    pub(crate) fn new(opts: &RequestOptions<'a>) -> Self {
        ParamPolicy {
            model: opts.model,
            strict: opts.strict_params,
            dropped: Vec::new(),
        }
    }

    pub(crate) fn drop_param(&mut self, param: &str, why: &str) -> Result<(), TranslateError> {
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

/// `extra_body.google`'s generation settings, over what the request's own fields set:
/// `response_modalities` (upper-cased, as Gemini spells them) and `generation_config`
/// entries (keys in camelCase) passed through.
pub(crate) fn google_generation(
    config: &mut gemini::GenerationConfig,
    google: Option<&GoogleOptions>,
) {
    let Some(g) = google else {
        return;
    };
    if let Some(modalities) = &g.response_modalities {
        config.response_modalities = modalities.iter().map(|m| m.to_ascii_uppercase()).collect();
    }
    for (key, value) in g.generation_config.iter().flatten() {
        config.extra.insert(camel_case(key), value.clone());
    }
}

/// Drops empty stop sequences (they would end every answer at once; OpenAI ignores them
/// too) and splits off those beyond Gemini's limit, which Pollux enforces on the answer.
pub(crate) fn split_stops(stops: &mut Vec<String>) -> Vec<String> {
    stops.retain(|s| !s.is_empty());
    if stops.len() > MAX_STOP_SEQUENCES {
        stops.split_off(MAX_STOP_SEQUENCES)
    } else {
        Vec::new()
    }
}

/// A structured-output schema into `responseJsonSchema`, or `responseSchema` in Google's
/// legacy OpenAPI subset for models that only take that.
pub(crate) fn response_schema(
    client: &Value,
    legacy: bool,
    config: &mut gemini::GenerationConfig,
) -> Result<(), schema::SchemaError> {
    if legacy {
        config.response_schema = Some(schema::to_legacy_schema(client)?);
    } else {
        config.response_json_schema = Some(schema::to_json_schema(client.clone())?);
    }
    Ok(())
}

/// Google's budgets for `reasoning_effort` on budget-controlled models.
fn effort_budget(effort: &ReasoningEffort, min: i32) -> Result<i32, TranslateError> {
    Ok(match effort {
        ReasoningEffort::None => 0,
        ReasoningEffort::Minimal => min.max(128),
        ReasoningEffort::Low => 1024,
        ReasoningEffort::Medium => 8192,
        ReasoningEffort::High => 24576,
        // Capped at the model's maximum by the caller.
        ReasoningEffort::XHigh => 32768,
        ReasoningEffort::Unknown(value) => return Err(invalid_effort(value)),
    })
}

/// The 400 for a `reasoning_effort` this build does not know (docs/errors.md).
fn invalid_effort(value: &str) -> TranslateError {
    TranslateError::invalid(
        format!(
            "Invalid 'reasoning_effort' value '{value}': expected none, minimal, low, medium, high or xhigh."
        ),
        "reasoning_effort",
    )
}

/// Resolves `reasoning_effort`, `extra_body.google.thinking_config` and the small
/// `max_tokens` policy into one `thinkingConfig` (never both budget and level).
///
/// Thinking tokens count against `maxOutputTokens`. So that a small `max_tokens` does not
/// silently yield an empty answer, a budget model's thinking is capped at half the client's
/// limit (raised to the model's minimum, or turned off where the model allows it); an answer
/// that thinking still cut short ends with `finish_reason: "length"`.
pub(crate) fn thinking_config(
    effort: Option<&ReasoningEffort>,
    explicit: Option<&GoogleThinkingConfig>,
    caps: &Capabilities,
    max_tokens: Option<u32>,
    policy: &mut ParamPolicy<'_>,
) -> Result<Option<gemini::ThinkingConfig>, TranslateError> {
    if let Some(explicit) = explicit {
        // The client spoke Gemini directly: pass it on as written.
        return Ok(Some(gemini::ThinkingConfig {
            include_thoughts: explicit.include_thoughts,
            thinking_budget: explicit.thinking_budget,
            thinking_level: explicit.thinking_level.clone(),
        }));
    }
    match &caps.thinking {
        Thinking::None => {
            if let Some(e) = effort {
                effort_budget(e, 0)?;
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
                Some(e) => Some(effort_budget(e, *min)?),
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
            effort_budget(e, 0)?;
            let has = |l: &str| levels.iter().any(|x| x == l);
            let lowest = levels.first().map(String::as_str).unwrap_or("low");
            let level = match e {
                ReasoningEffort::None | ReasoningEffort::Minimal if has("minimal") => "minimal",
                ReasoningEffort::None | ReasoningEffort::Minimal => lowest,
                ReasoningEffort::Medium if has("medium") => "medium",
                ReasoningEffort::Medium | ReasoningEffort::High | ReasoningEffort::XHigh => "high",
                ReasoningEffort::Low => "low",
                ReasoningEffort::Unknown(value) => return Err(invalid_effort(value)),
            };
            Ok(Some(gemini::ThinkingConfig {
                include_thoughts: Some(true),
                thinking_budget: None,
                thinking_level: Some(level.to_owned()),
            }))
        }
    }
}

/// `generation_config` keys may come snake_case (Python habits); Gemini's JSON is camelCase.
pub(crate) fn camel_case(key: &str) -> String {
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

/// The sampling values both dialects take as is: `temperature` and `top_p` in OpenAI's
/// ranges, `top_logprobs` at most 20 (OpenAI's limit; Gemini's `logprobs` goes no higher).
pub(crate) fn check_sampling(
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_logprobs: Option<u32>,
) -> Result<(), TranslateError> {
    check_range(temperature, 0.0, 2.0, "temperature")?;
    check_range(top_p, 0.0, 1.0, "top_p")?;
    if top_logprobs.is_some_and(|k| k > 20) {
        return Err(TranslateError::invalid(
            "'top_logprobs' must be between 0 and 20.",
            "top_logprobs",
        ));
    }
    Ok(())
}

pub(crate) fn check_range(
    value: Option<f64>,
    min: f64,
    max: f64,
    param: &str,
) -> Result<(), TranslateError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(TranslateError::invalid(
            format!("Invalid '{param}': {v} is outside the allowed range [{min}, {max}]."),
            param,
        )),
        _ => Ok(()),
    }
}

/// OpenAI's `service_tier` as Gemini's: `flex` and `priority` are Gemini's tiers of the same
/// names (<https://ai.google.dev/gemini-api/docs/flex-inference>,
/// <https://ai.google.dev/gemini-api/docs/priority-inference>); `auto` and `default` leave
/// the field out (Gemini's standard tier). OpenAI's `scale` has no Gemini counterpart.
pub(crate) fn service_tier(
    tier: Option<&str>,
    param: &str,
) -> Result<Option<&'static str>, crate::TranslateError> {
    match tier {
        None | Some("auto") | Some("default") => Ok(None),
        Some("flex") => Ok(Some("flex")),
        Some("priority") => Ok(Some("priority")),
        Some(other) => Err(crate::TranslateError::invalid(
            format!("Invalid '{param}' value '{other}': Gemini offers 'auto', 'default', 'flex' and 'priority'."),
            param,
        )),
    }
}

/// The tier Gemini reports it served a request at (its `x-gemini-service-tier` response
/// header: `standard`, `flex` or `priority`; a downgrade says `standard`) in OpenAI's
/// `service_tier` words.
pub fn reported_service_tier(header: &str) -> String {
    match header.trim().to_ascii_lowercase().as_str() {
        "standard" | "" => "default".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unknown `reasoning_effort` is refused with today's message on every kind of model
    /// (also one that does not think), and left alone when Gemini's own `thinking_config`
    /// wins over it.
    #[test]
    fn unknown_effort_keeps_its_400() {
        let effort = ReasoningEffort::Unknown("extreme".to_owned());
        for model in [
            "gemini-2.0-flash",
            "gemini-2.5-flash",
            "gemini-3-pro-preview",
        ] {
            let caps = Capabilities::builtin(model);
            let mut policy = ParamPolicy {
                model,
                strict: false,
                dropped: Vec::new(),
            };
            let e = thinking_config(Some(&effort), None, &caps, None, &mut policy);
            assert_eq!(
                e.err(),
                Some(TranslateError::invalid(
                    "Invalid 'reasoning_effort' value 'extreme': expected none, minimal, low, medium, high or xhigh.",
                    "reasoning_effort",
                )),
                "{model}"
            );
            assert!(policy.dropped.is_empty(), "{model}");
            let explicit = GoogleThinkingConfig {
                thinking_budget: Some(64),
                ..GoogleThinkingConfig::default()
            };
            let kept = thinking_config(Some(&effort), Some(&explicit), &caps, None, &mut policy);
            assert!(
                matches!(kept, Ok(Some(ref c)) if c.thinking_budget == Some(64)),
                "{model}: {kept:?}"
            );
        }
    }

    #[test]
    fn camel_case_keys() {
        assert_eq!(camel_case("top_k"), "topK");
        assert_eq!(camel_case("responseMimeType"), "responseMimeType");
        assert_eq!(camel_case("speech_config"), "speechConfig");
    }

    #[test]
    fn service_tiers_map_to_gemini_or_are_left_out() {
        assert_eq!(service_tier(None, "service_tier").unwrap(), None);
        assert_eq!(service_tier(Some("auto"), "service_tier").unwrap(), None);
        assert_eq!(service_tier(Some("default"), "service_tier").unwrap(), None);
        assert_eq!(
            service_tier(Some("flex"), "service_tier").unwrap(),
            Some("flex")
        );
        assert_eq!(
            service_tier(Some("priority"), "service_tier").unwrap(),
            Some("priority")
        );
        assert!(service_tier(Some("scale"), "service_tier").is_err());
    }

    #[test]
    fn reported_tiers_use_openais_words() {
        assert_eq!(reported_service_tier("standard"), "default");
        assert_eq!(reported_service_tier("Flex"), "flex");
        assert_eq!(reported_service_tier("priority"), "priority");
    }
}
