//! The settings in typed form, parsed and checked once at start-up ([`Settings::from_config`])
//! and read by the handlers from then on: the aliases, the default model, the default
//! `safetySettings`, the media allow-list, the `--allowed-hosts` rule and the capability
//! table. A request never re-parses a flag's text, and a value that does not parse stops
//! start-up (and `pollux check-config`) with a message naming its flag, instead of being
//! replaced by a default at run time. [`Config::validate`] is this parse with the result
//! dropped.
//!
//! The types of the allow-list and the host rule stay with the code that enforces them
//! ([`crate::media::guard`], [`crate::guard`]); this module is above them so it can keep
//! their parsed values.

use std::collections::BTreeMap;
use std::sync::Arc;

use pollux_translate::capabilities::CapabilityTable;
use serde_json::value::RawValue;

use crate::config::Config;
use crate::config_file::{split_dimensions, valid_model};
use crate::guard::HostRule;
use crate::keys::{check_exposure, parse_digest};
use crate::media::AllowList;

/// The parsed settings, shared by every worker through [`crate::state::AppState`].
#[derive(Debug)]
pub struct Settings {
    /// `--default-model`, for requests that name none.
    pub default_model: Option<String>,
    /// `--alias NAME=MODEL`, model ids without `models/`.
    pub aliases: BTreeMap<String, String>,
    /// The embedding sizes aliases ask for (`--alias NAME=MODEL@DIMENSIONS`).
    pub alias_dimensions: BTreeMap<String, u32>,
    /// `--safety-settings`, checked to be a JSON array and passed on as written.
    pub safety_settings: Option<Box<RawValue>>,
    /// `--media-allow-hosts`.
    pub media_allow: Arc<AllowList>,
    /// `--allowed-hosts`.
    pub allowed_hosts: HostRule,
    /// What each model accepts: built in, with `--model-capabilities` over it.
    pub capabilities: CapabilityTable,
}

impl Settings {
    /// Checks what clap cannot, in a fixed order (the first error is the one reported), and
    /// keeps what it parsed.
    pub fn from_config(config: &Config) -> Result<Settings, String> {
        let base = config.upstream_base();
        if !(config.is_vertex() || base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "--upstream / GEMINI_BASE_URL must be an http:// or https:// URL or 'vertex', got '{base}'"
            ));
        }
        crate::endpoint::check(config)?;
        if config.is_vertex() && config.vertex_project.is_some() {
            // A credentials file that is named but unusable stops start-up here.
            crate::gcp_auth::Credential::discover(config)?;
        }
        if config.api_key.as_deref() == Some("") {
            return Err("GEMINI_API_KEY is set but empty".to_owned());
        }
        check_service(config)?;
        if let Some(url) = &config.state {
            // The URL may hold a password: the message never quotes it.
            redis::Client::open(url.as_str()).map_err(|e| {
                format!(
                    "--state / POLLUX_STATE is not a usable redis:// or rediss:// URL ({})",
                    e.category()
                )
            })?;
        }
        if config.max_connections == 0 {
            // actix would never accept a connection: a server that hangs every client.
            return Err("--max-connections / POLLUX_MAX_CONNECTIONS must be at least 1".to_owned());
        }
        if config.inspector_enabled()
            && !config.listen.ip().is_loopback()
            && config.admin_keys.is_empty()
        {
            return Err("--inspector on with a non-loopback --listen needs --admin-keys: the page shows every prompt and answer".to_owned());
        }
        for key in &config.admin_keys {
            if let Some(hexed) = key.strip_prefix("sha256:") {
                if parse_digest(hexed).is_none() {
                    return Err("--admin-keys: a 'sha256:' entry must be 64 hex digits".to_owned());
                }
            }
        }
        let media_allow = Arc::new(AllowList::parse(&config.media_allow_hosts)?);
        let allowed_hosts = HostRule::parse(&config.allowed_hosts)?;
        let capabilities = config.capability_table()?;
        let safety_settings = safety_settings(config)?;
        Ok(Settings {
            default_model: config.default_model.clone(),
            aliases: config.alias_map(),
            alias_dimensions: alias_dimensions(config),
            safety_settings,
            media_allow,
            allowed_hosts,
            capabilities,
        })
    }
}

impl Config {
    /// Whether [`Settings::from_config`] accepts this configuration; the error names the
    /// setting at fault.
    pub fn validate(&self) -> Result<(), String> {
        Settings::from_config(self).map(drop)
    }
}

/// The aliases that name an embedding size, by alias name.
fn alias_dimensions(config: &Config) -> BTreeMap<String, u32> {
    config
        .aliases
        .iter()
        .filter_map(|a| a.split_once('='))
        .filter_map(|(name, target)| Some((name.trim().to_owned(), split_dimensions(target).1?)))
        .collect()
}

