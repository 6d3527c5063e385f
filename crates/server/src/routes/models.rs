//! `GET /v1/models` and `GET /v1/models/{id}` from Gemini's `models.list` (every page), or
//! with Vertex AI upstream from the Model Garden's publisher list
//! ([`pollux_translate::models::from_publisher_models`]), plus the model names of every
//! request: aliases and the default model ([`resolve`]).
//!
//! A fetched list is kept per credential (the pool, or the digest of a client's own key:
//! different Gemini keys may see different models) for `models_cache_secs`. The cache is
//! per process; replicas each keep their own, which costs one list call per replica and
//! TTL.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use pollux_translate::gemini::{ListModelsResponse, ListPublisherModelsResponse, Model};
use pollux_translate::models::{find, from_publisher_models, to_openai_list, ListOptions};
use pollux_translate::Dialect;

use super::call::gemini_json;
use crate::config::Config;
use crate::config_file::{valid_model, MAX_ID_LEN};
use crate::error::ApiError;
use crate::keys::Credentials;
use crate::observe::Trace;
use crate::resilience::Deadline;
use crate::settings::Settings;
use crate::state::AppState;
use crate::upstream::{Call, Upstream};

/// More pages than this means a broken `nextPageToken`, not a long list.
const MAX_PAGES: usize = 100;
/// The model a request names, as the client named it and as Gemini knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Echoed in responses.
    pub client: String,
    /// The Gemini model id, without `models/`.
    pub gemini: String,
    /// The embedding size used when an embeddings request sets no `dimensions`: the
    /// alias's own (`NAME=MODEL@DIMENSIONS`), else for OpenAI's embedding names their
    /// OpenAI size ([`openai_dimensions`]), so a vector store sized for the OpenAI model
    /// keeps working behind an alias; otherwise Gemini's default.
    pub dimensions: Option<u32>,
}

/// The output size of OpenAI's embedding models, for names that reach Gemini through an
/// alias: Gemini's embedding models default to other sizes (3,072 for
/// `gemini-embedding-001`).
pub fn openai_dimensions(name: &str) -> Option<u32> {
    match name {
        "text-embedding-3-small" | "text-embedding-ada-002" => Some(1536),
        "text-embedding-3-large" => Some(3072),
        _ => None,
    }
}

/// Refuses a client identifier longer than [`MAX_ID_LEN`] with a 400, before anything
/// else (alias lookup, a URL, an error message that would echo it) sees it. Every route
/// whose client-sent identifiers reach an upstream URL calls this: model names through
/// [`resolve`], `GET /v1/models/{id}`, the segments of a native `/v1beta` path.
pub fn check_id_len(
    what: &str,
    value: &str,
    param: Option<&str>,
    code: &str,
) -> Result<(), ApiError> {
    if value.len() <= MAX_ID_LEN {
        return Ok(());
    }
    Err(ApiError::InvalidRequest {
        message: format!(
            "{what} is {} bytes long; at most {MAX_ID_LEN} are accepted.",
            value.len()
        ),
        param: param.map(str::to_owned),
        code: Some(code.to_owned()),
    })
}

/// The bound on a model name a client sent.
fn check_model_len(name: &str) -> Result<(), ApiError> {
    check_id_len("The model name", name, Some("model"), "invalid_model")
}

/// Applies the default model and the aliases to the `model` of a request.
pub fn resolve(settings: &Settings, requested: Option<&str>) -> Result<Resolved, ApiError> {
    if let Some(name) = requested {
        check_model_len(name)?;
    }
    let client = match requested.map(str::trim) {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => settings
            .default_model
            .clone()
            .ok_or_else(|| ApiError::InvalidRequest {
                message: "You must provide a model parameter.".to_owned(),
                param: Some("model".to_owned()),
                code: Some("missing_model".to_owned()),
            })?,
    };
    let id = client.strip_prefix("models/").unwrap_or(&client);
    let aliased = settings.aliases.get(id).cloned();
    let dimensions = match aliased {
        Some(_) => settings
            .alias_dimensions
            .get(id)
            .copied()
            .or_else(|| openai_dimensions(id)),
        None => None,
    };
    let gemini = aliased.unwrap_or_else(|| id.to_owned());
    if !valid_model(&gemini) {
        return Err(ApiError::InvalidRequest {
            message: format!("Invalid model name '{client}'."),
            param: Some("model".to_owned()),
            code: Some("invalid_model".to_owned()),
        });
    }
    Ok(Resolved {
        client,
        gemini,
        dimensions,
    })
}

