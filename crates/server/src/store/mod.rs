//! Stored responses (`store: true`, OpenAI's default): what a response keeps so a later
//! request can build on it (`previous_response_id`, `item_reference`) or read it back
//! (`GET /v1/responses/{id}`, its input items), behind one small trait so the embedded store
//! ([`memory::MemoryStore`], the default) and a shared one for several replicas fit alike.
//!
//! The trait is asynchronous although the embedded store never waits: a shared store is a
//! network round trip. A record is written before the response's body or terminal event is
//! sent, so a follow-up sent the moment the client has the id always finds it.
//!
//! Records are per owner: with client keys (or keys passed through to Gemini) a response is
//! visible only to the key that created it, as a digest ([`crate::keys::Keys::owner`]), never
//! the key itself; any other key gets what an unknown id gets.

pub mod memory;
pub mod redis;
#[cfg(test)]
pub(crate) mod testing;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use pollux_translate::openai::responses::InputItem;
use serde_json::Value;

use crate::ids::ResponseIds;
use crate::metrics::StoreStats;

/// One stored response. The JSON parts are kept serialized: the response's bytes are the very
/// bytes sent to the client (shared, not copied), and both are read back only by the rarer
/// requests that use them.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// `resp_...`.
    pub id: String,
    /// Who may read it: the digest of the client's key, or `None` on a single-tenant server.
    pub owner: Option<String>,
    /// The response it continued, if any.
    pub previous: Option<String>,
    /// The response object exactly as it was returned (JSON).
    pub response: Bytes,
    /// This request's own input items (not the history before them), each with an `id`.
    pub input: InputJson,
    /// The ids of its input and output items that do not lead to it by themselves
    /// ([`crate::ids::response_of`]): the ones clients chose. A store indexes these; the
    /// others name this record.
    pub item_ids: Vec<String>,
    /// The thought signatures of the answer's calls, by `call_id`.
    pub signatures: Vec<(String, String)>,
}

impl Stored {
    /// Bytes this record holds, for the store's byte limit.
    pub fn size(&self) -> usize {
        self.response.len()
            + self.input.size()
            + self.item_ids.iter().map(String::len).sum::<usize>()
            + self
                .signatures
                .iter()
                .map(|(a, b)| a.len() + b.len())
                .sum::<usize>()
            + 256
    }

    /// The response object.
    pub fn response_value(&self) -> Result<Value, StoreError> {
        serde_json::from_slice(&self.response).map_err(|e| StoreError::Failed(e.to_string()))
    }

    /// This request's input items.
    pub fn input_items(&self) -> Result<Vec<Value>, StoreError> {
        serde_json::from_slice(self.input.bytes()?).map_err(|e| StoreError::Failed(e.to_string()))
    }

    /// The items this response adds to a conversation: its input, then its output.
    pub fn items(&self) -> Result<Vec<Value>, StoreError> {
        let mut items = self.input_items()?;
        if let Value::Array(output) = self.response_value()?["output"].take() {
            items.extend(output);
        }
        Ok(items)
    }

    /// The input or output item `item_id`, if this record holds it.
    pub fn item(&self, item_id: &str) -> Result<Option<Value>, StoreError> {
        Ok(self
            .items()?
            .into_iter()
            .find(|i| i["id"].as_str() == Some(item_id)))
    }

    /// The ids of `ids` that do not lead to record `id` by themselves: the ones a store must
    /// index ([`Stored::item_ids`]).
    pub fn chosen_ids<'a>(id: &str, ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        ids.into_iter()
            .filter(|item| !crate::ids::names(item, id))
            .map(str::to_owned)
            .collect()
    }
}

/// A record's input items as a JSON array, encoded when first read. Most stored responses are
/// never read back, and encoding the items when storing them (every text escaped a second
/// time) cost a stored request about 28,000 instructions (docs/benchmarks.md, change 21).
#[derive(Clone)]
pub struct InputJson(Arc<InputForm>);

enum InputForm {
    /// Read back from a shared store.
    Encoded(Bytes),
    /// As parsed from the request, with the ids set aside for the items without one; `size`
    /// counts against the store's byte limit.
    Deferred {
        json: OnceLock<Bytes>,
        items: Vec<InputItem>,
        ids: ResponseIds,
        size: usize,
    },
}

impl InputJson {
    /// Items encoded already (read back from a shared store).
    pub fn encoded(json: Bytes) -> InputJson {
        InputJson(Arc::new(InputForm::Encoded(json)))
    }

