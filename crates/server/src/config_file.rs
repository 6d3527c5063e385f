//! The TOML config file and the rules that join it to flags and environment.
//!
//! Precedence is flags > environment > file > defaults. The file is flat: each key is the
//! name of a setting (`listen`, `api_keys`, `response_timeout_secs`, ... — the long flag with
//! `_` for `-` also works), so every flag, including ones added later, can be set from the
//! file without a second list to keep in sync. A file value is applied only to settings that
//! neither a flag nor the environment set (clap's `ArgMatches::value_source` says which), by
//! handing it to clap as if it were a flag: it goes through the very parser, and the very
//! checks, a flag goes through. Arrays become repeated values; a table (`[aliases]`) becomes
//! `NAME=VALUE` entries. An unknown key or a bad value is an error naming the key and file.
//!
//! This module also holds the derived values of the service settings (key pool, aliases)
//! and the redacted listing `pollux check-config` prints; their checks are in
//! [`crate::settings`].

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};
use sha2::{Digest, Sha256};

use crate::config::{is_bool, parse_bool, Config};

/// Args of the command line that are not settings.
const NOT_SETTINGS: &[&str] = &["help", "version", "config"];

/// A parsed command line with its config file applied.
#[derive(Debug)]
pub struct Loaded<P> {
    pub value: P,
    matches: ArgMatches,
    from_file: BTreeSet<String>,
    file: Option<String>,
}

/// Why loading failed.
#[derive(Debug)]
pub enum LoadError {
    /// clap's own answer (also `--help` and `--version`): print it with `exit()`.
    Cli(clap::Error),
    /// A problem with the file, naming the file and key.
    File(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Cli(e) => write!(f, "{e}"),
            LoadError::File(e) => f.write_str(e),
        }
    }
}

/// Parses `args` (program name first) as `P`, applying the config file that `--config` /
/// `POLLUX_CONFIG` names, if any.
pub fn load<P: CommandFactory + FromArgMatches>(
    args: Vec<OsString>,
) -> Result<Loaded<P>, LoadError> {
    let command = P::command();
    let first = command
        .clone()
        .try_get_matches_from(&args)
        .map_err(LoadError::Cli)?;
    let path = config_path(&first);
    let (mut synthesized, from_file) = match &path {
        Some(path) => file_args(&command, &first, Path::new(path))?,
        None => (Vec::new(), BTreeSet::new()),
    };
    // File values go right after the program name, before any subcommand.
    let mut full: Vec<OsString> = args.iter().take(1).cloned().collect();
    full.append(&mut synthesized);
    full.extend(args.iter().skip(1).cloned());
    let matches = command
        .try_get_matches_from(&full)
        .map_err(LoadError::Cli)?;
    let value = P::from_arg_matches(&matches).map_err(LoadError::Cli)?;
    Ok(Loaded {
        value,
        matches,
        from_file,
        file: path,
    })
}

/// The `--config` value, at the top level or inside a subcommand (it is a global arg).
fn config_path(matches: &ArgMatches) -> Option<String> {
    let here = matches
        .try_get_one::<std::path::PathBuf>("config")
        .ok()
        .flatten()
        .map(|p| p.display().to_string());
    here.or_else(|| matches.subcommand().and_then(|(_, sub)| config_path(sub)))
}

