//! Vertex AI's OAuth access tokens: finding the credentials the way Google's client libraries
//! do ([application default credentials](https://cloud.google.com/docs/authentication/application-default-credentials)),
//! fetching tokens, and refreshing them early in one background task shared by every worker.
//!
//! The order: the file `--vertex-credentials` names, then `GOOGLE_APPLICATION_CREDENTIALS`,
//! then gcloud's `application_default_credentials.json`, then the metadata server (GCE, GKE
//! workload identity, Cloud Run). A file is a service account (an RS256 JWT signed with its
//! key, exchanged at the file's `token_uri` for the `cloud-platform` scope, as in
//! [RFC 7523](https://www.rfc-editor.org/rfc/rfc7523)) or gcloud's user credentials (a
//! refresh token). External-account files (workload identity federation) are refused at
//! start-up: no well-kept crate covers them without pulling in a second HTTP stack.
//!
//! The refresher runs on its own thread (one actix system, one awc client) and publishes the
//! current token through a `watch` channel; a request reads it without waiting, except for
//! the very first token. A failed refresh is retried with backoff while the current token
//! stays in use; once it has expired, requests are answered 503 naming the credential
//! source (never a secret). The thread ends when the last receiver (the server) is dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::Config;
use crate::failure::UpstreamFailure;

/// The OAuth scope Vertex AI needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, for files that do not name one.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// How long a signed assertion is valid (Google's maximum).
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// Refresh this long before expiry (Google's libraries use 3 min 45 s), or a quarter of the
/// token's lifetime if that is shorter.
const REFRESH_MARGIN: Duration = Duration::from_secs(225);
/// A token counts as expired this much before its end (a tenth of its lifetime if that is
/// shorter), so a request never reaches Vertex AI with a token that expires on the way.
const EXPIRY_SKEW: Duration = Duration::from_secs(10);
/// The longest wait between two attempts after a failed refresh.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where the tokens come from.
pub enum Credential {
    ServiceAccount {
        path: PathBuf,
        email: String,
        key_id: Option<String>,
        key: Box<EncodingKey>,
        token_uri: String,
    },
    AuthorizedUser {
        path: PathBuf,
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
    },
    Metadata {
        base: String,
    },
}

impl Credential {
    /// Names the source for logs and 503s: never a secret.
    pub fn describe(&self) -> String {
        match self {
            Credential::ServiceAccount { path, email, .. } => {
                format!("the service account {email} ({})", path.display())
            }
            Credential::AuthorizedUser { path, .. } => {
                format!("the gcloud user credentials in {}", path.display())
            }
            Credential::Metadata { base } => format!("the metadata server at {base}"),
        }
    }

    /// The credentials Google's libraries would use, in their order. A file that is named
    /// but cannot be used is an error (naming the file), not a reason to try the next.
    pub fn discover(config: &Config) -> Result<Credential, String> {
        if let Some(path) = &config.vertex_credentials {
            return load(path, "--vertex-credentials / POLLUX_VERTEX_CREDENTIALS");
        }
        if let Some(path) = &config.google_application_credentials {
            return load(path, "GOOGLE_APPLICATION_CREDENTIALS");
        }
        let gcloud = config.gcloud_config_dir.clone().or_else(|| {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".config").join("gcloud"))
        });
        if let Some(file) = gcloud.map(|dir| dir.join("application_default_credentials.json")) {
            if file.is_file() {
                return load(&file, "gcloud's application default credentials");
            }
        }
        let host = config.gce_metadata_host.trim().trim_end_matches('/');
        let base = if host.starts_with("http://") || host.starts_with("https://") {
            host.to_owned()
        } else {
            format!("http://{host}")
        };
        Ok(Credential::Metadata { base })
    }

    /// One token and its lifetime.
    async fn fetch(&self, client: &awc::Client) -> Result<(String, Duration), String> {
        let form = |pairs: &[(&str, &str)]| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        };
        let request = match self {
            Credential::ServiceAccount {
                email,
                key_id,
                key,
                token_uri,
                ..
            } => {
                let assertion = sign_assertion(email, key_id.as_deref(), key, token_uri)?;
                let body = form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", &assertion),
                ]);
                client
                    .post(token_uri)
                    .content_type("application/x-www-form-urlencoded")
                    .send_body(body)
            }
            Credential::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
                ..
            } => {
                let body = form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id),
                    ("client_secret", client_secret),
                    ("refresh_token", refresh_token),
                ]);
                client
                    .post(token_uri)
                    .content_type("application/x-www-form-urlencoded")
                    .send_body(body)
            }
            Credential::Metadata { base } => {
                let url = format!(
                    "{base}/computeMetadata/v1/instance/service-accounts/default/token?scopes={}",
                    form(&[("", SCOPE)]).trim_start_matches('=')
                );
                client
                    .get(url)
                    .insert_header(("Metadata-Flavor", "Google"))
                    .send()
            }
        };
        let mut response = request
            .await
            .map_err(|e| format!("the token request failed: {e}"))?;
        let body = response
            .body()
            .limit(64 * 1024)
            .await
            .map_err(|e| format!("reading the token answer failed: {e}"))?;
        if !response.status().is_success() {
            // OAuth errors are `{"error": "...", "error_description": "..."}`: safe to show;
            // anything else is summarized by its status alone.
            let detail = serde_json::from_slice::<OAuthError>(&body)
                .map(|e| format!(": {} {}", e.error, e.error_description.unwrap_or_default()))
                .unwrap_or_default();
            return Err(format!(
                "the token endpoint answered HTTP {}{}",
                response.status().as_u16(),
                detail.trim_end()
            ));
        }
        let token: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| format!("the token answer is not an OAuth token: {e}"))?;
        if token.access_token.is_empty() {
            return Err("the token answer holds an empty access_token".to_owned());
        }
        Ok((token.access_token, Duration::from_secs(token.expires_in)))
    }
}

