//! Who may call Pollux, and with which Gemini key it calls upstream.
//!
//! - **Client keys** ([`ClientKeys`]): the keys clients present as `Authorization: Bearer`
//!   (or `x-goog-api-key` on the native routes). Configured plain or as `sha256:<hex>`; both
//!   are kept only as SHA-256 digests and a presented key is compared, digest to digest, in
//!   constant time against every configured one.
//! - **The upstream key pool** ([`KeyPool`]): Pollux's own Gemini keys, used round-robin. A key
//!   answered 429 cools down for the delay of Gemini's `RetryInfo` (or the configured
//!   default) and is skipped while another key is usable; a key Gemini reports as
//!   `API_KEY_INVALID` leaves the rotation for the life of the process. Keys are logged only
//!   by [`fingerprint`]. With `--state`, both marks are shared with the other replicas
//!   ([`KeyPool::share`]): written to Redis under the key's fingerprint with a TTL (the
//!   cooldown, or [`SHARED_INVALID_TTL`]) and announced on the pub/sub channel, which every
//!   replica follows to mirror them here ([`KeyPool::apply_shared`]). Picking a key reads only
//!   this mirror: no Redis round trip on the request path.
//! - **Key affinity** ([`KeyPool::attempt_order_for`]): a conversation stays on one key,
//!   ranked by rendezvous hashing over its hint ([`affinity_hint`]). A request naming an
//!   explicit cache (`cachedContents/{id}`) goes to the key that created it when this replica
//!   saw the creation through the native pass-through ([`KeyPool::learn_owner`]), else by
//!   rendezvous over the cache's name, so every replica makes the same guess.
//!
//! - **Redaction** ([`Keys::redact`]): Gemini's error messages reach clients nearly word for
//!   word, and a gateway in front of Gemini may echo the key it was sent; every upstream
//!   text that can reach a client or a log passes through here first, and loses the keys the
//!   request could have been sent with (the pool's, and the client's own in pass-through
//!   mode), each replaced by `[redacted key <fingerprint>]`.
//!
//! The policy ([`Keys::authorize`]): with client keys configured, a request must present one
//! and is served from the pool. With neither client keys nor a pool, the client's own key is
//! the Gemini key. With a pool and no client keys anyone who can reach Pollux spends the pool,
//! so [`check_exposure`] refuses a non-loopback listen address unless the operator opted in.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::header::{self, HeaderMap};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::error::ApiError;
use crate::shared::Shared;

pub use crate::config_file::fingerprint;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What an authorized request calls Gemini with.
#[derive(Clone)]
pub enum Credentials {
    /// The client's own key, forwarded as the Gemini key.
    Client(String),
    /// A key from Pollux's pool, picked per attempt.
    Pool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Client(key) => write!(f, "Client({})", fingerprint(key)),
            Credentials::Pool => f.write_str("Pool"),
        }
    }
}

impl Credentials {
    /// A stable name for per-credential caches that never holds the key itself.
    pub fn cache_id(&self) -> String {
        match self {
            Credentials::Client(key) => hex(&Sha256::digest(key.as_bytes())),
            Credentials::Pool => "pool".to_owned(),
        }
    }
}

/// Keys shorter than this are not redacted: replacing every occurrence of a two-letter
/// "key" would mangle the message, and real Gemini keys are 39 characters.
const MIN_REDACTED_LEN: usize = 8;

/// The key a client presented: `Authorization: Bearer <key>`, else `x-goog-api-key`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let goog = || headers.get("x-goog-api-key").and_then(|v| v.to_str().ok());
    bearer
        .or_else(goog)
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Client keys and the upstream pool, shared by every worker.
#[derive(Debug)]
pub struct Keys {
    clients: ClientKeys,
    pool: KeyPool,
}

impl Keys {
    pub fn from_config(config: &Config) -> Keys {
        Keys {
            clients: ClientKeys::new(&config.client_keys),
            pool: KeyPool::new(
                config.pool_keys(),
                Duration::from_secs(config.key_cooldown_secs),
            ),
        }
    }