    /// `items`, encoded on first read ([`pollux_translate::responses::stored_json`]), those
    /// without an id taking theirs from `ids` ([`ResponseIds::reserve`]); `size` stands for
    /// their encoded length. Once read, both forms are kept.
    pub fn deferred(items: Vec<InputItem>, ids: ResponseIds, size: usize) -> InputJson {
        InputJson(Arc::new(InputForm::Deferred {
            json: OnceLock::new(),
            items,
            ids,
            size,
        }))
    }

    /// The JSON array.
    pub fn bytes(&self) -> Result<&Bytes, StoreError> {
        let (json, items, ids) = match &*self.0 {
            InputForm::Encoded(json) => return Ok(json),
            InputForm::Deferred {
                json, items, ids, ..
            } => (json, items, ids),
        };
        if let Some(json) = json.get() {
            return Ok(json);
        }
        let encoded = pollux_translate::responses::stored_json(items, &mut ids.clone())
            .map_err(|e| StoreError::Failed(e.to_string()))?;
        Ok(json.get_or_init(|| Bytes::from(encoded)))
    }

    /// The bytes it is counted for.
    pub fn size(&self) -> usize {
        match &*self.0 {
            InputForm::Encoded(json) => json.len(),
            InputForm::Deferred { size, .. } => *size,
        }
    }
}

/// The size only: the items are the client's content, which is never logged.
impl std::fmt::Debug for InputJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InputJson({} bytes)", self.size())
    }
}

/// Equal when they encode alike.
impl PartialEq for InputJson {
    fn eq(&self, other: &Self) -> bool {
        matches!((self.bytes(), other.bytes()), (Ok(a), Ok(b)) if a == b)
    }
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<T> {
    Found(T),
    /// Never stored (or stored for another owner, or with `store: false`).
    Unknown,
    /// Stored once and gone, and why.
    Gone(Gone),
}

/// Why a stored response is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    Deleted,
    /// Older than the store's age limit.
    Expired,
    /// Pushed out by newer responses (the entry or byte limit).
    Evicted,
}

impl Gone {
    pub fn describe(self) -> &'static str {
        match self {
            Gone::Deleted => "was deleted",
            Gone::Expired => "has expired (this server keeps responses for --response-store-ttl-secs)",
            Gone::Evicted => "was evicted to make room for newer responses (see --response-store-entries and --response-store-bytes)",
        }
    }
}

/// A store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A record that does not read back, say.
    #[error("the response store failed: {0}")]
    Failed(String),
    /// The shared store (`--state`) did not answer in time; a retry may succeed.
    #[error("the shared response store is unreachable ({0})")]
    Unreachable(String),
}

/// What [`ResponseStore::settle`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    /// The record was written.
    Written,
    /// A record with a final status was there already and stands (`None` when it has gone
    /// since, its final mark still there).
    Kept(Option<Arc<Stored>>),
}

/// Where stored responses live.
pub trait ResponseStore: Send + Sync {
    /// Keeps `record`, replacing one with the same id.
    fn put(&self, record: Stored) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Writes a background response's record unless one with a final status is there
    /// already, in one atomic step; with `last`, the record written is final and later
    /// settles keep it. A run finishing and a cancel sent to any replica meet here: the
    /// first final status wins and never flips.
    fn settle(&self, record: Stored, last: bool) -> BoxFuture<'_, Result<Settled, StoreError>>;

    /// The record `id` as `owner` may see it.
    fn get<'a>(
        &'a self,
        id: &'a str,
        owner: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Lookup<Arc<Stored>>, StoreError>>;

    /// Deletes `id`; `false` when `owner` has no such record.
    fn delete<'a>(
        &'a self,
        id: &'a str,
        owner: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// An input or output item of a stored response, by the item's id.
    fn item<'a>(
        &'a self,
        item_id: &'a str,
        owner: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<Value>, StoreError>>;

    /// Size and evictions, for `/metrics`.
    fn stats(&self) -> StoreStats;
}

/// Marks a stored response `cancelled` unless it already has a final status: the JSON that
/// stands (`cancelled`, or the status that won) and whether this call cancelled it; `None`
/// when it is not there (for `owner`).
pub async fn mark_cancelled(
    store: &dyn ResponseStore,
    id: &str,
    owner: Option<&str>,
) -> Result<Option<(Bytes, bool)>, StoreError> {
    let Lookup::Found(record) = store.get(id, owner).await? else {
        return Ok(None);
    };
    let mut response = record.response_value()?;
    response["status"] = serde_json::json!("cancelled");
    let body =
        Bytes::from(serde_json::to_vec(&response).map_err(|e| StoreError::Failed(e.to_string()))?);
    let mut record = (*record).clone();
    record.response = body.clone();
    Ok(match store.settle(record, true).await? {
        Settled::Written => Some((body, true)),
        Settled::Kept(standing) => standing.map(|r| (r.response.clone(), false)),
    })
}