/// The fields of a credentials file Pollux reads.
#[derive(Deserialize)]
struct CredentialsFile {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    client_email: Option<String>,
    #[serde(default)]
    private_key: Option<String>,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Reads a credentials file. Messages name the file and the setting, never its contents.
fn load(path: &Path, setting: &str) -> Result<Credential, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{setting}: cannot read {shown}: {e}"))?;
    let file: CredentialsFile = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{setting}: {shown} is not a Google credentials JSON file (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let need = |field: Option<String>, name: &str| {
        field
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{setting}: {shown} has no '{name}'"))
    };
    let token_uri = file
        .token_uri
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
    match file.kind.as_str() {
        "service_account" => {
            let pem = need(file.private_key, "private_key")?;
            let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
                format!("{setting}: the private_key of {shown} is not a PEM RSA private key")
            })?;
            Ok(Credential::ServiceAccount {
                path: path.to_owned(),
                email: need(file.client_email, "client_email")?,
                key_id: file.private_key_id.filter(|k| !k.is_empty()),
                key: Box::new(key),
                token_uri,
            })
        }
        "authorized_user" => Ok(Credential::AuthorizedUser {
            path: path.to_owned(),
            client_id: need(file.client_id, "client_id")?,
            client_secret: need(file.client_secret, "client_secret")?,
            refresh_token: need(file.refresh_token, "refresh_token")?,
            token_uri,
        }),
        "external_account" | "external_account_authorized_user" | "impersonated_service_account" => {
            Err(format!(
                "{setting}: {shown} holds '{}' credentials, which Pollux does not support; use a service-account key, gcloud user credentials or the metadata server (see docs/configuration.md)",
                file.kind
            ))
        }
        other => Err(format!(
            "{setting}: {shown} has credential type '{other}'; expected 'service_account' or 'authorized_user'"
        )),
    }
}

/// The claims of a service account's token request.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

fn sign_assertion(
    email: &str,
    key_id: Option<&str>,
    key: &EncodingKey,
    token_uri: &str,
) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "the system clock is before 1970".to_owned())?
        .as_secs();
    let claims = Claims {
        iss: email.to_owned(),
        scope: SCOPE.to_owned(),
        aud: token_uri.to_owned(),
        iat: now,
        exp: now + ASSERTION_LIFETIME_SECS,
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = key_id.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, key)
        .map_err(|e| format!("signing the token request failed: {e}"))
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
    #[serde(default = "default_expiry")]
    expires_in: u64,
}

