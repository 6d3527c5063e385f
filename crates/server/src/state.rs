//! The application state every handler reads: the configuration, the caches and the shared
//! services, built once at start-up and shared by every worker ([`AppState`]). It sits
//! between the handlers (`routes/*`) and the services they use, so handlers and the
//! composition root name one type and no service needs to know the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use pollux_translate::gemini::Model;

use crate::config::Config;
use crate::gcp_auth::{Credential, TokenSource};
use crate::inspect::{Inspector, Limits};
use crate::keys::{ClientKeys, Keys};
use crate::metrics::Metrics;
use crate::observe::Trace;
use crate::resilience::{Deadline, Limiter, StreamLease, UpstreamPermit};
use crate::runs::Runs;
use crate::settings::Settings;
use crate::shared::Shared;
use crate::signatures::{Fetched, SignatureCache};
use crate::store::{self, memory::MemoryStore, redis::RedisStore, ResponseStore};

/// Distinct credentials remembered at once (client keys in pass-through mode).
const MAX_ENTRIES: usize = 1024;

/// How soon a lost subscription to the replicas' channel is tried again.
const RESUBSCRIBE: Duration = Duration::from_secs(1);

/// State shared by every worker.
pub struct AppState {
    pub config: Config,
    /// The settings parsed once at start-up.
    pub settings: Settings,
    pub signatures: SignatureCache,
    pub metrics: Arc<Metrics>,
    /// The cap on upstream requests in flight, across all workers.
    pub limiter: Limiter,
    /// Client keys and the upstream key pool (cooldowns are shared by all workers).
    pub keys: Arc<Keys>,
    /// Fetched Gemini model lists.
    pub models: ModelCache,
    /// Stored responses (the Responses API's `store`).
    pub store: Arc<dyn ResponseStore>,
    /// Background responses running in this process.
    pub runs: Runs,
    /// The state shared with other replicas (`--state`), if any.
    pub shared: Option<Arc<Shared>>,
    /// Vertex AI's access tokens (`--upstream vertex` with a project), refreshed by one task.
    pub token: Option<Arc<TokenSource>>,
    /// The inspector's ring of recent exchanges; `None` when it is off.
    pub inspector: Option<Arc<Inspector>>,
    /// `--admin-keys`, which open the inspector.
    pub admin_keys: ClientKeys,
}

impl AppState {
    /// Builds the state; with `--state`, the Redis connection is prepared (it is made on first
    /// use), which needs a tokio runtime.
    pub fn new(config: Config, settings: Settings) -> Result<Arc<AppState>, String> {
        let signatures = SignatureCache::new(
            config.signature_cache_size,
            Duration::from_secs(config.signature_ttl_secs),
        );
        let metrics = Arc::new(Metrics::default());
        let limiter = Limiter::new(config.max_concurrent_upstream, metrics.clone());
        let models = ModelCache::new(Duration::from_secs(config.models_cache_secs));
        let password = match (&config.state_password_file, &config.state) {
            (Some(path), Some(_)) => Some(read_password(path)?),
            (Some(_), None) => {
                return Err(
                    "--state-password-file / POLLUX_STATE_PASSWORD_FILE needs --state".to_owned(),
                )
            }
            (None, _) => None,
        };
        let ca = match (&config.state_ca_file, &config.state) {
            (Some(path), Some(_)) => Some(std::fs::read(path).map_err(|e| {
                format!(
                    "--state-ca-file / POLLUX_STATE_CA_FILE: cannot read {}: {e}",
                    path.display()
                )
            })?),
            (Some(_), None) => {
                return Err("--state-ca-file / POLLUX_STATE_CA_FILE needs --state".to_owned())
            }
            (None, _) => None,
        };
        let shared = match &config.state {
            Some(url) => Some(Arc::new(
                Shared::connect(
                    url,
                    password.as_deref(),
                    ca,
                    &config.state_prefix,
                    Duration::from_millis(config.state_timeout_ms),
                    metrics.clone(),
                )
                .map_err(|e| format!("--state / POLLUX_STATE: {e}"))?,
            )),
            None => None,
        };
        let token = if config.is_vertex() && config.vertex_project.is_some() {
            let credential = Credential::discover(&config)?;
            Some(Arc::new(TokenSource::start(credential, &config).map_err(
                |e| format!("cannot start the Vertex AI token refresher: {e}"),
            )?))
        } else {
            None
        };
        let mut keys = Keys::from_config(&config);
        if let Some(shared) = &shared {
            keys.share(shared.clone());
        }
        let keys = Arc::new(keys);
        let ttl = Duration::from_secs(config.response_store_ttl_secs);
        let store: Arc<dyn ResponseStore> = match &shared {
            Some(shared) => Arc::new(RedisStore::new(shared.clone(), ttl)),
            None => Arc::new(MemoryStore::new(store::memory::Limits {
                entries: config.response_store_entries,
                bytes: config.response_store_bytes,
                ttl,
            })),
        };
        let inspector = config.inspector_enabled().then(|| {
            Arc::new(Inspector::new(
                Limits {
                    entries: config.inspector_entries,
                    body_bytes: config.inspector_body_bytes,
                    bodies: config.inspector_bodies,
                },
                keys.clone(),
            ))
        });
        let admin_keys = ClientKeys::new(&config.admin_keys);
        let state = Arc::new(AppState {
            config,
            settings,
            signatures,
            metrics,
            limiter,
            keys,
            models,
            store,
            runs: Runs::default(),
            shared,
            token,
            inspector,
            admin_keys,
        });
        if let (Some(shared), Ok(runtime)) = (&state.shared, tokio::runtime::Handle::try_current())
        {
            runtime.spawn(follow(Arc::downgrade(&state), shared.clone()));
        }
        Ok(state)
    }

