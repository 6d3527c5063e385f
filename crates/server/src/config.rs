//! Runtime settings: command-line flags with environment fallbacks and sensible defaults,
//! so `pollux` starts with no config file. `docs/configuration.md` lists every setting.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// An OpenAI-compatible server in front of Google's Gemini API.
#[derive(Clone, Parser)]
#[command(name = "pollux", version, about, mut_args = boolish)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "POLLUX_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Gemini API base URL; may carry a path prefix (calls go to `{base}/v1beta/models/...`).
    /// `vertex` calls Vertex AI instead (see `--vertex-project`, docs/configuration.md).
    #[arg(
        long,
        env = "GEMINI_BASE_URL",
        default_value = "https://generativelanguage.googleapis.com"
    )]
    pub upstream: String,

    /// Vertex AI: the Google Cloud project. Set, Pollux calls the project's regional (or
    /// global) endpoint with OAuth credentials; unset, Vertex AI express mode with an API key.
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT")]
    pub vertex_project: Option<String>,

    /// Vertex AI: the location (`us-central1`, `europe-west4`, ... or `global`).
    #[arg(long, env = "GOOGLE_CLOUD_LOCATION", default_value = "global")]
    pub vertex_location: String,

    /// Vertex AI: a base URL in place of `https://{location}-aiplatform.googleapis.com` (or
    /// `https://aiplatform.googleapis.com`), for gateways and tests; may carry a path prefix.
    #[arg(long, env = "VERTEX_BASE_URL")]
    pub vertex_base_url: Option<String>,

    /// Vertex AI: a service-account (or gcloud user) JSON credentials file, tried before
    /// `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's credentials and the metadata server.
    #[arg(long, env = "POLLUX_VERTEX_CREDENTIALS")]
    pub vertex_credentials: Option<std::path::PathBuf>,

    /// Vertex AI: Google's application-default credentials file.
    #[arg(long, env = "GOOGLE_APPLICATION_CREDENTIALS")]
    pub google_application_credentials: Option<std::path::PathBuf>,

    /// Vertex AI: gcloud's configuration folder (default `~/.config/gcloud`), where
    /// `gcloud auth application-default login` writes its credentials.
    #[arg(long, env = "CLOUDSDK_CONFIG")]
    pub gcloud_config_dir: Option<std::path::PathBuf>,

    /// Vertex AI: the metadata server's `host[:port]` (GCE, GKE workload identity, Cloud Run).
    #[arg(
        long,
        env = "GCE_METADATA_HOST",
        default_value = "metadata.google.internal"
    )]
    pub gce_metadata_host: String,

    /// Gemini API key used for every request. When unset, each client's
    /// `Authorization: Bearer <key>` is forwarded as the Gemini key.
    #[arg(long = "api-key", env = "GEMINI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Seconds to establish an upstream connection.
    #[arg(long, env = "POLLUX_CONNECT_TIMEOUT", default_value_t = 10)]
    pub connect_timeout_secs: u64,

    /// Seconds to wait for the upstream's response head (thinking models can be slow).
    #[arg(long, env = "POLLUX_RESPONSE_TIMEOUT", default_value_t = 600)]
    pub response_timeout_secs: u64,

    /// Longest silence, in seconds, allowed between two upstream stream events.
    #[arg(long, env = "POLLUX_STREAM_IDLE_TIMEOUT", default_value_t = 300)]
    pub stream_idle_timeout_secs: u64,

    /// Overall cap, in seconds, on one request including its whole stream (0 = no cap).
    #[arg(long, env = "POLLUX_REQUEST_TIMEOUT", default_value_t = 900)]
    pub request_timeout_secs: u64,

    /// Seconds of silence on a running stream before Pollux sends an SSE `: keep-alive`
    /// comment (0 = never).
    #[arg(long, env = "POLLUX_KEEPALIVE", default_value_t = 15)]
    pub keepalive_secs: u64,

    /// Seconds running requests and streams get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "POLLUX_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Upstream requests (streams included) in flight at once; beyond it clients get 429
    /// (0 = unlimited).
    #[arg(long, env = "POLLUX_MAX_CONCURRENT_UPSTREAM", default_value_t = 1024)]
    pub max_concurrent_upstream: usize,

    /// Times a failed upstream request (429, 500, 503, connection refused) is repeated before
    /// the client hears of it; only ever before anything was sent to the client.
    #[arg(long, env = "POLLUX_MAX_RETRIES", default_value_t = 2)]
    pub max_retries: u32,

    /// First retry backoff in milliseconds, doubled for each further retry, with jitter.
    #[arg(long, env = "POLLUX_RETRY_BASE_MS", default_value_t = 250)]
    pub retry_base_ms: u64,

    /// Longest single wait before a retry, in seconds; a 429 asking for longer is passed to
    /// the client with `Retry-After`.
    #[arg(long, env = "POLLUX_RETRY_MAX_DELAY", default_value_t = 10)]
    pub retry_max_delay_secs: u64,

    /// Largest accepted request body in bytes (inline images make requests tens of MB).
    #[arg(long, env = "POLLUX_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most `messages` one chat request may hold (400 `too_many_items` beyond).
    #[arg(long, env = "POLLUX_MAX_MESSAGES", default_value_t = pollux_translate::openai::Limits::DEFAULT_MAX_MESSAGES)]
    pub max_messages: usize,

    /// Most content parts and history tool calls one chat request may hold, all messages
    /// together (400 `too_many_items` beyond).
    #[arg(long, env = "POLLUX_MAX_PARTS", default_value_t = pollux_translate::openai::Limits::DEFAULT_MAX_PARTS)]
    pub max_parts: usize,

    /// Most `tools` (with legacy `functions`) one chat request may declare (400
    /// `too_many_items` beyond).
    #[arg(long, env = "POLLUX_MAX_TOOLS", default_value_t = pollux_translate::openai::Limits::DEFAULT_MAX_TOOLS)]
    pub max_tools: usize,

    /// Largest accepted upstream (non-streamed) response body in bytes.
    #[arg(long, env = "POLLUX_MAX_UPSTREAM_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_upstream_body_bytes: usize,

    /// Worker threads (0 = one per CPU core).
    #[arg(long, env = "POLLUX_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Connections each worker holds open at once; past it the listener stops accepting and
    /// further connections wait in the kernel's backlog (no HTTP status) until one closes.
    #[arg(long, env = "POLLUX_MAX_CONNECTIONS", default_value_t = 25_000)]
    pub max_connections: usize,

    /// Seconds a new connection may take to send its first request head; slower ones are
    /// answered 408 and closed (0 = no limit).
    #[arg(long, env = "POLLUX_HEAD_READ_TIMEOUT", default_value_t = 5)]
    pub head_read_timeout_secs: u64,

    /// Thought signatures remembered per process for clients that drop `extra_content`.
    #[arg(long, env = "POLLUX_SIGNATURE_CACHE_SIZE", default_value_t = 10_000)]
    pub signature_cache_size: usize,

    /// Seconds a remembered thought signature stays valid.
    #[arg(long, env = "POLLUX_SIGNATURE_TTL", default_value_t = 3600)]
    pub signature_ttl_secs: u64,

    /// Responses the embedded response store keeps (`store: true`, OpenAI's default); the
    /// oldest go first. 0 keeps none.
    #[arg(long, env = "POLLUX_RESPONSE_STORE_ENTRIES", default_value_t = 10_000)]
    pub response_store_entries: usize,

    /// Bytes the embedded response store may hold; the oldest responses go first.
    #[arg(long, env = "POLLUX_RESPONSE_STORE_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub response_store_bytes: usize,

    /// Seconds a stored response is kept (OpenAI keeps 30 days; this server, by default, a
    /// day).
    #[arg(long, env = "POLLUX_RESPONSE_STORE_TTL", default_value_t = 86_400)]
    pub response_store_ttl_secs: u64,

    /// Shared state for several replicas: `redis://[user:password@]host:port/db` (or
    /// `rediss://` for TLS). The response store, the thought-signature cache, key cooldowns
    /// and invalid marks, the model-list cache and background cancels are shared through
    /// Redis; without it everything stays in this process.
    #[arg(long, env = "POLLUX_STATE")]
    pub state: Option<String>,

    /// A file holding the Redis password (its first line), for the password not to sit in
    /// `--state`'s URL, the environment or the process list (a Kubernetes Secret mounted as
    /// a file). It replaces a password the URL may hold; the user, if any, stays the URL's.
    #[arg(long, env = "POLLUX_STATE_PASSWORD_FILE")]
    pub state_password_file: Option<std::path::PathBuf>,

    /// A PEM file of the certificate authorities a `rediss://` Redis's certificate must chain
    /// to, for a Redis whose certificate no public root signs (a company CA, or one made for
    /// a test). Without it, public roots (webpki) are trusted.
    #[arg(long, env = "POLLUX_STATE_CA_FILE")]
    pub state_ca_file: Option<std::path::PathBuf>,

    /// Prefix of every Redis key Pollux writes, so several deployments can share one Redis.
    #[arg(long, env = "POLLUX_STATE_PREFIX", default_value = "pollux:")]
    pub state_prefix: String,

    /// Milliseconds one Redis operation may take before Pollux gives up on it.
    #[arg(long, env = "POLLUX_STATE_TIMEOUT_MS", default_value_t = 50)]
    pub state_timeout_ms: u64,

    /// A TOML config file; flags and environment override it (see `docs/configuration.md`).
    #[arg(long, env = "POLLUX_CONFIG", global = true)]
    pub config: Option<std::path::PathBuf>,

    /// More Gemini API keys for the upstream pool, used round-robin (comma-separated).
    #[arg(
        long = "api-keys",
        env = "GEMINI_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<String>,

    /// Keys clients must present (`Authorization: Bearer`), plain or `sha256:<hex>`
    /// (comma-separated). Needs an upstream key.
    #[arg(
        long = "client-keys",
        env = "POLLUX_CLIENT_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub client_keys: Vec<String>,

    /// Serve the upstream key to anyone on a non-loopback address without client keys.
    #[arg(long, env = "POLLUX_ALLOW_OPEN_RELAY", action = clap::ArgAction::Set,
        num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_open_relay: bool,

    /// Seconds a key answered 429 without a `RetryInfo` delay rests before reuse.
    #[arg(long, env = "POLLUX_KEY_COOLDOWN", default_value_t = 60)]
    pub key_cooldown_secs: u64,

    /// Model used when a request names none.
    #[arg(long, env = "POLLUX_DEFAULT_MODEL")]
    pub default_model: Option<String>,

    /// A model alias `NAME=GEMINI_MODEL`, e.g. `gpt-4o=gemini-2.5-pro`, or
    /// `NAME=GEMINI_MODEL@DIMENSIONS` for an embedding model's default output size
    /// (repeatable; the environment takes them comma-separated).
    #[arg(long = "alias", env = "POLLUX_MODEL_ALIASES", value_delimiter = ',')]
    pub aliases: Vec<String>,

    /// Seconds a fetched model list is reused.
    #[arg(long, env = "POLLUX_MODELS_CACHE_TTL", default_value_t = 300)]
    pub models_cache_secs: u64,

    /// List every Gemini model in `/v1/models`, not only those serving chat or embeddings.
    #[arg(long, env = "POLLUX_LIST_ALL_MODELS", action = clap::ArgAction::Set,
        num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub list_all_models: bool,

    /// Browser origins allowed by CORS (comma-separated; `*` for any). Empty: no CORS.
    #[arg(
        long = "cors-origins",
        env = "POLLUX_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// Host names (besides the listen address, `localhost` and loopback literals) a request's
    /// `Host` may name, comma-separated; `*.example.com` covers subdomains, `*` any host. On a
    /// non-loopback listen address the `Host` check applies only when this is set.
    #[arg(
        long = "allowed-hosts",
        env = "POLLUX_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Seconds a request body may take to arrive, extended by what it sends at
    /// `--body-min-rate` or faster; slower bodies are answered 408 (0 = no limit).
    #[arg(long, env = "POLLUX_BODY_READ_TIMEOUT", default_value_t = 30)]
    pub body_read_timeout_secs: u64,

    /// Bytes per second of request body that earn more time beyond `--body-read-timeout-secs`
    /// (0 = the timeout alone caps the read).
    #[arg(long, env = "POLLUX_BODY_MIN_RATE", default_value_t = 16 * 1024)]
    pub body_min_rate: u64,

    /// Download `http(s)` image URLs of chat requests and inline them (`off`: such URLs are
    /// refused with a 400). See `docs/media.md`.
    #[arg(long, env = "POLLUX_MEDIA_FETCH", action = clap::ArgAction::Set, num_args = 0..=1,
        default_value_t = true, default_missing_value = "on")]
    pub media_fetch: bool,

    /// Seconds one image fetch may take, redirects and body included.
    #[arg(long, env = "POLLUX_MEDIA_FETCH_TIMEOUT", default_value_t = 10)]
    pub media_fetch_timeout_secs: u64,

    /// Largest fetched image in bytes.
    #[arg(long, env = "POLLUX_MEDIA_MAX_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub media_max_bytes: usize,

    /// Redirects followed per image fetch.
    #[arg(long, env = "POLLUX_MEDIA_MAX_REDIRECTS", default_value_t = 3)]
    pub media_max_redirects: usize,

    /// Most distinct image URLs fetched for one request; a request naming more is refused
    /// (400) before anything is fetched.
    #[arg(long, env = "POLLUX_MAX_FETCHED_IMAGES", default_value_t = 16)]
    pub max_fetched_images: usize,

    /// Most bytes fetched for one request, all its images together; counted while the
    /// bodies stream in.
    #[arg(long, env = "POLLUX_MAX_FETCHED_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_fetched_bytes: usize,

    /// Hosts, IP addresses or CIDR networks image fetches may reach even though the SSRF
    /// guard refuses them (loopback, private, link-local, ...), comma-separated.
    #[arg(
        long = "media-allow-hosts",
        env = "POLLUX_MEDIA_ALLOW_HOSTS",
        value_delimiter = ','
    )]
    pub media_allow_hosts: Vec<String>,

    /// Refuse (400 `unsupported_parameter`) instead of dropping parameters the model cannot
    /// take; dropped ones are otherwise listed in `x-pollux-dropped-params`.
    #[arg(long, env = "POLLUX_STRICT_PARAMS")]
    pub strict_params: bool,

    /// Send tool and response schemas in Google's legacy OpenAPI-subset form for every model
    /// (for upstreams that do not take `parametersJsonSchema` / `responseJsonSchema`).
    #[arg(long, env = "POLLUX_LEGACY_SCHEMAS")]
    pub legacy_schemas: bool,

    /// Overrides of the built-in model capability table, as JSON: model-id prefix → the
    /// fields to change, e.g. `{"gemini-2.5-flash": {"penalties": true}}` (see
    /// docs/mapping.md, "Model capabilities").
    #[arg(long, env = "POLLUX_MODEL_CAPABILITIES")]
    pub model_capabilities: Option<String>,

    /// Default Gemini `safetySettings` (a JSON array) for requests that send none.
    #[arg(long, env = "POLLUX_SAFETY_SETTINGS")]
    pub safety_settings: Option<String>,

    /// The inspector page at `/` (docs/inspector.md): `auto` serves it only on a loopback
    /// listen address; `on` elsewhere too, which needs `--admin-keys`; `off` removes it.
    #[arg(long, env = "POLLUX_INSPECTOR", default_value = "auto",
        value_parser = ["auto", "on", "off"])]
    pub inspector: String,

    /// Exchanges the inspector keeps in memory (the oldest leave first).
    #[arg(long, env = "POLLUX_INSPECTOR_ENTRIES", default_value_t = 200)]
    pub inspector_entries: usize,

    /// Bytes the inspector keeps of each body; the rest is elided and its size shown.
    #[arg(long, env = "POLLUX_INSPECTOR_BODY_BYTES", default_value_t = 256 * 1024)]
    pub inspector_body_bytes: usize,

    /// Keep request and answer bodies in the inspector (`off`: metadata only).
    #[arg(long, env = "POLLUX_INSPECTOR_BODIES", action = clap::ArgAction::Set, num_args = 0..=1,
        default_value_t = true, default_missing_value = "on")]
    pub inspector_bodies: bool,

    /// Keys that open the inspector (`Authorization: Bearer`, or the page's key form), plain
    /// or `sha256:<hex>` (comma-separated); separate from client keys. Needed for
    /// `--inspector on` on a non-loopback address.
    #[arg(
        long = "admin-keys",
        env = "POLLUX_ADMIN_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub admin_keys: Vec<String>,
}

