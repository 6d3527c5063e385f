//! Stored responses over HTTP: `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}`,
//! `GET /v1/responses/{id}/input_items`, and what `POST /v1/responses` needs from the store
//! before it translates: the items behind `item_reference`s ([`resolve_references`]) and the
//! conversation behind `previous_response_id` ([`history`]); and the record written after
//! ([`Keep`]).
//!
//! A response stored for another owner (another client key) is answered exactly as an unknown
//! id: 404.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use pollux_translate::openai::responses::{InputItem, Response};
use pollux_translate::SignatureSource;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::ids::ResponseIds;
use crate::state::AppState;
use crate::store::{Gone, InputJson, Lookup, ResponseStore, Settled, StoreError, Stored};

/// More links than this in one `previous_response_id` chain is refused (a loop cannot form,
/// but a very long chain would make one request read the whole store).
const MAX_CHAIN: usize = 10_000;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Failed(_) => ApiError::BadGateway {
                message: e.to_string(),
                code: Some("store_error".to_owned()),
            },
            StoreError::Unreachable(_) => ApiError::StoreUnavailable(format!(
                "The shared response store is unreachable, so stored responses cannot be read or written now ({e}); retry shortly."
            )),
        }
    }
}

fn not_found(id: &str, gone: Option<Gone>, param: Option<&str>) -> ApiError {
    let message = match gone {
        Some(gone) => format!("Response with id '{id}' {}.", gone.describe()),
        None => format!("Response with id '{id}' not found."),
    };
    match param {
        Some(param) => ApiError::NotFoundAt {
            message,
            param: param.to_owned(),
        },
        None => ApiError::NotFound(message),
    }
}

/// The thought signatures of a stored conversation, before the process cache.
pub struct ChainSignatures<'a> {
    pub chain: HashMap<String, String>,
    pub cache: &'a dyn SignatureSource,
}

impl SignatureSource for ChainSignatures<'_> {
    fn signature_for(&self, tool_call_id: &str) -> Option<String> {
        self.chain
            .get(tool_call_id)
            .cloned()
            .or_else(|| self.cache.signature_for(tool_call_id))
    }
}

/// Replaces each `item_reference` among `items` with the stored item it names.
pub async fn resolve_references(
    store: &dyn ResponseStore,
    items: &mut [InputItem],
    owner: Option<&str>,
) -> Result<(), ApiError> {
    for (i, item) in items.iter_mut().enumerate() {
        if item.kind() != "item_reference" {
            continue;
        }
        let id = item.id.clone().unwrap_or_default();
        let Some(found) = store.item(&id, owner).await? else {
            return Err(ApiError::NotFoundAt {
                message: format!("input[{i}]: item with id '{id}' not found (item references resolve only to items of responses this server stored)."),
                param: format!("input[{i}]"),
            });
        };
        *item = serde_json::from_value(found).map_err(|e| StoreError::Failed(e.to_string()))?;
    }
    Ok(())
}

/// The conversation behind a `previous_response_id`: every stored input and output item of
/// the chain, oldest first, and the thought signatures of its calls.
#[derive(Default)]
pub struct History {
    pub items: Vec<InputItem>,
    pub signatures: HashMap<String, String>,
}

pub async fn history(
    store: &dyn ResponseStore,
    previous: Option<&str>,
    owner: Option<&str>,
) -> Result<History, ApiError> {
    let Some(first) = previous else {
        return Ok(History::default());
    };
    let mut chain: Vec<Arc<Stored>> = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(id) = next {
        if chain.len() == MAX_CHAIN {
            return Err(ApiError::InvalidRequest {
                message: format!(
                    "The conversation behind '{first}' is longer than {MAX_CHAIN} responses."
                ),
                param: Some("previous_response_id".to_owned()),
                code: None,
            });
        }
        match store.get(&id, owner).await? {
            Lookup::Found(record) => {
                next = record.previous.clone();
                chain.push(record);
            }
            Lookup::Unknown if id == first => {
                return Err(not_found(&id, None, Some("previous_response_id")))
            }
            Lookup::Gone(gone) if id == first => {
                return Err(not_found(&id, Some(gone), Some("previous_response_id")))
            }
            lookup => {
                // An earlier link is missing: the history would be silently short.
                let why = match lookup {
                    Lookup::Gone(gone) => gone.describe(),
                    _ => "is no longer stored",
                };
                return Err(ApiError::NotFoundAt {
                    message: format!("The conversation behind '{first}' is incomplete: its earlier response '{id}' {why}."),
                    param: "previous_response_id".to_owned(),
                });
            }
        }
    }
    let mut out = History::default();
    for record in chain.iter().rev() {
        for item in record.items()? {
            out.items
                .push(serde_json::from_value(item).map_err(|e| StoreError::Failed(e.to_string()))?);
        }
        out.signatures.extend(record.signatures.iter().cloned());
    }
    Ok(out)
}

