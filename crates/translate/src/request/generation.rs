//! Sampling parameters, output format and thinking controls → `generationConfig`.

use crate::gemini;
use crate::openai;
use crate::schema;
use crate::TranslateError;

use super::MAX_STOP_SEQUENCES;

pub(super) fn map_generation_config(
    req: &openai::ChatCompletionRequest,
    legacy_schemas: bool,
) -> Result<(gemini::GenerationConfig, Vec<String>), TranslateError> {
    check_range(req.temperature, 0.0, 2.0, "temperature")?;
    check_range(req.top_p, 0.0, 1.0, "top_p")?;
    check_range(req.presence_penalty, -2.0, 2.0, "presence_penalty")?;
    check_range(req.frequency_penalty, -2.0, 2.0, "frequency_penalty")?;
    let n = req.n.unwrap_or(1);
    if n == 0 {
        return Err(TranslateError::invalid("'n' must be at least 1.", "n"));
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
        Some(openai::Stop::One(s)) => vec![s.clone()],
        Some(openai::Stop::Many(v)) => v.clone(),
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
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        candidate_count: (n > 1).then_some(n),
        ..Default::default()
    };
    if req.logprobs == Some(true) {
        config.response_logprobs = Some(true);
        config.logprobs = req.top_logprobs.filter(|&k| k > 0);
    }
    match &req.response_format {
        None | Some(openai::ResponseFormat::Text) => {}
        Some(openai::ResponseFormat::JsonObject) => {
            config.response_mime_type = Some("application/json".to_owned());
        }
        Some(openai::ResponseFormat::JsonSchema { json_schema }) => {
            config.response_mime_type = Some("application/json".to_owned());
            if let Some(s) = &json_schema.schema {
                if legacy_schemas {
                    let legacy = schema::to_legacy_schema(s).map_err(|e| {
                        TranslateError::invalid(
                            format!("Invalid schema for response_format: {e}"),
                            "response_format.json_schema.schema",
                        )
                    })?;
                    config.response_schema = Some(legacy);
                } else {
                    config.response_json_schema = Some(schema::to_json_schema(s.clone()));
                }
            }
        }
    }
    Ok((config, extra_stops))
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