/// Secrets never reach a log line or a panic message through `{:?}`: keys show as counts.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |n: usize| format!("<{n} redacted>");
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("upstream", &self.upstream)
            .field("vertex_project", &self.vertex_project)
            .field("api_key", &redacted(usize::from(self.api_key.is_some())))
            .field("api_keys", &redacted(self.api_keys.len()))
            .field("client_keys", &redacted(self.client_keys.len()))
            .field("admin_keys", &redacted(self.admin_keys.len()))
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults for every setting (what `pollux` with no flags and no environment uses).
    pub fn defaults() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            upstream: "https://generativelanguage.googleapis.com".to_owned(),
            vertex_project: None,
            vertex_location: "global".to_owned(),
            vertex_base_url: None,
            vertex_credentials: None,
            google_application_credentials: None,
            gcloud_config_dir: None,
            gce_metadata_host: "metadata.google.internal".to_owned(),
            api_key: None,
            connect_timeout_secs: 10,
            response_timeout_secs: 600,
            stream_idle_timeout_secs: 300,
            request_timeout_secs: 900,
            keepalive_secs: 15,
            shutdown_grace_secs: 30,
            max_concurrent_upstream: 1024,
            max_retries: 2,
            retry_base_ms: 250,
            retry_max_delay_secs: 10,
            max_body_bytes: 64 * 1024 * 1024,
            max_messages: pollux_translate::openai::Limits::DEFAULT_MAX_MESSAGES,
            max_parts: pollux_translate::openai::Limits::DEFAULT_MAX_PARTS,
            max_tools: pollux_translate::openai::Limits::DEFAULT_MAX_TOOLS,
            max_upstream_body_bytes: 64 * 1024 * 1024,
            workers: 0,
            max_connections: 25_000,
            head_read_timeout_secs: 5,
            signature_cache_size: 10_000,
            signature_ttl_secs: 3600,
            response_store_entries: 10_000,
            response_store_bytes: 256 * 1024 * 1024,
            response_store_ttl_secs: 86_400,
            state: None,
            state_password_file: None,
            state_ca_file: None,
            state_prefix: "pollux:".to_owned(),
            state_timeout_ms: 50,
            config: None,
            api_keys: Vec::new(),
            client_keys: Vec::new(),
            allow_open_relay: false,
            key_cooldown_secs: 60,
            default_model: None,
            aliases: Vec::new(),
            models_cache_secs: 300,
            list_all_models: false,
            cors_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            body_read_timeout_secs: 30,
            body_min_rate: 16 * 1024,
            media_fetch: true,
            media_fetch_timeout_secs: 10,
            media_max_bytes: 20 * 1024 * 1024,
            media_max_redirects: 3,
            max_fetched_images: 16,
            max_fetched_bytes: 20 * 1024 * 1024,
            media_allow_hosts: Vec::new(),
            strict_params: false,
            legacy_schemas: false,
            safety_settings: None,
            model_capabilities: None,
            inspector: "auto".to_owned(),
            inspector_entries: 200,
            inspector_body_bytes: 256 * 1024,
            inspector_bodies: true,
            admin_keys: Vec::new(),
        }
    }

    /// The per-request item limits of chat requests.
    pub fn chat_limits(&self) -> pollux_translate::openai::Limits {
        pollux_translate::openai::Limits {
            max_messages: self.max_messages,
            max_parts: self.max_parts,
            max_tools: self.max_tools,
        }
    }

    /// The model capability table with the configured overrides.
    pub fn capability_table(
        &self,
    ) -> Result<pollux_translate::capabilities::CapabilityTable, String> {
        match &self.model_capabilities {
            Some(json) => pollux_translate::capabilities::CapabilityTable::from_json(json)
                .map_err(|e| format!("--model-capabilities / POLLUX_MODEL_CAPABILITIES: {e}")),
            None => Ok(Default::default()),
        }
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    pub fn response_timeout(&self) -> Duration {
        Duration::from_secs(self.response_timeout_secs)
    }

    pub fn stream_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.stream_idle_timeout_secs)
    }

    /// The overall cap on one request, if any.
    pub fn request_timeout(&self) -> Option<Duration> {
        (self.request_timeout_secs > 0).then(|| Duration::from_secs(self.request_timeout_secs))
    }

    /// The time a request body may take to arrive before earning more by its rate, if capped.
    pub fn body_read_timeout(&self) -> Option<Duration> {
        (self.body_read_timeout_secs > 0).then(|| Duration::from_secs(self.body_read_timeout_secs))
    }

    /// The keep-alive interval of streams, if any.
    pub fn keepalive(&self) -> Option<Duration> {
        (self.keepalive_secs > 0).then(|| Duration::from_secs(self.keepalive_secs))
    }

    /// The upstream base without a trailing slash (for `--upstream vertex`, the Vertex AI
    /// base URL the settings choose: [`Config::vertex_base`]).
    pub fn upstream_base(&self) -> &str {
        self.upstream.trim_end_matches('/')
    }

    /// Whether `--upstream vertex` chose Vertex AI.
    pub fn is_vertex(&self) -> bool {
        self.upstream.eq_ignore_ascii_case("vertex")
    }

    /// Vertex AI's base URL: the override, else the location's endpoint (`global` has no
    /// regional host; express mode uses the global host too).
    pub fn vertex_base(&self) -> String {
        if let Some(base) = &self.vertex_base_url {
            return base.trim_end_matches('/').to_owned();
        }
        let location = self.vertex_location.trim();
        if self.vertex_project.is_none() || location == "global" {
            "https://aiplatform.googleapis.com".to_owned()
        } else {
            format!("https://{location}-aiplatform.googleapis.com")
        }
    }
}