/// A string `input` as the one user message it stands for.
pub fn user_text(text: String) -> InputItem {
    InputItem {
        kind: Some("message".to_owned()),
        role: Some("user".to_owned()),
        content: Some(pollux_translate::openai::responses::MessageContent::Text(
            text,
        )),
        ..InputItem::default()
    }
}

/// What a stored request keeps until its answer is known; cheap to clone (a background
/// response is written several times).
#[derive(Clone)]
pub struct Keep {
    pub store: Arc<dyn ResponseStore>,
    pub owner: Option<String>,
    pub previous: Option<String>,
    /// The request's own input items.
    input: InputJson,
    /// The ids of those a client chose, which the store indexes.
    chosen: Arc<Vec<String>>,
}

impl Keep {
    /// Keeps `own`, the request's own items (call before translation, which moves media out
    /// of them), encoded only when read back ([`InputJson`]): those without an id take
    /// theirs from ids `ids` sets aside now. `size`, the client's body length, stands for
    /// their encoded length. Inline media are copied once here, as encoding the items here
    /// copied them before.
    pub fn new(
        store: Arc<dyn ResponseStore>,
        owner: Option<String>,
        previous: Option<String>,
        own: &[InputItem],
        ids: &mut ResponseIds,
        size: usize,
    ) -> Keep {
        // Only the ids clients gave are indexed: a new response's own name it.
        let chosen = own
            .iter()
            .filter_map(|item| item.given_id().map(str::to_owned))
            .collect();
        Keep {
            store,
            owner,
            previous,
            input: InputJson::deferred(own.to_vec(), ids.reserve(own.len()), size),
            chosen: Arc::new(chosen),
        }
    }

    /// Writes the record of `response`, whose JSON is `body`, with the answer's signatures.
    pub async fn write(
        &self,
        response: &Response,
        body: Bytes,
        signatures: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        self.store
            .put(self.record(response, body, signatures))
            .await
    }

    fn record(
        &self,
        response: &Response,
        body: Bytes,
        signatures: Vec<(String, String)>,
    ) -> Stored {
        let mut item_ids = (*self.chosen).clone();
        item_ids.extend(Stored::chosen_ids(
            &response.id,
            response.output.iter().map(|o| o.id()),
        ));
        Stored {
            id: response.id.clone(),
            owner: self.owner.clone(),
            previous: self.previous.clone(),
            response: body,
            input: self.input.clone(),
            item_ids,
            signatures,
        }
    }

    /// A background response's record written through [`ResponseStore::settle`] (`last`: its
    /// final status): `false` when a final status was there already (a cancel won), so the
    /// run must not report another. A store failure is logged and lets the run go on.
    pub async fn settle(
        &self,
        response: &Response,
        signatures: Vec<(String, String)>,
        last: bool,
    ) -> bool {
        let body = match response.to_json() {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                unstored(&response.id, &StoreError::Failed(e.to_string()));
                return true;
            }
        };
        let record = self.record(response, body, signatures);
        match self.store.settle(record, last).await {
            Ok(Settled::Written) => true,
            Ok(Settled::Kept(_)) => false,
            Err(e) => {
                unstored(&response.id, &e);
                true
            }
        }
    }

    /// [`Keep::write`] with the response encoded here; a failure is logged, not returned (the
    /// client still gets its answer).
    pub async fn write_logged(&self, response: &Response, signatures: Vec<(String, String)>) {
        match response.to_json() {
            Ok(body) => {
                self.write_reported(response, Bytes::from(body), signatures)
                    .await
            }
            Err(e) => unstored(&response.id, &StoreError::Failed(e.to_string())),
        }
    }

    /// [`Keep::write`], a failure logged rather than returned: the client still gets its
    /// answer.
    pub async fn write_reported(
        &self,
        response: &Response,
        body: Bytes,
        signatures: Vec<(String, String)>,
    ) {
        if let Err(e) = self.write(response, body, signatures).await {
            unstored(&response.id, &e);
        }
    }
}

/// Logs a response that could not be stored. An unreachable shared store is logged once per
/// change of its state (`crate::shared`), not once per response.
fn unstored(id: &str, e: &StoreError) {
    match e {
        StoreError::Unreachable(_) => log::debug!("response {id} was not stored: {e}"),
        StoreError::Failed(_) => log::warn!("response {id} was not stored: {e}"),
    }
}

/// [`crate::store::mark_cancelled`]: the JSON that stands and whether this call cancelled it.
pub async fn mark_cancelled(
    store: &dyn ResponseStore,
    id: &str,
    owner: Option<&str>,
) -> Result<Option<(Bytes, bool)>, ApiError> {
    Ok(crate::store::mark_cancelled(store, id, owner).await?)
}

/// The caller's key checked (as every route checks it) and the owner it stands for.
pub fn caller(req: &HttpRequest, shared: &AppState) -> Result<Option<String>, ApiError> {
    shared
        .keys
        .authorize(crate::keys::presented_key(req.headers()))?;
    Ok(shared.keys.owner(req.headers()))
}