    /// Applies one message of the replicas' channel: `key <fingerprint> <mark>` (a key's
    /// cooldown or invalid mark, [`crate::keys::KeyPool::share`]) or `cancel <response id>`
    /// (another replica cancelled a background response, its record settled `cancelled`
    /// already: if it runs here, it stops).
    fn on_shared_event(&self, message: &str) {
        if let Some((print, mark)) = message
            .strip_prefix("key ")
            .and_then(|rest| rest.split_once(' '))
        {
            self.keys.pool().apply_shared(print, mark);
        } else if let Some(id) = message.strip_prefix("cancel ") {
            if let Some(run) = self.runs.get_any(id) {
                run.cancel();
            }
        }
    }

    /// What a streamed answer holds until it ends: its upstream slot and deadline, this
    /// server's keep-alive interval and the open-stream gauge ([`StreamLease::wrap`]).
    pub fn stream_lease(
        &self,
        permit: UpstreamPermit,
        deadline: Deadline,
        trace: &Trace,
    ) -> StreamLease {
        StreamLease {
            permit,
            deadline,
            keepalive: self.config.keepalive(),
            metrics: self.metrics.clone(),
            trace: trace.clone(),
        }
    }

    /// The thought signatures of the history calls `ids` (those the client sent without
    /// one): this process's memory first, then, for the ids it lacks, the shared state in one
    /// round trip. Translation is synchronous, so what it may need is fetched here.
    pub async fn signatures_for(&self, ids: &[&str]) -> Fetched<'_> {
        let mut fetched = Fetched::new(&self.signatures);
        let Some(shared) = &self.shared else {
            return fetched;
        };
        let missing: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| self.signatures.get(id).is_none())
            .collect();
        let keys: Vec<String> = missing.iter().map(|id| shared.key("sig", id)).collect();
        // Unreachable: the calls get what this process knows (the failure is counted).
        if let Ok(values) = shared.get_many(&keys).await {
            for (id, value) in missing.into_iter().zip(values) {
                if let Some(signature) = value {
                    fetched.add(id, signature);
                }
            }
        }
        fetched
    }

    /// Remembers an answer's thought signatures by call id, here and in the shared state;
    /// returns when both hold them (or the shared write failed), so a next turn sent to
    /// another replica finds them.
    pub async fn remember_signatures(&self, pairs: Vec<(String, String)>) {
        for (id, signature) in &pairs {
            self.signatures.insert(id, signature);
        }
        if let Some(shared) = &self.shared {
            let ttl = Duration::from_secs(self.config.signature_ttl_secs);
            let keyed: Vec<(String, String)> = pairs
                .into_iter()
                .map(|(id, signature)| (shared.key("sig", &id), signature))
                .collect();
            // A failure is counted and logged by `Shared`; the local copy still serves.
            let _ = shared.set_many(&keyed, ttl).await;
        }
    }

    /// The model list another replica fetched for credential `id` (a digest, never a key)
    /// and shared, kept here too; `None` without `--state`, when there is none, or when the
    /// shared state cannot be read.
    pub async fn shared_models(&self, id: &str) -> Option<Arc<Vec<Model>>> {
        let shared = self
            .shared
            .as_ref()
            .filter(|_| self.config.models_cache_secs > 0)?;
        let found = shared.get_many(&[shared.key("models", id)]).await.ok()?;
        let text = found.into_iter().next().flatten()?;
        let models: Arc<Vec<Model>> = Arc::new(serde_json::from_str(&text).ok()?);
        self.models.put(id.to_owned(), models.clone());
        Some(models)
    }

    /// Shares a fetched model list with the other replicas for `models_cache_secs`.
    pub async fn share_models(&self, id: &str, models: &[Model]) {
        let Some(shared) = self
            .shared
            .as_ref()
            .filter(|_| self.config.models_cache_secs > 0)
        else {
            return;
        };
        if let Ok(text) = serde_json::to_string(models) {
            let ttl = Duration::from_secs(self.config.models_cache_secs);
            let _ = shared
                .set_many(&[(shared.key("models", id), text)], ttl)
                .await;
        }
    }

    /// [`AppState::remember_signatures`] from a synchronous place (a stream's translator):
    /// the local copy at once, the shared write on this worker in the background.
    pub fn remember_signatures_soon(&self, pairs: Vec<(String, String)>) {
        for (id, signature) in &pairs {
            self.signatures.insert(id, signature);
        }
        if let Some(shared) = self.shared.clone() {
            let ttl = Duration::from_secs(self.config.signature_ttl_secs);
            actix_web::rt::spawn(async move {
                let keyed: Vec<(String, String)> = pairs
                    .into_iter()
                    .map(|(id, signature)| (shared.key("sig", &id), signature))
                    .collect();
                let _ = shared.set_many(&keyed, ttl).await;
            });
        }
    }
}