/// The one rule for boolean settings, applied by `mut_args` to every flag whose value is a
/// `bool`: the flag, its environment variable and its config-file key all accept `true`/
/// `false`, `1`/`0`, `yes`/`no`, `on`/`off` (and `y`/`n`, `t`/`f`), in any case. clap's own
/// `bool` parser takes only `true`/`false`, so `POLLUX_ALLOW_OPEN_RELAY=0` used to be refused
/// as a bad value while `POLLUX_MEDIA_FETCH=0` was accepted. Flags keep their action (a
/// bare `--strict-params` still takes no value).
fn boolish(arg: clap::Arg) -> clap::Arg {
    if is_bool(&arg) {
        arg.value_parser(clap::builder::BoolishValueParser::new())
    } else {
        arg
    }
}

/// Whether a setting's value is a `bool`.
pub fn is_bool(arg: &clap::Arg) -> bool {
    arg.get_value_parser().type_id() == clap::builder::ValueParser::bool().type_id()
}

/// Parses a boolean setting's text the way `boolish` makes clap parse it (the config
/// file's values of no-value flags, such as `strict_params = "yes"`, go through here).
pub fn parse_bool(text: &str) -> Option<bool> {
    use clap::builder::TypedValueParser;
    clap::builder::BoolishValueParser::new()
        .parse_ref(
            &clap::Command::new("pollux"),
            None,
            std::ffi::OsStr::new(text),
        )
        .ok()
}