fn default_expiry() -> u64 {
    3600
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// What the refresher has published.
#[derive(Clone, Default)]
struct TokenState {
    token: Option<(Arc<str>, Instant)>,
    /// Whether a fetch has finished (succeeded or not).
    tried: bool,
    last_error: Option<String>,
}

/// The current access token, shared by every worker.
pub struct TokenSource {
    rx: watch::Receiver<TokenState>,
    source: String,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// Starts the refresher for `credential` on its own thread.
    pub fn start(credential: Credential, config: &Config) -> std::io::Result<TokenSource> {
        let (tx, rx) = watch::channel(TokenState::default());
        let source = credential.describe();
        let connect = config.connect_timeout();
        std::thread::Builder::new()
            .name("pollux-gcp-token".to_owned())
            .spawn(move || {
                actix_rt::System::new().block_on(refresh(credential, tx, connect));
            })?;
        log::info!("Vertex AI credentials: {source}");
        Ok(TokenSource { rx, source })
    }

    /// The credential source, as shown in logs and errors.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The current token; waits only for the first fetch. An expired token whose refresh
    /// keeps failing is a 503 naming the source.
    pub async fn bearer(&self) -> Result<Arc<str>, UpstreamFailure> {
        let mut rx = self.rx.clone();
        loop {
            {
                let state = rx.borrow_and_update();
                if let Some((token, expires)) = &state.token {
                    if *expires > Instant::now() {
                        return Ok(token.clone());
                    }
                }
                if state.tried {
                    let why = state
                        .last_error
                        .as_deref()
                        .unwrap_or("the token has expired");
                    return Err(UpstreamFailure::Credentials(format!(
                        "No valid Vertex AI access token from {}: {why}.",
                        self.source
                    )));
                }
            }
            if rx.changed().await.is_err() {
                return Err(UpstreamFailure::Credentials(format!(
                    "The Vertex AI token refresher for {} has stopped.",
                    self.source
                )));
            }
        }
    }
}

/// When to refresh a token that lives `lifetime`.
fn refresh_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(REFRESH_MARGIN.min(lifetime / 4))
}

/// The refresher: fetch, publish, sleep until the early-refresh point; on failure keep the
/// current token and retry with backoff, before it expires where possible.
async fn refresh(credential: Credential, tx: watch::Sender<TokenState>, connect: Duration) {
    let client = awc::Client::builder()
        .connector(awc::Connector::new().timeout(connect))
        .timeout(Duration::from_secs(30))
        .finish();
    let source = credential.describe();
    let mut failures = 0u32;
    loop {
        let wait = match credential.fetch(&client).await {
            Ok((token, lifetime)) => {
                failures = 0;
                let expires = Instant::now() + lifetime - EXPIRY_SKEW.min(lifetime / 10);
                tx.send_modify(|s| {
                    s.token = Some((token.into(), expires));
                    s.tried = true;
                    s.last_error = None;
                });
                log::debug!("Vertex AI token from {source} refreshed ({lifetime:?})");
                refresh_after(lifetime)
            }
            Err(error) => {
                log::warn!("refreshing the Vertex AI token from {source} failed: {error}");
                failures = failures.saturating_add(1);
                tx.send_modify(|s| {
                    s.tried = true;
                    s.last_error = Some(error);
                });
                let backoff =
                    (Duration::from_millis(100) * 2u32.pow(failures.min(9))).min(MAX_BACKOFF);
                let left = tx
                    .borrow()
                    .token
                    .as_ref()
                    .map(|(_, expires)| expires.saturating_duration_since(Instant::now()));
                match left {
                    Some(left) if !left.is_zero() => {
                        backoff.min(left / 2).max(Duration::from_millis(20))
                    }
                    _ => backoff,
                }
            }
        };
        tokio::select! {
            () = tx.closed() => return,
            () = actix_rt::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refresh_comes_early() {
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(3375)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(4)),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn files_are_checked_and_never_quoted() {
        let dir = std::env::temp_dir().join(format!("pollux-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let mut c = Config::defaults();
        c.vertex_credentials = Some(write(
            "sa.json",
            r#"{"type":"service_account","client_email":"a@b","private_key":"SECRET-NOT-PEM"}"#,
        ));
        let e = Credential::discover(&c).err().unwrap();
        assert!(e.contains("not a PEM RSA private key"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
        c.vertex_credentials = Some(write(
            "ext.json",
            r#"{"type":"external_account","audience":"x"}"#,
        ));
        let e = Credential::discover(&c).err().unwrap();
        assert!(e.contains("does not support"), "{e}");
        c.vertex_credentials = Some(write(
            "user.json",
            r#"{"type":"authorized_user","client_id":"i","client_secret":"s","refresh_token":"r"}"#,
        ));
        let cred = Credential::discover(&c).unwrap();
        assert!(cred
            .describe()
            .starts_with("the gcloud user credentials in "));
        // Nothing named, no gcloud file: the metadata server.
        c.vertex_credentials = None;
        c.google_application_credentials = None;
        c.gcloud_config_dir = Some(dir.join("none"));
        c.gce_metadata_host = "127.0.0.1:9".to_owned();
        let cred = Credential::discover(&c).unwrap();
        assert_eq!(cred.describe(), "the metadata server at http://127.0.0.1:9");
        // gcloud's file is found in its folder.
        std::fs::create_dir_all(dir.join("gcloud")).unwrap();
        write(
            "gcloud/application_default_credentials.json",
            r#"{"type":"authorized_user","client_id":"i","client_secret":"s","refresh_token":"r"}"#,
        );
        c.gcloud_config_dir = Some(dir.join("gcloud"));
        assert!(matches!(
            Credential::discover(&c).unwrap(),
            Credential::AuthorizedUser { .. }
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