    pub fn pool(&self) -> &KeyPool {
        &self.pool
    }

    /// Whether clients must present one of Pollux's client keys.
    pub fn has_client_keys(&self) -> bool {
        !self.clients.is_empty()
    }

    /// Shares the pool's cooldowns and invalid marks with the other replicas through `shared`.
    pub fn share(&mut self, shared: Arc<Shared>) {
        self.pool.shared = Some(shared);
    }

    /// `text` without any key a request with `key` may have been sent upstream with: every
    /// key of the pool, and the client's own key. Borrowed when there was nothing to do.
    pub fn redact<'t>(&self, text: &'t str, key: &Credentials) -> Cow<'t, str> {
        let own = match key {
            Credentials::Client(own) => Some(own.as_str()),
            Credentials::Pool => None,
        };
        let mut out = Cow::Borrowed(text);
        for secret in self.pool.keys.iter().map(String::as_str).chain(own) {
            if secret.len() >= MIN_REDACTED_LEN && out.contains(secret) {
                let shown = format!("[redacted key {}]", fingerprint(secret));
                out = Cow::Owned(out.replace(secret, &shown));
            }
        }
        out
    }

    /// [`Keys::redact`] for an upstream body (the replacement keeps JSON valid: a key has no
    /// character JSON escapes, and neither has the replacement).
    pub fn redact_bytes(&self, body: Bytes, key: &Credentials) -> Bytes {
        let text = String::from_utf8_lossy(&body);
        match self.redact(&text, key) {
            Cow::Borrowed(_) => body,
            Cow::Owned(clean) => Bytes::from(clean),
        }
    }

    /// [`Keys::redact`] for the message of an error built from upstream text.
    pub fn redact_error(&self, error: ApiError, key: &Credentials) -> ApiError {
        error.map_message(|m| match self.redact(&m, key) {
            Cow::Borrowed(_) => m,
            Cow::Owned(clean) => clean,
        })
    }

    /// Applies the policy to the key a request presented.
    /// Whose stored responses a request may see: the digest of the key it presented when
    /// keys tell clients apart (client keys, or each client's own Gemini key), `None` on a
    /// server whose one key serves everyone. Never the key itself.
    pub fn owner(&self, headers: &HeaderMap) -> Option<String> {
        if self.clients.is_empty() && !self.pool.is_empty() {
            return None;
        }
        presented_key(headers).map(|key| hex(&Sha256::digest(key.as_bytes())))
    }

    pub fn authorize(&self, presented: Option<&str>) -> Result<Credentials, ApiError> {
        if !self.clients.is_empty() {
            return match presented {
                Some(key) if self.clients.contains(key) => Ok(Credentials::Pool),
                Some(_) => Err(ApiError::Unauthorized(
                    "Incorrect API key provided.".to_owned(),
                )),
                None => Err(ApiError::Unauthorized(
                    "No API key provided: send your Pollux key as 'Authorization: Bearer <key>'."
                        .to_owned(),
                )),
            };
        }
        if !self.pool.is_empty() {
            return Ok(Credentials::Pool);
        }
        match presented {
            Some(key) => Ok(Credentials::Client(key.to_owned())),
            None => Err(ApiError::Unauthorized(
                "No API key provided: send your Gemini API key as 'Authorization: Bearer <key>', or start Pollux with GEMINI_API_KEY set.".to_owned(),
            )),
        }
    }
}

/// Configured client keys, as SHA-256 digests.
#[derive(Debug, Default)]
pub struct ClientKeys {
    digests: Vec<[u8; 32]>,
}