fn was_set_outside_file(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// The file's values as command-line arguments, for settings not set by flag or environment.
fn file_args(
    command: &clap::Command,
    matches: &ArgMatches,
    path: &Path,
) -> Result<(Vec<OsString>, BTreeSet<String>), LoadError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError::File(format!("config file {shown}: cannot read it: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| LoadError::File(format!("config file {shown}: not valid TOML: {e}")))?;
    let mut out = Vec::new();
    let mut from_file = BTreeSet::new();
    for (key, value) in &table {
        let wanted = key.replace('-', "_");
        let arg = command
            .get_arguments()
            .find(|a| {
                let id = a.get_id().as_str();
                !NOT_SETTINGS.contains(&id)
                    && (id == wanted || a.get_long().is_some_and(|l| l.replace('-', "_") == wanted))
            })
            .ok_or_else(|| {
                LoadError::File(format!(
                    "config file {shown}: unknown key '{key}' (see docs/configuration.md)"
                ))
            })?;
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else {
            continue;
        };
        let args = value_args(long, arg.get_action(), value).map_err(|problem| {
            LoadError::File(format!("config file {shown}: key '{key}': {problem}"))
        })?;
        // Check the value alone, so an error names the key rather than a flag.
        let mut probe: Vec<OsString> = vec![command.get_name().into()];
        probe.extend(args.iter().cloned());
        if let Err(e) = command.clone().try_get_matches_from(probe) {
            return Err(LoadError::File(format!(
                "config file {shown}: key '{key}': {}",
                first_line(&e)
            )));
        }
        if was_set_outside_file(matches, id) {
            continue;
        }
        from_file.insert(id.to_owned());
        out.extend(args);
    }
    Ok((out, from_file))
}

/// clap's message without the `error: ` prefix and the usage hint.
fn first_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// One TOML value as `--long=...` arguments.
fn value_args(
    long: &str,
    action: &ArgAction,
    value: &toml::Value,
) -> Result<Vec<OsString>, String> {
    let scalar = |v: &toml::Value| -> Result<String, String> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            other => Err(format!(
                "expected a string, number or boolean, got {}",
                other.type_str()
            )),
        }
    };
    let flag = |v: String| OsString::from(format!("--{long}={v}"));
    match (action, value) {
        // A flag that takes no value is given or left out; its key still takes every
        // spelling of a boolean the flag's environment variable takes.
        (ArgAction::SetTrue, value) => {
            let on = match value {
                toml::Value::Boolean(b) => Some(*b),
                toml::Value::String(s) => parse_bool(s),
                toml::Value::Integer(i) => parse_bool(&i.to_string()),
                _ => None,
            };
            match on {
                Some(true) => Ok(vec![OsString::from(format!("--{long}"))]),
                Some(false) => Ok(Vec::new()),
                None => Err(format!(
                    "expected true or false (or 1/0, yes/no, on/off), got {}",
                    scalar(value).unwrap_or_else(|_| value.type_str().to_owned())
                )),
            }
        }
        (ArgAction::SetFalse, other) => {
            Err(format!("expected true or false, got {}", other.type_str()))
        }
        (ArgAction::Append, toml::Value::Array(items)) => {
            items.iter().map(|v| scalar(v).map(flag)).collect()
        }
        (ArgAction::Append, toml::Value::Table(entries)) => entries
            .iter()
            .map(|(k, v)| scalar(v).map(|v| flag(format!("{k}={v}"))))
            .collect(),
        (_, toml::Value::Array(_) | toml::Value::Table(_)) => {
            Err(format!("expected a single value, got {}", value.type_str()))
        }
        (_, v) => Ok(vec![flag(scalar(v)?)]),
    }
}

impl<P> Loaded<P> {
    /// Every setting with its effective value and where it came from, one `key = value  #
    /// source` line each; secrets (the args whose env values clap hides) appear only as key
    /// fingerprints.
    pub fn describe(&self, command: &clap::Command) -> String {
        let mut out = String::new();
        if let Some(file) = &self.file {
            out.push_str(&format!("# config file: {file}\n"));
        }
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if NOT_SETTINGS.contains(&id) {
                continue;
            }
            let values: Vec<String> = self
                .matches
                .get_raw(id)
                .map(|vals| {
                    vals.map(|v| v.to_string_lossy().into_owned())
                        .flat_map(|v| match arg.get_value_delimiter() {
                            Some(d) => v.split(d).map(str::to_owned).collect::<Vec<_>>(),
                            None => vec![v],
                        })
                        .collect()
                })
                .unwrap_or_default();
            let secret = arg.is_hide_env_values_set();
            let shown: Vec<String> = values
                .iter()
                .map(|v| {
                    if secret {
                        format!("\"<redacted {}>\"", fingerprint(v))
                    } else if let Some(b) = is_bool(arg).then(|| parse_bool(v)).flatten() {
                        // The effective value, not the spelling (`0`, `on`, ...) it came as.
                        b.to_string()
                    } else if v.parse::<i64>().is_ok() || v == "true" || v == "false" {
                        v.clone()
                    } else {
                        serde_json::Value::String(v.clone()).to_string()
                    }
                })
                .collect();
            let rendered = match (arg.get_action(), shown.len()) {
                (ArgAction::Append, _) => format!("[{}]", shown.join(", ")),
                (_, 0) => "# (unset)".to_owned(),
                _ => shown.join(", "),
            };
            let source = if self.from_file.contains(id) {
                "file"
            } else {
                match self.matches.value_source(id) {
                    Some(ValueSource::CommandLine) => "flag",
                    Some(ValueSource::EnvVariable) => "env",
                    Some(ValueSource::DefaultValue) => "default",
                    _ => "unset",
                }
            };
            if rendered.starts_with('#') {
                out.push_str(&format!("# {id} (unset)\n"));
            } else {
                out.push_str(&format!("{id} = {rendered}  # {source}\n"));
            }
        }
        out
    }
}