/// `--safety-settings` as the raw JSON the translator splices into every request.
fn safety_settings(config: &Config) -> Result<Option<Box<RawValue>>, String> {
    let Some(text) = &config.safety_settings else {
        return Ok(None);
    };
    let refused = || {
        "--safety-settings / POLLUX_SAFETY_SETTINGS must be a JSON array of Gemini safety settings"
            .to_owned()
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(_)) => {}
        _ => return Err(refused()),
    }
    RawValue::from_string(text.clone())
        .map(Some)
        .map_err(|_| refused())
}

/// The checks of the service settings, each error naming its setting.
fn check_service(config: &Config) -> Result<(), String> {
    if config.api_keys.iter().any(|k| k.trim().is_empty()) {
        return Err("api_keys: an entry is empty".to_owned());
    }
    for (i, key) in config.client_keys.iter().enumerate() {
        if key.trim().is_empty() {
            return Err(format!("client_keys: entry {} is empty", i + 1));
        }
        if let Some(hexed) = key.strip_prefix("sha256:") {
            if parse_digest(hexed).is_none() {
                return Err(format!(
                        "client_keys: entry {} starts with 'sha256:' but is not followed by 64 hex digits",
                        i + 1
                    ));
            }
        }
    }
    for alias in &config.aliases {
        let ok = alias.split_once('=').is_some_and(|(n, target)| {
            let (model, dims) = split_dimensions(target);
            let dims_ok = target.trim().split_once('@').is_none() || dims.is_some();
            !n.trim().is_empty() && valid_model(model) && dims_ok
        });
        if !ok {
            return Err(format!(
                "aliases: '{alias}' is not NAME=GEMINI_MODEL or NAME=GEMINI_MODEL@DIMENSIONS \
                 (e.g. gpt-4o=gemini-2.5-pro, text-embedding-3-small=gemini-embedding-001@768)"
            ));
        }
    }
    if let Some(model) = &config.default_model {
        if !valid_model(model) {
            return Err(format!("default_model: '{model}' is not a model name"));
        }
    }
    for origin in &config.cors_origins {
        let ok = origin == "*"
            || ((origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/'));
        if !ok {
            return Err(format!(
                "cors_origins: '{origin}' is not an origin like https://app.example.com (or *)"
            ));
        }
    }
    check_exposure(config)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn values_are_parsed_once_into_their_types() {
        let mut c = Config::defaults();
        c.aliases = vec![" gpt-4o = models/gemini-2.5-pro".to_owned()];
        c.default_model = Some("gemini-2.5-flash".to_owned());
        c.safety_settings = Some(
            r#"[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]"#.to_owned(),
        );
        c.media_allow_hosts = vec!["10.1.0.0/16".to_owned()];
        let s = Settings::from_config(&c).unwrap();
        assert_eq!(s.aliases["gpt-4o"], "gemini-2.5-pro");
        assert_eq!(s.default_model.as_deref(), Some("gemini-2.5-flash"));
        // Passed on byte for byte, as the per-request copy was.
        assert_eq!(
            s.safety_settings.as_deref().map(RawValue::get),
            c.safety_settings.as_deref()
        );
        assert!(s.media_allow.permits("10.1.2.3".parse().unwrap()));
        assert!(!s.media_allow.permits("10.2.0.1".parse().unwrap()));
    }

    /// A flag's expected message prefix and the change that spoils it.
    type Case = (&'static str, fn(&mut Config));

    #[test]
    fn a_bad_value_stops_start_up_naming_its_flag() {
        let cases: [Case; 6] = [
            ("allowed_hosts:", |c| {
                c.allowed_hosts = vec!["https://x".to_owned()]
            }),
            ("--media-allow-hosts:", |c| {
                c.media_allow_hosts = vec!["10.0.0.0/99".to_owned()]
            }),
            ("--model-capabilities", |c| {
                c.model_capabilities = Some("{not json".to_owned())
            }),
            ("--safety-settings", |c| {
                c.safety_settings = Some(r#"{"category":"x"}"#.to_owned())
            }),
            ("aliases:", |c| {
                c.aliases = vec!["no-equals-sign".to_owned()]
            }),
            ("--max-connections", |c| c.max_connections = 0),
        ];
        for (named, spoil) in cases {
            let mut c = Config::defaults();
            spoil(&mut c);
            let err = Settings::from_config(&c).unwrap_err();
            assert!(err.starts_with(named), "{named}: {err}");
            assert_eq!(c.validate().unwrap_err(), err, "validate says the same");
            // `bind` parses the same way and refuses to start.
            let refused = crate::bind(c).err().map(|e| e.to_string());
            assert_eq!(refused.as_deref(), Some(err.as_str()), "{named}");
        }
    }
}