/// [`resolve`], with the Gemini model set on the request's trace (access log, metrics) and
/// the name the client used kept in the inspector's capture.
pub fn resolve_traced(
    settings: &Settings,
    requested: Option<&str>,
    trace: &Trace,
) -> Result<Resolved, ApiError> {
    let resolved = resolve(settings, requested)?;
    trace.set_model(&resolved.gemini);
    trace.capture(|d| d.client_model(&resolved.client));
    Ok(resolved)
}

fn options<'a>(
    config: &Config,
    aliases: &'a std::collections::BTreeMap<String, String>,
) -> ListOptions<'a> {
    ListOptions {
        aliases,
        include_all: config.list_all_models,
        // Gemini publishes no creation dates; 0 rather than an invented one.
        created: 0,
    }
}

/// Every model the credential can see, from the cache or every page of `models.list`.
async fn all_models(
    shared: &AppState,
    upstream: &Upstream,
    key: &Credentials,
    trace: &Trace,
) -> Result<Arc<Vec<Model>>, ApiError> {
    let id = key.cache_id();
    if let Some(models) = shared.models.get(&id) {
        return Ok(models);
    }
    if let Some(models) = shared.shared_models(&id).await {
        return Ok(models);
    }
    let deadline = Deadline::start(shared.config.request_timeout());
    let _permit = shared.limiter.acquire()?;
    let mut models = Vec::new();
    let mut token: Option<String> = None;
    let list = upstream.endpoint().models_list_url();
    for _ in 0..MAX_PAGES {
        let mut url = format!("{list}?pageSize=1000");
        if let Some(t) = &token {
            url.push_str("&pageToken=");
            url.push_str(&url_encode(t));
        }
        let call = Call::get(&url, key);
        let next = match upstream.endpoint().dialect() {
            Dialect::Gemini => {
                let page: ListModelsResponse =
                    gemini_json(upstream, call, trace, &deadline).await?;
                models.extend(page.models);
                page.next_page_token
            }
            Dialect::Vertex => {
                let page: ListPublisherModelsResponse =
                    gemini_json(upstream, call, trace, &deadline).await?;
                models.extend(from_publisher_models(&page.publisher_models));
                page.next_page_token
            }
        };
        token = next.filter(|t| !t.is_empty());
        if token.is_none() {
            let models = Arc::new(models);
            shared.share_models(&id, &models).await;
            shared.models.put(id, models.clone());
            return Ok(models);
        }
    }
    Err(ApiError::BadGateway {
        message: format!("The upstream model list did not end after {MAX_PAGES} pages."),
        code: Some("upstream_error".to_owned()),
    })
}

/// Percent-encodes a page token for a query string.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn list(
    req: HttpRequest,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
) -> Result<HttpResponse, ApiError> {
    let key = upstream.key_for(req.headers())?;
    let models = all_models(&shared, &upstream, &key, &Trace::of(&req)).await?;
    let options = options(&shared.config, &shared.settings.aliases);
    Ok(HttpResponse::Ok().json(to_openai_list(&models, &options)))
}