impl ClientKeys {
    /// `entries` are plain keys or `sha256:<64 hex digits>`; a malformed hash (which
    /// [`Config::validate`] reports) matches nothing.
    pub fn new(entries: &[String]) -> ClientKeys {
        let digests = entries
            .iter()
            .map(|e| match e.strip_prefix("sha256:") {
                Some(hexed) => parse_digest(hexed).unwrap_or([0; 32]),
                None => Sha256::digest(e.as_bytes()).into(),
            })
            .collect();
        ClientKeys { digests }
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is a configured key. Every digest is compared, each in constant
    /// time, so the time taken says nothing about how much of a key was right, nor which.
    pub fn contains(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        for d in &self.digests {
            found |= d.ct_eq(&digest);
        }
        found.into()
    }
}

/// 64 hex digits into a digest.
pub fn parse_digest(hexed: &str) -> Option<[u8; 32]> {
    let bytes = hexed.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyState {
    Ready,
    CoolingUntil(Instant),
    Invalid,
}

/// How long an invalid mark lives in the shared state: a replica started after it expired
/// tries the key again (and marks it again if Gemini still rejects it), so a key the operator
/// repaired comes back without flushing Redis.
pub const SHARED_INVALID_TTL: Duration = Duration::from_secs(24 * 3600);

/// Pollux's own Gemini keys.
pub struct KeyPool {
    keys: Vec<String>,
    states: Mutex<Vec<KeyState>>,
    next: AtomicUsize,
    default_cooldown: Duration,
    /// The other replicas' state (`--state`), to share marks with.
    shared: Option<Arc<Shared>>,
    /// Which key created each explicit cache this replica saw created.
    owners: Mutex<Owners>,
}

/// Cache id → the index of the key that created it, the oldest forgotten first past
/// [`MAX_OWNERS`].
#[derive(Default)]
struct Owners {
    by_cache: HashMap<String, usize>,
    order: VecDeque<String>,
}

/// How many cache owners a replica remembers (a few hundred KiB at most).
const MAX_OWNERS: usize = 10_000;

/// The affinity hint of requests that use the explicit cache `name` (`cachedContents/{id}`
/// or the bare id).
pub fn cached_content_hint(name: &str) -> String {
    format!("{CACHE_HINT}{}", cache_id(name))
}

const CACHE_HINT: &str = "cached_content:";

fn cache_id(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Which pool key answered a call, kept in the upstream response's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedBy(pub usize);

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl std::fmt::Debug for KeyPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prints: Vec<String> = self.keys.iter().map(|k| fingerprint(k)).collect();
        f.debug_struct("KeyPool")
            .field("keys", &prints)
            .finish_non_exhaustive()
    }
}

/// Why no key of the pool can be tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolExhausted;

impl KeyPool {
    pub fn new(keys: Vec<String>, default_cooldown: Duration) -> KeyPool {
        let states = Mutex::new(vec![KeyState::Ready; keys.len()]);
        KeyPool {
            keys,
            states,
            next: AtomicUsize::new(0),
            default_cooldown,
            shared: None,
            owners: Mutex::new(Owners::default()),
        }
    }

    /// Remembers that the key at `index` created the explicit cache `name`: requests that
    /// use it go to that key first.
    pub fn learn_owner(&self, name: &str, index: usize) {
        if index >= self.keys.len() {
            return;
        }
        let id = cache_id(name);
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        if owners.by_cache.insert(id.to_owned(), index).is_none() {
            owners.order.push_back(id.to_owned());
            if owners.order.len() > MAX_OWNERS {
                if let Some(old) = owners.order.pop_front() {
                    owners.by_cache.remove(&old);
                }
            }
        }
    }

