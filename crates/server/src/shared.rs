//! The state several replicas share, in Redis (`--state redis://...`): one connection
//! manager per process (the `redis` crate's tokio `ConnectionManager`: it multiplexes every
//! worker's commands over one connection and reconnects by itself), a key prefix, and a
//! per-operation timeout.
//!
//! Every operation goes through [`Shared::run`], which bounds it by `--state-timeout-ms`,
//! counts a failure in `pollux_state_errors_total`, and logs only when reachability changes
//! (down once, back once), never per request: with Redis gone, every request would log.
//! Callers decide what a failure means: a cache falls back to what this process knows; a
//! stored response another replica wrote cannot be found, which the store reports.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, Pipeline};

use crate::metrics::Metrics;

/// A shared-state operation failed or timed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub String);

pub struct Shared {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    /// Whether the last operation succeeded, for logging the changes only.
    up: AtomicBool,
    metrics: Arc<Metrics>,
}

impl Shared {
    /// Prepares the connection; it is made on first use (Redis may come up after Pollux), so
    /// this needs a tokio runtime but no Redis yet.
    /// `password`, when given, replaces the URL's (`--state-password-file`); `ca`, when
    /// given, is the PEM of the authorities a `rediss://` certificate must chain to
    /// (`--state-ca-file`).
    pub fn connect(
        url: &str,
        password: Option<&str>,
        ca: Option<Vec<u8>>,
        prefix: &str,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Shared, StateError> {
        // Errors name the category only: the URL may hold a password.
        let invalid = |e: redis::RedisError| StateError(e.category().to_owned());
        let mut info = redis::IntoConnectionInfo::into_connection_info(url).map_err(invalid)?;
        if let Some(password) = password {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = match ca {
            Some(root_cert) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            ),
            None => redis::Client::open(info),
        }
        .map_err(invalid)?;
        let config = ConnectionManagerConfig::new()
            // Reconnects are attempted again on the next operation, not retried in a loop
            // while a request waits.
            .set_number_of_retries(1)
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(timeout));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| StateError(e.to_string()))?;
        Ok(Shared {
            client,
            conn,
            prefix: prefix.to_owned(),
            timeout,
            up: AtomicBool::new(true),
            metrics,
        })
    }

    /// The Redis key of `id` in the namespace `kind` (`resp`, `sig`, ...).
    pub fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// Runs `pipe` (one round trip however many commands it holds) within the timeout.
    pub async fn run<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, StateError> {
        let mut conn = self.conn.clone();
        let result =
            match tokio::time::timeout(self.timeout, pipe.query_async::<T>(&mut conn)).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => Err(StateError(e.to_string())),
                Err(_) => Err(StateError(format!(
                    "no answer within {} ms",
                    self.timeout.as_millis()
                ))),
            };
        match &result {
            Ok(_) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    log::info!("shared state (--state) reachable again");
                }
            }
            Err(e) => {
                self.metrics.state_error();
                if self.up.swap(false, Ordering::Relaxed) {
                    log::warn!("shared state (--state) unreachable, serving from this process where possible: {e}");
                }
            }
        }
        result
    }

    /// The pub/sub channel replicas tell each other about changes on (key cooldowns and
    /// invalid marks, cancels of background responses).
    pub fn channel(&self) -> String {
        format!("{}events", self.prefix)
    }

    /// Publishes `message` on [`Shared::channel`], after the other commands of `pipe` (one
    /// round trip).
    pub async fn publish(&self, mut pipe: Pipeline, message: &str) -> Result<(), StateError> {
        pipe.publish(self.channel(), message).ignore();
        self.run::<()>(&pipe).await
    }

    /// A connection subscribed to [`Shared::channel`]: its messages, and the half that keeps
    /// the subscription (dropping it ends the stream). Made on a connection of its own, within
    /// the operation timeout (at least half a second: connecting takes longer than a command).
    /// Not counted as a failed operation: it is retried in the background, not per request.
    pub async fn subscribe(
        &self,
    ) -> Result<(redis::aio::PubSubSink, redis::aio::PubSubStream), StateError> {
        let wait = self.timeout.max(Duration::from_millis(500));
        let connect = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(self.channel()).await?;
            Ok::<_, redis::RedisError>(pubsub.split())
        };
        match tokio::time::timeout(wait, connect).await {
            Ok(Ok(halves)) => Ok(halves),
            Ok(Err(e)) => Err(StateError(e.to_string())),
            Err(_) => Err(StateError(format!(
                "no subscription within {} ms",
                wait.as_millis()
            ))),
        }
    }

    /// Whether the last operation succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The values of `keys`, `None` where absent, in one round trip.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StateError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        pipe.cmd("MGET").arg(keys);
        let (values,): (Vec<Option<String>>,) = self.run(&pipe).await?;
        Ok(values)
    }

    /// Sets each `(key, value)` to expire after `ttl`, in one round trip.
    pub async fn set_many(
        &self,
        pairs: &[(String, String)],
        ttl: Duration,
    ) -> Result<(), StateError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (key, value) in pairs {
            pipe.set_ex(key, value, ttl.as_secs().max(1)).ignore();
        }
        self.run::<()>(&pipe).await
    }
}