impl Config {
    /// The upstream key pool: `api_key` first, then `api_keys`, without duplicates or blanks.
    pub fn pool_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for key in self.api_key.iter().chain(&self.api_keys) {
            let key = key.trim();
            if !key.is_empty() && !keys.iter().any(|k| k == key) {
                keys.push(key.to_owned());
            }
        }
        keys
    }

    /// `aliases` as a map (entries are `NAME=MODEL` or `NAME=MODEL@DIMENSIONS`;
    /// [`Config::validate`] refuses others), without the dimensions.
    pub fn alias_map(&self) -> BTreeMap<String, String> {
        self.aliases
            .iter()
            .filter_map(|a| a.split_once('='))
            .map(|(name, target)| {
                let model = split_dimensions(target).0;
                (
                    name.trim().to_owned(),
                    model.strip_prefix("models/").unwrap_or(model).to_owned(),
                )
            })
            .collect()
    }
}

/// The first 8 hex digits of the key's SHA-256: enough to tell keys apart in a log, useless
/// for recovering one. Here, below the key pool, because `check-config` prints them too.
pub fn fingerprint(key: &str) -> String {
    Sha256::digest(key.as_bytes())[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The longest identifier a client (or the config) may send that ends up in an upstream
/// URL: model names, native path segments. Gemini's model ids are 20 to 45 characters and
/// Google's resource ids at most 63 (AIP-122), so 256 leaves ample room, while a 65 KB name
/// made the upstream URL too long for the HTTP client and the client got a 502 for its own
/// mistake. Checked by [`crate::routes::models::check_id_len`].
pub const MAX_ID_LEN: usize = 256;

/// An alias target `MODEL` or `MODEL@DIMENSIONS`: the model, and the dimensions when they
/// are a positive number (`@` cannot occur in a model name, see [`valid_model`]).
pub(crate) fn split_dimensions(target: &str) -> (&str, Option<u32>) {
    let target = target.trim();
    match target.rsplit_once('@') {
        Some((model, dims)) => (
            model.trim(),
            dims.trim().parse::<u32>().ok().filter(|d| *d > 0),
        ),
        None => (target, None),
    }
}

/// A Gemini model id as it may appear in a URL path.
pub fn valid_model(model: &str) -> bool {
    let id = model.strip_prefix("models/").unwrap_or(model);
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use clap::Parser;

    fn file(text: &str) -> tempfile_lite::TempFile {
        tempfile_lite::TempFile::new(text)
    }

    /// A tiny temp file helper: no extra dev-dependency for one use.
    mod tempfile_lite {
        pub struct TempFile(pub std::path::PathBuf);
        impl TempFile {
            pub fn new(text: &str) -> TempFile {
                let path = std::env::temp_dir().join(format!(
                    "pollux-config-test-{}.toml",
                    uuid::Uuid::new_v4().simple()
                ));
                std::fs::write(&path, text).unwrap();
                TempFile(path)
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn file_fills_what_flags_leave() {
        let f = file(
            "listen = \"127.0.0.1:9000\"\nresponse_timeout_secs = 5\napi_keys = [\"a\", \"b\"]\n\
             allow_open_relay = true\n[aliases]\ngpt-4o = \"gemini-2.5-pro\"\n",
        );
        let path = f.0.display().to_string();
        let loaded: Loaded<Config> = load(args(&[
            "pollux",
            "--config",
            &path,
            "--response-timeout-secs",
            "7",
        ]))
        .unwrap();
        let c = &loaded.value;
        assert_eq!(c.listen.port(), 9000, "file beats default");
        assert_eq!(c.response_timeout_secs, 7, "flag beats file");
        assert_eq!(c.api_keys, ["a", "b"]);
        assert!(c.allow_open_relay);
        assert_eq!(c.alias_map()["gpt-4o"], "gemini-2.5-pro");
        let described = loaded.describe(&Config::command());
        assert!(
            described.contains("listen = \"127.0.0.1:9000\"  # file"),
            "{described}"
        );
        assert!(
            described.contains("response_timeout_secs = 7  # flag"),
            "{described}"
        );
        assert!(
            described.contains("api_keys = [\"<redacted "),
            "{described}"
        );
        assert!(!described.contains("\"a\""), "{described}");
    }

    #[test]
    fn bad_file_values_name_the_key() {
        for (text, needle) in [
            ("listen = \"nowhere\"\n", "key 'listen'"),
            ("bogus = 1\n", "unknown key 'bogus'"),
            ("workers = \"many\"\n", "key 'workers'"),
            ("api_keys = { a = 1 }\nlisten = [1]\n", "key 'listen'"),
            ("listen = ", "not valid TOML"),
        ] {
            let f = file(text);
            let path = f.0.display().to_string();
            let err = load::<Config>(args(&["pollux", "--config", &path])).unwrap_err();
            let LoadError::File(message) = err else {
                panic!("{text}: not a file error: {err}");
            };
            assert!(message.contains(needle), "{text}: {message}");
            assert!(message.contains(&path), "{message}");
        }
        let err = load::<Config>(args(&["pollux", "--config", "/nonexistent/pollux.toml"]));
        assert!(matches!(err, Err(LoadError::File(m)) if m.contains("cannot read")));
    }

    #[test]
    fn service_settings_are_checked() {
        let mut c = Config::defaults();
        assert!(c.validate().is_ok());
        c.client_keys = vec!["sha256:xyz".to_owned()];
        c.api_key = Some("k".to_owned());
        assert!(c.validate().unwrap_err().starts_with("client_keys:"));
        c.client_keys = vec![format!("sha256:{}", "0".repeat(64))];
        assert!(c.validate().is_ok());
        c.aliases = vec!["gpt-4o".to_owned()];
        assert!(c.validate().unwrap_err().starts_with("aliases:"));
        c.aliases = vec!["gpt-4o=models/gemini-2.5-pro".to_owned()];
        assert!(c.validate().is_ok());
        assert_eq!(c.alias_map()["gpt-4o"], "gemini-2.5-pro");
        let dims = |c: &Config| {
            crate::settings::Settings::from_config(c)
                .unwrap()
                .alias_dimensions
        };
        assert!(dims(&c).is_empty());
        c.aliases = vec!["small = gemini-embedding-001 @ 768".to_owned()];
        assert!(c.validate().is_ok());
        assert_eq!(c.alias_map()["small"], "gemini-embedding-001");
        assert_eq!(dims(&c).get("small"), Some(&768));
        for bad in [
            "small=gemini-embedding-001@",
            "small=gemini-embedding-001@0",
            "small=x@y",
        ] {
            c.aliases = vec![bad.to_owned()];
            assert!(c.validate().unwrap_err().starts_with("aliases:"), "{bad}");
        }
        c.aliases = Vec::new();
        c.default_model = Some("bad model".to_owned());
        assert!(c.validate().unwrap_err().starts_with("default_model:"));
        c.default_model = None;
        c.cors_origins = vec!["app.example.com".to_owned()];
        assert!(c.validate().unwrap_err().starts_with("cors_origins:"));
        c.api_key = Some(" k ".to_owned());
        c.api_keys = vec!["k".to_owned(), "j".to_owned()];
        assert_eq!(c.pool_keys(), ["k", "j"]);
    }

    /// Every boolean setting, as (config-file key, flag takes a value).
    fn bool_settings() -> Vec<(String, bool)> {
        let command = Config::command();
        let found: Vec<(String, bool)> = command
            .get_arguments()
            .filter(|a| is_bool(a))
            .map(|a| {
                (
                    a.get_id().as_str().to_owned(),
                    !matches!(a.get_action(), ArgAction::SetTrue),
                )
            })
            .collect();
        for known in [
            "allow_open_relay",
            "list_all_models",
            "media_fetch",
            "strict_params",
            "legacy_schemas",
        ] {
            assert!(
                found.iter().any(|(id, _)| id == known),
                "{known}: {found:?}"
            );
        }
        found
    }

    const TRUE: &[&str] = &["1", "true", "TRUE", "yes", "on", "y", "t"];
    const FALSE: &[&str] = &["0", "false", "False", "no", "off", "n", "f"];

    /// What a boolean setting parsed as.
    fn bool_value(c: &Config, id: &str) -> bool {
        match id {
            "allow_open_relay" => c.allow_open_relay,
            "list_all_models" => c.list_all_models,
            "media_fetch" => c.media_fetch,
            "strict_params" => c.strict_params,
            "legacy_schemas" => c.legacy_schemas,
            "inspector_bodies" => c.inspector_bodies,
            other => panic!("a new boolean setting '{other}': add it here"),
        }
    }

    #[test]
    fn every_boolean_setting_takes_every_spelling_in_the_file() {
        for (id, _) in bool_settings() {
            let cases = TRUE
                .iter()
                .map(|v| (format!("\"{v}\""), true))
                .chain(FALSE.iter().map(|v| (format!("\"{v}\""), false)))
                .chain([
                    ("true".to_owned(), true),
                    ("false".to_owned(), false),
                    ("1".to_owned(), true),
                    ("0".to_owned(), false),
                ]);
            for (value, want) in cases {
                let f = file(&format!("{id} = {value}\n"));
                let path = f.0.display().to_string();
                let loaded: Loaded<Config> = load(args(&["pollux", "--config", &path]))
                    .unwrap_or_else(|e| panic!("{id} = {value}: {e}"));
                assert_eq!(bool_value(&loaded.value, &id), want, "{id} = {value}");
                let described = loaded.describe(&Config::command());
                assert!(
                    described.contains(&format!("{id} = {want}  # file")),
                    "{id} = {value}: {described}"
                );
            }
            let f = file(&format!("{id} = \"maybe\"\n"));
            let path = f.0.display().to_string();
            let err = load::<Config>(args(&["pollux", "--config", &path])).unwrap_err();
            assert!(err.to_string().contains(&format!("key '{id}'")), "{err}");
        }
    }

    #[test]
    fn every_boolean_flag_takes_every_spelling() {
        for (id, takes_value) in bool_settings() {
            let flag = format!("--{}", id.replace('_', "-"));
            let bare = Config::try_parse_from(["pollux", flag.as_str()]).unwrap();
            assert!(bool_value(&bare, &id), "{flag} alone turns it on");
            if !takes_value {
                continue;
            }
            for (spellings, want) in [(TRUE, true), (FALSE, false)] {
                for v in spellings {
                    let c = Config::try_parse_from(["pollux", &format!("{flag}={v}")])
                        .unwrap_or_else(|e| panic!("{flag}={v}: {e}"));
                    assert_eq!(bool_value(&c, &id), want, "{flag}={v}");
                }
            }
            assert!(Config::try_parse_from(["pollux", &format!("{flag}=maybe")]).is_err());
        }
        assert_eq!(parse_bool("On"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("2"), None);
    }

    #[test]
    fn clap_parses_the_new_flags() {
        let c = Config::try_parse_from([
            "pollux",
            "--api-keys",
            "a,b",
            "--alias",
            "x=gemini-2.5-flash",
            "--allow-open-relay",
            "--cors-origins",
            "*",
        ])
        .unwrap();
        assert_eq!(c.api_keys, ["a", "b"]);
        assert!(c.allow_open_relay);
        assert_eq!(c.cors_origins, ["*"]);
        let d = Config::defaults();
        assert_eq!(
            Config::try_parse_from(["pollux"])
                .unwrap()
                .models_cache_secs,
            d.models_cache_secs
        );
        assert_eq!(
            Config::try_parse_from(["pollux"])
                .unwrap()
                .key_cooldown_secs,
            d.key_cooldown_secs
        );
    }
}