impl Config {
    /// Whether the inspector runs: `on`, or `auto` on a loopback listen address. Whether a
    /// non-loopback `on` has its admin keys is checked by [`Config::validate`].
    pub fn inspector_enabled(&self) -> bool {
        match self.inspector.as_str() {
            "on" => true,
            "off" => false,
            _ => self.listen.ip().is_loopback(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::defaults()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    #[test]
    fn debug_output_never_shows_keys() {
        let mut c = Config::defaults();
        c.api_key = Some("AIzaSecretOne".to_owned());
        c.api_keys = vec!["AIzaSecretTwo".to_owned()];
        c.client_keys = vec!["client-secret".to_owned()];
        let shown = format!("{c:?}");
        for secret in ["AIzaSecretOne", "AIzaSecretTwo", "client-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("<1 redacted>"), "{shown}");
        let own = crate::keys::Credentials::Client("AIzaSecretThree".to_owned());
        assert!(!format!("{own:?}").contains("AIzaSecretThree"));
    }
    use super::*;

    #[test]
    fn defaults_match_clap_defaults() {
        let parsed = Config::try_parse_from(["pollux"]).unwrap();
        let defaults = Config::defaults();
        assert_eq!(parsed.listen, defaults.listen);
        assert_eq!(parsed.max_body_bytes, defaults.max_body_bytes);
        assert_eq!(parsed.chat_limits(), defaults.chat_limits());
        assert_eq!(
            defaults.chat_limits(),
            pollux_translate::openai::Limits::default()
        );
        assert_eq!(parsed.response_timeout_secs, defaults.response_timeout_secs);
        assert_eq!(parsed.request_timeout_secs, defaults.request_timeout_secs);
        assert_eq!(parsed.keepalive_secs, defaults.keepalive_secs);
        assert_eq!(parsed.shutdown_grace_secs, defaults.shutdown_grace_secs);
        assert_eq!(
            parsed.body_read_timeout_secs,
            defaults.body_read_timeout_secs
        );
        assert_eq!(parsed.body_min_rate, defaults.body_min_rate);
        assert_eq!(
            parsed.max_concurrent_upstream,
            defaults.max_concurrent_upstream
        );
        assert_eq!(parsed.max_connections, defaults.max_connections);
        assert_eq!(
            parsed.head_read_timeout_secs,
            defaults.head_read_timeout_secs
        );
    }

    #[test]
    fn allowed_hosts_are_checked_at_start_up() {
        let mut c = Config::defaults();
        c.allowed_hosts = vec!["pollux.internal".to_owned(), "*.corp.example".to_owned()];
        assert!(c.validate().is_ok());
        c.allowed_hosts = vec!["https://pollux.internal".to_owned()];
        assert!(c.validate().unwrap_err().starts_with("allowed_hosts:"));
    }

    #[test]
    fn upstream_must_be_http() {
        let mut c = Config::defaults();
        c.upstream = "ftp://x".to_owned();
        assert!(c.validate().is_err());
        c.upstream = "https://gateway.example.com/v1/".to_owned();
        assert!(c.validate().is_ok());
        assert_eq!(c.upstream_base(), "https://gateway.example.com/v1");
    }
}