fn id_of(req: &HttpRequest) -> String {
    req.match_info().get("id").unwrap_or_default().to_owned()
}

/// `GET /v1/responses/{id}`: the response as it was returned.
pub async fn retrieve(
    req: HttpRequest,
    shared: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller(&req, &shared)?;
    let mut stream = false;
    let mut after = None;
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        match key.as_ref() {
            "stream" => stream = value == "true",
            "starting_after" => {
                after = Some(value.parse::<u64>().map_err(|_| ApiError::InvalidRequest {
                    message: format!(
                        "Invalid 'starting_after' '{value}': expected a sequence number."
                    ),
                    param: Some("starting_after".to_owned()),
                    code: None,
                })?)
            }
            _ => {}
        }
    }
    if stream {
        // A background response's events, again from after `starting_after`.
        let id = id_of(&req);
        let events = match shared.runs.get(&id, owner.as_deref()) {
            Some(run) => run.follow(after).left_stream(),
            // Run by another replica: its events as it shared them. An id that is not stored
            // (for this caller) is a 404, as without `stream`.
            None => match shared.store.get(&id, owner.as_deref()).await? {
                Lookup::Found(record) => match &shared.shared {
                    Some(replicas) if record.response_value()?["background"] == true => {
                        crate::runs::follow_shared(
                            replicas.clone(),
                            shared.store.clone(),
                            id,
                            owner,
                            after,
                            shared.config.stream_idle_timeout(),
                        )
                        .right_stream()
                    }
                    _ => return Err(ApiError::InvalidRequest {
                        message: format!("Response '{id}' has no stream to resume here: only background responses streamed by this server can be resumed; retrieve it without 'stream'."),
                        param: Some("stream".to_owned()),
                        code: None,
                    }),
                },
                Lookup::Unknown => return Err(not_found(&id, None, None)),
                Lookup::Gone(gone) => return Err(not_found(&id, Some(gone), None)),
            },
        };
        return Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(events.map(Ok::<_, actix_web::Error>)));
    }
    let id = id_of(&req);
    match shared.store.get(&id, owner.as_deref()).await? {
        Lookup::Found(record) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(record.response.clone())),
        Lookup::Unknown => Err(not_found(&id, None, None)),
        Lookup::Gone(gone) => Err(not_found(&id, Some(gone), None)),
    }
}

/// `DELETE /v1/responses/{id}`: OpenAI's deletion object; later lookups are 404s.
pub async fn delete(
    req: HttpRequest,
    shared: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller(&req, &shared)?;
    let id = id_of(&req);
    if shared.store.delete(&id, owner.as_deref()).await? {
        Ok(HttpResponse::Ok().json(json!({"id": id, "object": "response", "deleted": true})))
    } else {
        Err(not_found(&id, None, None))
    }
}

/// `GET /v1/responses/{id}/input_items`: the request's input items as a page of OpenAI's list
/// object (`after`, `limit` 1–100 (20), `order` `asc` / `desc` (the default)).
pub async fn input_items(
    req: HttpRequest,
    shared: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller(&req, &shared)?;
    let id = id_of(&req);
    let record = match shared.store.get(&id, owner.as_deref()).await? {
        Lookup::Found(record) => record,
        Lookup::Unknown => return Err(not_found(&id, None, None)),
        Lookup::Gone(gone) => return Err(not_found(&id, Some(gone), None)),
    };
    let mut after = None;
    let mut limit = 20usize;
    let mut ascending = false;
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        match key.as_ref() {
            "after" => after = Some(value.into_owned()),
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| ApiError::InvalidRequest {
                        message: format!(
                            "Invalid 'limit' '{value}': expected an integer from 1 to 100."
                        ),
                        param: Some("limit".to_owned()),
                        code: None,
                    })?
            }
            "order" => {
                ascending = match value.as_ref() {
                    "asc" => true,
                    "desc" => false,
                    other => {
                        return Err(ApiError::InvalidRequest {
                            message: format!(
                                "Invalid 'order' '{other}': expected 'asc' or 'desc'."
                            ),
                            param: Some("order".to_owned()),
                            code: None,
                        })
                    }
                }
            }
            _ => {}
        }
    }
    let mut items = record.input_items()?;
    if !ascending {
        items.reverse();
    }
    let start = match &after {
        Some(after) => match items.iter().position(|i| i["id"].as_str() == Some(after)) {
            Some(at) => at + 1,
            None => {
                return Err(ApiError::InvalidRequest {
                    message: format!(
                        "Invalid 'after': no input item '{after}' in response '{id}'."
                    ),
                    param: Some("after".to_owned()),
                    code: None,
                })
            }
        },
        None => 0,
    };
    let rest = items.len().saturating_sub(start);
    let page: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let id_at = |i: Option<&Value>| {
        i.and_then(|v| v["id"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    Ok(HttpResponse::Ok().json(json!({
        "object": "list",
        "first_id": id_at(page.first()),
        "last_id": id_at(page.last()),
        "has_more": rest > page.len(),
        "data": page,
    })))
}