/// The first line of `--state-password-file`. Errors name the file, never what it holds.
fn read_password(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "--state-password-file / POLLUX_STATE_PASSWORD_FILE: cannot read {}: {e}",
            path.display()
        )
    })?;
    let password = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    if password.is_empty() {
        return Err(format!(
            "--state-password-file / POLLUX_STATE_PASSWORD_FILE: {} is empty",
            path.display()
        ));
    }
    Ok(password.to_owned())
}

/// Follows the replicas' channel for as long as `state` lives: on each (re)subscription the
/// shared key marks are read once (those announced while this replica was not listening),
/// then every message is applied as it comes. A lost subscription is tried again every
/// [`RESUBSCRIBE`], in the background: requests never wait for it.
async fn follow(state: Weak<AppState>, shared: Arc<Shared>) {
    use futures_util::StreamExt;
    loop {
        if let Ok((_keep, mut messages)) = shared.subscribe().await {
            match state.upgrade() {
                Some(live) => live.keys.pool().refresh_shared().await,
                None => return,
            }
            while let Some(message) = messages.next().await {
                let Some(live) = state.upgrade() else {
                    return;
                };
                if let Ok(text) = message.get_payload::<String>() {
                    live.on_shared_event(&text);
                }
            }
        }
        if state.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(RESUBSCRIBE).await;
    }
}

/// A fetched list and when it was fetched.
type Entry = (Instant, Arc<Vec<Model>>);

/// Fetched model lists by credential.
#[derive(Debug)]
pub struct ModelCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl ModelCache {
    pub fn new(ttl: Duration) -> ModelCache {
        ModelCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Vec<Model>>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, models)| models.clone())
    }

    pub fn put(&self, id: String, models: Arc<Vec<Model>>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(id, (Instant::now(), models));
    }
}