pub async fn get(
    req: HttpRequest,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
) -> Result<HttpResponse, ApiError> {
    let id = req.match_info().get("id").unwrap_or_default().to_owned();
    check_model_len(&id)?;
    let key = upstream.key_for(req.headers())?;
    let models = all_models(&shared, &upstream, &key, &Trace::of(&req)).await?;
    match find(
        &models,
        &id,
        &options(&shared.config, &shared.settings.aliases),
    ) {
        Some(model) => Ok(HttpResponse::Ok().json(model)),
        None => Err(ApiError::NotFound(format!(
            "The model '{id}' does not exist or you do not have access to it."
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resolve_applies_default_and_aliases() {
        let mut c = Config::defaults();
        let settings = |c: &Config| Settings::from_config(c).unwrap();
        assert!(resolve(&settings(&c), None).is_err());
        assert!(resolve(&settings(&c), Some("")).is_err());
        c.default_model = Some("gemini-2.5-flash".to_owned());
        c.aliases = vec!["gpt-4o=gemini-2.5-pro".to_owned()];
        assert_eq!(
            resolve(&settings(&c), None).unwrap(),
            Resolved {
                client: "gemini-2.5-flash".into(),
                gemini: "gemini-2.5-flash".into(),
                dimensions: None,
            }
        );
        assert_eq!(
            resolve(&settings(&c), Some("gpt-4o")).unwrap(),
            Resolved {
                client: "gpt-4o".into(),
                gemini: "gemini-2.5-pro".into(),
                dimensions: None,
            }
        );
        assert_eq!(
            resolve(&settings(&c), Some("models/gemini-3-pro-preview"))
                .unwrap()
                .gemini,
            "gemini-3-pro-preview"
        );
        assert!(resolve(&settings(&c), Some("../x")).is_err());
        let longest = "g".repeat(MAX_ID_LEN);
        assert_eq!(
            resolve(&settings(&c), Some(&longest)).unwrap().gemini,
            longest
        );
        let over = resolve(&settings(&c), Some(&"g".repeat(MAX_ID_LEN + 1))).unwrap_err();
        assert!(matches!(&over, ApiError::InvalidRequest { param: Some(p), .. } if p == "model"));
        assert!(
            over.to_string().len() < 100,
            "the name is not echoed: {over}"
        );
        c.aliases = vec![format!("long={}", "g".repeat(MAX_ID_LEN + 1))];
        assert!(c.validate().unwrap_err().starts_with("aliases:"));
        assert_eq!(url_encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn openai_embedding_aliases_get_openai_sizes_unless_they_name_one() {
        let mut c = Config::defaults();
        c.aliases = vec![
            "text-embedding-3-small=gemini-embedding-001".to_owned(),
            "text-embedding-3-large=gemini-embedding-001".to_owned(),
            "text-embedding-ada-002=gemini-embedding-001".to_owned(),
            "mine=gemini-embedding-001@256".to_owned(),
            "text-embedding-004=text-embedding-004@768".to_owned(),
        ];
        let settings = |c: &Config| Settings::from_config(c).unwrap();
        let dims = |c: &Config, name| resolve(&settings(c), Some(name)).unwrap().dimensions;
        assert_eq!(dims(&c, "text-embedding-3-small"), Some(1536));
        assert_eq!(dims(&c, "models/text-embedding-3-large"), Some(3072));
        assert_eq!(dims(&c, "text-embedding-ada-002"), Some(1536));
        assert_eq!(dims(&c, "mine"), Some(256));
        assert_eq!(dims(&c, "text-embedding-004"), Some(768));
        assert_eq!(
            resolve(&settings(&c), Some("mine")).unwrap().gemini,
            "gemini-embedding-001"
        );
        // Not an alias: the name goes to Gemini as it is, with Gemini's default size.
        assert_eq!(dims(&c, "gemini-embedding-001"), None);
        c.aliases = vec!["text-embedding-3-small=gemini-embedding-001@768".to_owned()];
        assert_eq!(dims(&c, "text-embedding-3-small"), Some(768));
        c.aliases.clear();
        assert_eq!(dims(&c, "text-embedding-3-small"), None);
    }
}