    /// The key that created the explicit cache `id`, if this replica saw it.
    fn owner(&self, id: &str) -> Option<usize> {
        let owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        owners.by_cache.get(id).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    fn states(&self) -> std::sync::MutexGuard<'_, Vec<KeyState>> {
        self.states.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many keys are cooling down now (for `/readyz`).
    pub fn cooling_count(&self) -> usize {
        let now = Instant::now();
        self.states()
            .iter()
            .filter(|s| matches!(s, KeyState::CoolingUntil(until) if *until > now))
            .count()
    }

    /// Keys still in rotation (not reported invalid).
    pub fn valid_count(&self) -> usize {
        self.states()
            .iter()
            .filter(|s| **s != KeyState::Invalid)
            .count()
    }

    /// The keys to try for one request, best first: the usable ones in round-robin order.
    /// When every valid key is cooling down, the one whose cooldown ends first is tried
    /// anyway: Gemini's quotas are often per model, so a key cooling after a 429 on one model
    /// may well serve another, and Gemini is the judge of that.
    pub fn attempt_order(&self) -> Result<Vec<usize>, PoolExhausted> {
        self.attempt_order_for(None)
    }

    /// [`KeyPool::attempt_order`] for one conversation: with an `affinity` hint (see
    /// [`affinity_hint`]) the keys are ranked by rendezvous hashing — each key scored by
    /// SHA-256 of the hint and the key, highest first — so every request of a conversation
    /// goes to the same key, and every replica with the same keys picks the same one without
    /// shared state. Gemini's implicit cache, cached contents, uploaded files and thought
    /// signatures can be bound to a key's project. The next key in that ranking is used only
    /// while the chosen one cools down or after it was found invalid.
    pub fn attempt_order_for(&self, affinity: Option<&str>) -> Result<Vec<usize>, PoolExhausted> {
        let n = self.keys.len();
        if n == 0 {
            return Err(PoolExhausted);
        }
        let ranking: Vec<usize> = match affinity {
            Some(hint) => {
                let mut scored: Vec<(u64, usize)> = self
                    .keys
                    .iter()
                    .enumerate()
                    .map(|(i, key)| (rendezvous_score(hint, key), i))
                    .collect();
                scored.sort_by(|a, b| b.cmp(a));
                let mut ranking: Vec<usize> = scored.into_iter().map(|(_, i)| i).collect();
                // A cache's creator first: the cache exists only in its project.
                let owner = hint.strip_prefix(CACHE_HINT).and_then(|id| self.owner(id));
                if let Some(at) = owner.and_then(|o| ranking.iter().position(|i| *i == o)) {
                    let first = ranking.remove(at);
                    ranking.insert(0, first);
                }
                ranking
            }
            None => {
                let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
                (start..start + n).map(|i| i % n).collect()
            }
        };
        let now = Instant::now();
        let mut states = self.states();
        let mut usable = Vec::with_capacity(n);
        let mut soonest: Option<(Instant, usize)> = None;
        for i in ranking {
            match states[i] {
                KeyState::Ready => usable.push(i),
                KeyState::CoolingUntil(until) if until <= now => {
                    states[i] = KeyState::Ready;
                    usable.push(i);
                }
                KeyState::CoolingUntil(until) => {
                    if soonest.is_none_or(|(t, _)| until < t) {
                        soonest = Some((until, i));
                    }
                }
                KeyState::Invalid => {}
            }
        }
        match (usable.is_empty(), soonest) {
            (false, _) => Ok(usable),
            (true, Some((_, i))) => Ok(vec![i]),
            (true, None) => Err(PoolExhausted),
        }
    }

    /// Each key's fingerprint and state (`ready`, `cooling` with the seconds left, or
    /// `invalid`), for the inspector's status view; never a key.
    pub fn describe(&self) -> Vec<(String, &'static str, Option<u64>)> {
        let now = Instant::now();
        self.keys
            .iter()
            .zip(self.states().iter())
            .map(|(key, state)| {
                let (name, left) = match state {
                    KeyState::Ready => ("ready", None),
                    KeyState::CoolingUntil(until) if *until <= now => ("ready", None),
                    KeyState::CoolingUntil(until) => {
                        ("cooling", Some(until.duration_since(now).as_secs().max(1)))
                    }
                    KeyState::Invalid => ("invalid", None),
                };
                (fingerprint(key), name, left)
            })
            .collect()
    }

    pub fn key(&self, index: usize) -> &str {
        self.keys.get(index).map_or("", String::as_str)
    }

    /// Gemini answered 429 to this key: rest it for `delay` (Gemini's `RetryInfo`) or the
    /// configured default.
    pub fn rate_limited(&self, index: usize, delay: Option<Duration>) {
        let delay = delay.unwrap_or(self.default_cooldown);
        if let Some(state) = self.states().get_mut(index) {
            if *state != KeyState::Invalid {
                *state = KeyState::CoolingUntil(Instant::now() + delay);
            }
        }
        log::info!(
            "upstream key {} rate limited; cooling down for {}s",
            fingerprint(self.key(index)),
            delay.as_secs()
        );
    }

    /// Gemini reported this key invalid: out of rotation for good.
    pub fn invalid(&self, index: usize) {
        if let Some(state) = self.states().get_mut(index) {
            *state = KeyState::Invalid;
        }
        log::warn!(
            "upstream key {} was rejected by Gemini as invalid (API_KEY_INVALID); removed from rotation, {} key(s) left",
            fingerprint(self.key(index)),
            self.valid_count()
        );
    }
}

/// A key's rendezvous score for a conversation: the first 8 bytes of SHA-256 over the
/// hint, a separator and the key.
fn rendezvous_score(hint: &str, key: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(hint.as_bytes());
    hasher.update([0u8]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// What ties requests to one conversation: the client's `prompt_cache_key` when it sent one,
/// else the conversation's first user turn (the same in every request of it).
pub fn affinity_hint(
    prompt_cache_key: Option<&str>,
    first_user_turn: Option<&[u8]>,
) -> Option<String> {
    if let Some(key) = prompt_cache_key.filter(|k| !k.is_empty()) {
        return Some(format!("prompt_cache_key:{key}"));
    }
    let turn = first_user_turn?;
    let digest = Sha256::digest(turn);
    Some(format!("first_turn:{}", hex_lower(&digest)))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl KeyPool {
    /// Tells the other replicas about key `index`'s mark (after [`KeyPool::rate_limited`] or
    /// [`KeyPool::invalid`]): `key:{fingerprint}` in Redis with the mark's TTL, for replicas
    /// that start later, and a message on the channel, for those running. One round trip,
    /// awaited so the mark is shared before the request that caused it is answered. A failure
    /// is counted (and logged once) by [`Shared`]; this process's mark holds either way.
    pub async fn share(&self, index: usize) {
        let Some(shared) = &self.shared else {
            return;
        };
        let state = self.states().get(index).copied();
        let (value, ttl) = match state {
            Some(KeyState::CoolingUntil(until)) => {
                let left = until.saturating_duration_since(Instant::now());
                let left_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
                if left_ms == 0 {
                    return;
                }
                (
                    format!("cool {}", unix_ms().saturating_add(left_ms)),
                    left_ms,
                )
            }
            Some(KeyState::Invalid) => (
                "invalid".to_owned(),
                u64::try_from(SHARED_INVALID_TTL.as_millis()).unwrap_or(u64::MAX),
            ),
            _ => return,
        };
        let print = fingerprint(self.key(index));
        let mut pipe = redis::pipe();
        pipe.pset_ex(shared.key("key", &print), &value, ttl)
            .ignore();
        let _ = shared.publish(pipe, &format!("key {print} {value}")).await;
    }

    /// Mirrors a mark another replica shared (or this one: its own messages come back too):
    /// `print` is a key's fingerprint, `value` what [`KeyPool::share`] wrote. A fingerprint
    /// of a key this replica lacks, a cooldown already over, or a malformed value is ignored;
    /// a longer cooldown or an invalid mark already held here stays.
    pub fn apply_shared(&self, print: &str, value: &str) {
        let Some(index) = self.keys.iter().position(|k| fingerprint(k) == print) else {
            return;
        };
        let mark = if value == "invalid" {
            KeyState::Invalid
        } else {
            let Some(until) = value
                .strip_prefix("cool ")
                .and_then(|v| v.parse::<u64>().ok())
            else {
                return;
            };
            let left = until.saturating_sub(unix_ms());
            if left == 0 {
                return;
            }
            KeyState::CoolingUntil(Instant::now() + Duration::from_millis(left))
        };
        let mut states = self.states();
        let Some(state) = states.get_mut(index) else {
            return;
        };
        let now = Instant::now();
        let was_usable = match *state {
            KeyState::Ready => true,
            KeyState::CoolingUntil(until) => until <= now,
            KeyState::Invalid => return,
        };
        match (mark, *state) {
            (KeyState::CoolingUntil(new), KeyState::CoolingUntil(old)) if old >= new => {}
            _ => *state = mark,
        }
        let valid = states.iter().filter(|s| **s != KeyState::Invalid).count();
        drop(states);
        // Logged when the key stops being usable here, not for every echo of a mark.
        match mark {
            KeyState::Invalid => log::warn!(
                "upstream key {print} was reported invalid by a replica sharing --state; removed from rotation, {valid} key(s) left"
            ),
            KeyState::CoolingUntil(until) if was_usable => log::info!(
                "upstream key {print} rate limited on a replica sharing --state; cooling down for {}s",
                until.saturating_duration_since(now).as_secs()
            ),
            _ => {}
        }
    }

    /// Mirrors every mark the shared state holds for this pool's keys, in one round trip: on
    /// (re)subscribing, for the marks shared while this replica was not listening.
    pub async fn refresh_shared(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let prints: Vec<String> = self.keys.iter().map(|k| fingerprint(k)).collect();
        let names: Vec<String> = prints.iter().map(|p| shared.key("key", p)).collect();
        if let Ok(values) = shared.get_many(&names).await {
            for (print, value) in prints.iter().zip(values) {
                if let Some(value) = value {
                    self.apply_shared(print, &value);
                }
            }
        }
    }
}

/// Refuses to serve the pool to the network without client keys, unless told to.
pub fn check_exposure(config: &Config) -> Result<(), String> {
    // Vertex AI with a project spends the operator's Google Cloud credentials, as a pool does.
    let oauth = config.is_vertex() && config.vertex_project.is_some();
    let pool = oauth || !config.pool_keys().is_empty();
    if pool
        && config.client_keys.is_empty()
        && !config.listen.ip().is_loopback()
        && !config.allow_open_relay
    {
        return Err(format!(
            "listen: refusing to listen on {} with an upstream Gemini key and no client keys: \
             anyone who can reach this address would spend your key. Set client_keys \
             (--client-keys / POLLUX_CLIENT_KEYS), listen on 127.0.0.1, or pass \
             --allow-open-relay (allow_open_relay = true) if this is really what you want.",
            config.listen
        ));
    }
    if !config.client_keys.is_empty() && !pool {
        return Err(
            "client_keys: client keys are set but there is no upstream key to serve them with; \
             set GEMINI_API_KEY or GEMINI_API_KEYS (api_key / api_keys)."
                .to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pool(n: usize) -> KeyPool {
        KeyPool::new(
            (0..n).map(|i| format!("key-{i}")).collect(),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn a_cache_goes_to_its_creator_else_to_the_rendezvous_of_its_name() {
        let p = pool(5);
        let hint = cached_content_hint("cachedContents/abc");
        assert_eq!(hint, cached_content_hint("abc"));
        let guessed = p.attempt_order_for(Some(&hint)).unwrap();
        // Every replica with the same keys guesses the same key.
        assert_eq!(pool(5).attempt_order_for(Some(&hint)).unwrap(), guessed);
        let creator = guessed[3];
        p.learn_owner("cachedContents/abc", creator);
        let order = p.attempt_order_for(Some(&hint)).unwrap();
        assert_eq!(order[0], creator);
        assert_eq!(order.len(), 5);
        // Other conversations are unaffected.
        let other = cached_content_hint("cachedContents/xyz");
        assert_eq!(
            p.attempt_order_for(Some(&other)).unwrap(),
            pool(5).attempt_order_for(Some(&other)).unwrap()
        );
        // The creator cooling down: the next key serves.
        p.rate_limited(creator, None);
        assert_ne!(p.attempt_order_for(Some(&hint)).unwrap()[0], creator);
        // Past the bound the oldest is forgotten.
        for i in 0..MAX_OWNERS {
            p.learn_owner(&format!("cachedContents/n{i}"), 0);
        }
        assert_eq!(p.owner("abc"), None);
        assert_eq!(p.owner(&format!("n{}", MAX_OWNERS - 1)), Some(0));
    }

    #[test]
    fn debug_output_names_pool_keys_by_fingerprint_only() {
        let shown = format!("{:?}", pool(2));
        assert!(
            !shown.contains("key-0") && !shown.contains("key-1"),
            "{shown}"
        );
        assert!(shown.contains(&fingerprint("key-0")), "{shown}");
    }

    #[test]
    fn marks_from_other_replicas_are_mirrored_by_fingerprint() {
        let p = pool(3);
        let later = unix_ms() + 30_000;
        p.apply_shared(&fingerprint("key-0"), &format!("cool {later}"));
        p.apply_shared(&fingerprint("key-1"), "invalid");
        // Ignored: a key this replica lacks, a cooldown already over, garbage.
        p.apply_shared(&fingerprint("elsewhere"), "invalid");
        p.apply_shared(&fingerprint("key-2"), "cool 1");
        p.apply_shared(&fingerprint("key-2"), "warm");
        assert_eq!(p.attempt_order().unwrap(), [2]);
        assert_eq!((p.valid_count(), p.cooling_count()), (2, 1));
        // A shorter cooldown does not cut a longer one short; an invalid key stays invalid.
        p.apply_shared(&fingerprint("key-0"), &format!("cool {}", unix_ms() + 1));
        p.apply_shared(&fingerprint("key-1"), &format!("cool {later}"));
        assert_eq!(p.attempt_order().unwrap(), [2]);
        assert_eq!(p.valid_count(), 2);
    }

    #[test]
    fn round_robin_skips_cooling_and_invalid_keys() {
        let p = pool(3);
        assert_eq!(p.attempt_order().unwrap(), [0, 1, 2]);
        assert_eq!(p.attempt_order().unwrap(), [1, 2, 0]);
        p.rate_limited(2, Some(Duration::from_secs(30)));
        p.invalid(0);
        assert_eq!(p.attempt_order().unwrap(), [1]);
        assert_eq!(p.valid_count(), 2);
        p.rate_limited(1, Some(Duration::from_secs(10)));
        // Everything cooling: the soonest one is still tried.
        assert_eq!(p.attempt_order().unwrap(), [1]);
        p.invalid(1);
        p.invalid(2);
        assert_eq!(p.attempt_order(), Err(PoolExhausted));
    }

    #[test]
    fn cooldown_expires() {
        let p = pool(2);
        p.rate_limited(0, Some(Duration::ZERO));
        let order = p.attempt_order().unwrap();
        assert_eq!(order.len(), 2);
    }

    #[test]
    fn client_keys_plain_and_hashed() {
        let hashed = format!("sha256:{}", hex(&Sha256::digest(b"hashed-secret")));
        let keys = ClientKeys::new(&["plain-secret".to_owned(), hashed]);
        assert!(keys.contains("plain-secret"));
        assert!(keys.contains("hashed-secret"));
        assert!(!keys.contains("plain-secre"));
        assert!(!keys.contains(""));
        assert!(!ClientKeys::new(&["sha256:nothex".to_owned()]).contains("sha256:nothex"));
    }

    #[test]
    fn fingerprint_is_short_and_not_the_key() {
        let fp = fingerprint("AIzaSyExampleExampleExample");
        assert_eq!(fp.len(), 8);
        assert!(!"AIzaSyExampleExampleExample".contains(&fp));
        assert_eq!(parse_digest(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_digest("abc"), None);
    }

    #[test]
    fn redaction_removes_pool_and_own_keys_only() {
        let mut c = Config::defaults();
        c.api_key = Some("AIzaPoolKeyNumberOne0000".to_owned());
        c.api_keys = vec!["AIzaPoolKeyNumberTwo0000".to_owned(), "short".to_owned()];
        let keys = Keys::from_config(&c);
        let own = Credentials::Client("AIzaClientOwnKey00000000".to_owned());
        let text = "key AIzaPoolKeyNumberOne0000 and AIzaPoolKeyNumberTwo0000, \
                    again AIzaPoolKeyNumberOne0000; own AIzaClientOwnKey00000000; short";
        let clean = keys.redact(text, &own);
        for secret in [
            "AIzaPoolKeyNumberOne0000",
            "AIzaPoolKeyNumberTwo0000",
            "AIzaClientOwnKey00000000",
        ] {
            assert!(!clean.contains(secret), "{clean}");
            let shown = format!("[redacted key {}]", fingerprint(secret));
            assert!(clean.contains(&shown), "{clean}");
        }
        assert!(
            clean.ends_with("; short"),
            "keys under 8 bytes are left: {clean}"
        );
        // The pool's keys go whatever the request used; the client's only when it was used.
        let pooled = keys.redact(text, &Credentials::Pool);
        assert!(pooled.contains("AIzaClientOwnKey00000000"), "{pooled}");
        assert!(!pooled.contains("AIzaPoolKeyNumberTwo0000"), "{pooled}");
        assert!(matches!(
            keys.redact("nothing here", &own),
            Cow::Borrowed(_)
        ));

        let body = Bytes::from(
            r#"{"error":{"code":400,"message":"bad key AIzaClientOwnKey00000000","status":"INVALID_ARGUMENT"}}"#,
        );
        let redacted = keys.redact_bytes(body, &own);
        let parsed: serde_json::Value = serde_json::from_slice(&redacted).unwrap();
        let message = parsed["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("bad key [redacted key "), "{message}");

        let error = ApiError::Upstream {
            status: 400,
            message: "echo AIzaPoolKeyNumberOne0000".to_owned(),
            code: None,
            retry_after: None,
        };
        let shown = keys.redact_error(error, &Credentials::Pool).to_string();
        assert!(!shown.contains("AIzaPoolKeyNumberOne0000"), "{shown}");
    }

    #[test]
    fn policy() {
        let mut c = Config::defaults();
        let open = Keys::from_config(&c);
        assert!(matches!(open.authorize(Some("k")), Ok(Credentials::Client(k)) if k == "k"));
        assert!(open.authorize(None).is_err());
        c.api_key = Some("upstream".to_owned());
        let pooled = Keys::from_config(&c);
        assert!(matches!(pooled.authorize(None), Ok(Credentials::Pool)));
        c.client_keys = vec!["client".to_owned()];
        let guarded = Keys::from_config(&c);
        assert!(matches!(
            guarded.authorize(Some("client")),
            Ok(Credentials::Pool)
        ));
        assert!(guarded.authorize(Some("upstream")).is_err());
        assert!(guarded.authorize(None).is_err());
    }

    #[test]
    fn exposure() {
        let mut c = Config::defaults();
        c.listen = "0.0.0.0:8080".parse().unwrap();
        assert!(
            check_exposure(&c).is_ok(),
            "no upstream key: nothing to spend"
        );
        c.api_key = Some("k".to_owned());
        assert!(check_exposure(&c).unwrap_err().starts_with("listen:"));
        c.allow_open_relay = true;
        assert!(check_exposure(&c).is_ok());
        c.allow_open_relay = false;
        c.client_keys = vec!["c".to_owned()];
        assert!(check_exposure(&c).is_ok());
        c.api_key = None;
        assert!(check_exposure(&c).unwrap_err().starts_with("client_keys:"));
        c.listen = "127.0.0.1:8080".parse().unwrap();
        c.client_keys.clear();
        c.api_keys = vec!["a".to_owned()];
        assert!(check_exposure(&c).is_ok());
    }
}
