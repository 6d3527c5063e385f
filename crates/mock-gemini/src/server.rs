//! The running fake: an actix-web server on its own OS thread and `actix_rt::System`, the
//! handler for `.../v1beta/models/{model}:generateContent` and `:streamGenerateContent`
//! (under any path prefix), and the `/_mock/*` control surface for out-of-process tests.
//!
//! Control endpoints (no API key needed):
//! - `POST /_mock/scenarios`: one [`Scenario`] as JSON, or an array of them, queued in order;
//! - `GET /_mock/requests`: the [`RecordedRequest`]s as a JSON array;
//! - `GET /_mock/stats`: `{"request_count", "open_streams", "cancelled_streams", "queued_scenarios"}`;
//! - `POST /_mock/reset`: forget scenarios, requests, counters, signatures and files.
//!
//! The Files API's upload, `get` and `delete` are served too ([`crate::files`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::Bytes;
use futures_util::Stream;
use serde_json::{json, Value};

use crate::body::{response_id, sse_frame, ReplyContext};
use crate::caches::{self, Caches};
use crate::catalog;
use crate::checks::{self, Rejection};
use crate::files::{Files, StoredFile};
use crate::images;
use crate::keyrules::KeyRule;
use crate::record::{RecordedRequest, StreamCounters, StreamGuard};
use crate::render::{self, Plan};
use crate::scenario::{Scenario, StreamStep};
use crate::signatures::{is_gemini3, Signatures};
use crate::vertex;

/// How a [`MockGemini`] behaves; `Default` is what tests want.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// actix workers; one is plenty for tests.
    pub workers: usize,
    /// Validate request bodies against the oracle's `GenerateContentRequest`.
    pub validate: bool,
    /// The key the mock treats as revoked (400 `API_KEY_INVALID`).
    pub invalid_key: String,
    /// Wait this long before every model answer.
    pub delay_ms: u64,
    /// Wait this long between streamed events.
    pub chunk_delay_ms: u64,
    /// Keep every request (method, path, headers, body). Off for long load runs.
    pub record: bool,
    /// The largest request body accepted.
    pub body_limit: usize,
    /// The largest `models.list` page served, whatever `pageSize` asks (Gemini caps at 1000).
    pub max_page_size: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            validate: true,
            invalid_key: "invalid-key".to_owned(),
            delay_ms: 0,
            chunk_delay_ms: 0,
            record: true,
            body_limit: 64 * 1024 * 1024,
            max_page_size: 1000,
        }
    }
}

/// State shared by the handle and the server's workers.
#[derive(Debug)]
struct Shared {
    config: RwLock<MockConfig>,
    scenarios: Mutex<VecDeque<Scenario>>,
    requests: Mutex<Vec<RecordedRequest>>,
    request_count: AtomicUsize,
    streams: Arc<StreamCounters>,
    signatures: Signatures,
    /// The `models.list` catalog (Gemini `Model` objects).
    models: RwLock<Vec<Value>>,
    /// Scripted behaviour per API key.
    key_rules: Mutex<HashMap<String, KeyRule>>,
    /// Vertex AI bearer tokens accepted, with their expiry.
    tokens: Mutex<HashMap<String, Instant>>,
    /// Files API uploads.
    files: Mutex<Files>,
    /// Explicit caches and the keys that created them.
    caches: Caches,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn config(&self) -> MockConfig {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn push(&self, scenarios: impl IntoIterator<Item = Scenario>) -> usize {
        let mut q = lock(&self.scenarios);
        q.extend(scenarios);
        q.len()
    }

    fn reset(&self) {
        lock(&self.scenarios).clear();
        lock(&self.requests).clear();
        self.request_count.store(0, Ordering::SeqCst);
        self.streams.reset_cancelled();
        self.signatures.clear();
        lock(&self.key_rules).clear();
        lock(&self.files).clear();
        self.caches.clear();
        *self.models.write().unwrap_or_else(PoisonError::into_inner) = catalog::default_models();
    }

    fn models(&self) -> Vec<Value> {
        self.models
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn stats(&self) -> Value {
        json!({
            "request_count": self.request_count.load(Ordering::SeqCst),
            "open_streams": self.streams.open(),
            "cancelled_streams": self.streams.cancelled(),
            "queued_scenarios": lock(&self.scenarios).len(),
        })
    }
}

/// Accepts Vertex AI bearer tokens on a running mock ([`MockGemini::tokens`]).
#[derive(Debug, Clone)]
pub struct Tokens(Arc<Shared>);

impl Tokens {
    /// Accepts `token` for `ttl` from now.
    pub fn accept(&self, token: &str, ttl: Duration) {
        lock(&self.0.tokens).insert(token.to_owned(), Instant::now() + ttl);
    }
}

/// A running fake Gemini upstream. Dropping it stops the server.
#[derive(Debug)]
pub struct MockGemini {
    addr: SocketAddr,
    shared: Arc<Shared>,
    handle: Option<ServerHandle>,
    thread: Option<JoinHandle<()>>,
}

impl MockGemini {
    /// Start on `127.0.0.1` with a free port and the default configuration.
    pub fn start() -> io::Result<Self> {
        Self::start_with(MockConfig::default())
    }

    /// Start on `addr` with the default configuration.
    pub fn start_on(addr: SocketAddr) -> io::Result<Self> {
        Self::start_with(MockConfig {
            listen: addr,
            ..MockConfig::default()
        })
    }

    /// Start with `config`. The server runs on its own thread and `actix_rt::System`, so this
    /// works from plain tests, from `#[actix_rt::test]`s and from the binary alike.
    pub fn start_with(config: MockConfig) -> io::Result<Self> {
        // Bind here so a bad address fails the caller, not a thread.
        let listener = TcpListener::bind(config.listen)?;
        let addr = listener.local_addr()?;
        let workers = config.workers.max(1);
        let body_limit = config.body_limit;
        let shared = Arc::new(Shared {
            config: RwLock::new(config),
            scenarios: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            request_count: AtomicUsize::new(0),
            streams: Arc::new(StreamCounters::default()),
            signatures: Signatures::default(),
            models: RwLock::new(catalog::default_models()),
            key_rules: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            files: Mutex::new(Files::default()),
            caches: Caches::default(),
        });
        let data = web::Data::from(shared.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("mock-gemini".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(body_limit))
                            .configure(configure)
                    })
                    .workers(workers)
                    .disable_signals()
                    // A client that closes its side has gone away: drop its response (and
                    // count a cancelled stream) even while the body is waiting to write.
                    .h1_allow_half_closed(false)
                    .on_connect(keep_socket)
                    // No deadline on a request head: on a loaded test machine a pooled
                    // connection's next request can take seconds to arrive, and a 408 from the
                    // fake upstream would fail a test for nothing Pollux did.
                    .client_request_timeout(std::time::Duration::ZERO)
                    .shutdown_timeout(1)
                    .listen(listener);
                    match server {
                        Ok(server) => {
                            let server = server.run();
                            let _ = tx.send(Ok(server.handle()));
                            if let Err(e) = server.await {
                                log::error!("mock-gemini server failed: {e}");
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let handle = rx
            .recv()
            .map_err(|_| io::Error::other("the mock-gemini server thread died"))??;
        log::info!("mock-gemini listening on http://{addr}");
        Ok(MockGemini {
            addr,
            shared,
            handle: Some(handle),
            thread: Some(thread),
        })
    }

    /// The files uploaded through the Files API, deleted ones marked, by name.
    pub fn files(&self) -> Vec<StoredFile> {
        lock(&self.shared.files).list()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queue a scenario for the next model request.
    pub fn push(&self, scenario: Scenario) {
        self.shared.push([scenario]);
    }

    /// Queue scenarios in order.
    pub fn push_all(&self, scenarios: impl IntoIterator<Item = Scenario>) {
        self.shared.push(scenarios);
    }

    /// Scenarios not yet consumed.
    pub fn queued(&self) -> usize {
        lock(&self.shared.scenarios).len()
    }

    /// Every request received so far (control endpoints excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many requests arrived (counted even when recording is off).
    pub fn request_count(&self) -> usize {
        self.shared.request_count.load(Ordering::SeqCst)
    }

    /// Streams whose client went away before the stream finished.
    pub fn cancelled_streams(&self) -> usize {
        self.shared.streams.cancelled()
    }

    /// Streams being written right now.
    pub fn open_streams(&self) -> usize {
        self.shared.streams.open()
    }

    /// Change the configuration of the running mock (the listen address and worker count
    /// are fixed at start).
    pub fn update_config(&self, f: impl FnOnce(&mut MockConfig)) {
        f(&mut self
            .shared
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner));
    }

    /// Replace the `models.list` catalog (Gemini `Model` objects, in list order).
    pub fn set_models(&self, models: Vec<Value>) {
        *self
            .shared
            .models
            .write()
            .unwrap_or_else(PoisonError::into_inner) = models;
    }

    /// Script every call made with `key` (see [`KeyRule`]) until [`MockGemini::clear_key`].
    pub fn script_key(&self, key: &str, rule: KeyRule) {
        lock(&self.shared.key_rules).insert(key.to_owned(), rule);
    }

    /// Let `key` work normally again.
    /// Accepts `token` as a Vertex AI bearer token for `ttl`.
    pub fn accept_token(&self, token: &str, ttl: Duration) {
        self.tokens().accept(token, ttl);
    }

    /// A handle that accepts Vertex AI bearer tokens from another thread (a test's token
    /// endpoint).
    pub fn tokens(&self) -> Tokens {
        Tokens(self.shared.clone())
    }

    pub fn clear_key(&self, key: &str) {
        lock(&self.shared.key_rules).remove(key);
    }

    /// Forget scenarios, requests, counters, issued signatures and key rules; restore the
    /// default model catalog.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stop the server and wait for its thread; also done on drop.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(handle) = self.handle.take() {
            // `stop` sends the command at once; its future only reports completion, which
            // joining the thread below waits for anyway.
            drop(handle.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MockGemini {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_mock")
            .route("/scenarios", web::post().to(push_scenarios))
            .route("/requests", web::get().to(list_requests))
            .route("/stats", web::get().to(stats))
            .route("/reset", web::post().to(reset))
            .route("/models", web::put().to(put_models))
            .route("/keys", web::post().to(put_key_rule))
            .route("/tokens", web::post().to(put_token)),
    )
    .route(
        "/computeMetadata/v1/instance/service-accounts/default/token",
        web::get().to(metadata_token),
    )
    .default_service(web::to(model_call));
}

async fn push_scenarios(body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let parsed = serde_json::from_slice::<Value>(&body).and_then(|v| match v {
        Value::Array(items) => items
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<Vec<Scenario>, _>>(),
        one => serde_json::from_value(one).map(|s| vec![s]),
    });
    match parsed {
        Ok(scenarios) => {
            let queued = shared.push(scenarios);
            HttpResponse::Ok().json(json!({ "queued": queued }))
        }
        Err(e) => HttpResponse::BadRequest().json(json!({ "error": format!("bad scenario: {e}") })),
    }
}

async fn list_requests(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(&*lock(&shared.requests))
}

async fn stats(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(shared.stats())
}

/// `PUT /_mock/models`: a JSON array of Gemini `Model` objects becomes the catalog.
async fn put_models(body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    match serde_json::from_slice::<Vec<Value>>(&body) {
        Ok(models) => {
            let count = models.len();
            *shared
                .models
                .write()
                .unwrap_or_else(PoisonError::into_inner) = models;
            HttpResponse::Ok().json(json!({ "models": count }))
        }
        Err(e) => HttpResponse::BadRequest().json(json!({ "error": format!("bad models: {e}") })),
    }
}

/// `POST /_mock/keys`: `{"key": "...", "rule": {"kind": "rate_limited", "retry_delay_secs": 5}}`
/// or `{"key": "...", "rule": null}` to clear.
async fn put_key_rule(body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    #[derive(serde::Deserialize)]
    struct Body {
        key: String,
        rule: Option<KeyRule>,
    }
    match serde_json::from_slice::<Body>(&body) {
        Ok(Body {
            key,
            rule: Some(rule),
        }) => {
            lock(&shared.key_rules).insert(key, rule);
            HttpResponse::Ok().json(json!({ "scripted": true }))
        }
        Ok(Body { key, rule: None }) => {
            lock(&shared.key_rules).remove(&key);
            HttpResponse::Ok().json(json!({ "scripted": false }))
        }
        Err(e) => HttpResponse::BadRequest().json(json!({ "error": format!("bad key rule: {e}") })),
    }
}

/// `POST /_mock/tokens {"token": "...", "ttl_secs": N}`: accept a Vertex AI bearer token.
async fn put_token(body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    #[derive(serde::Deserialize)]
    struct Token {
        token: String,
        #[serde(default = "hour")]
        ttl_secs: u64,
    }
    fn hour() -> u64 {
        3600
    }
    match serde_json::from_slice::<Token>(&body) {
        Ok(t) => {
            lock(&shared.tokens).insert(t.token, Instant::now() + Duration::from_secs(t.ttl_secs));
            HttpResponse::Ok().json(json!({ "accepted": true }))
        }
        Err(e) => HttpResponse::BadRequest().json(json!({ "error": e.to_string() })),
    }
}

/// A stand-in for the GCE metadata server's token route, so a Vertex-mode Pollux pointed at
/// the mock (`--gce-metadata-host`) gets tokens the mock accepts, for an hour.
async fn metadata_token(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    if req
        .headers()
        .get("metadata-flavor")
        .and_then(|v| v.to_str().ok())
        != Some("Google")
    {
        return HttpResponse::Forbidden().body("Missing Metadata-Flavor:Google header.");
    }
    let token = format!("mock-vertex-token-{}", uuid::Uuid::new_v4().simple());
    lock(&shared.tokens).insert(token.clone(), Instant::now() + Duration::from_secs(3600));
    HttpResponse::Ok().json(json!({
        "access_token": token,
        "expires_in": 3600,
        "token_type": "Bearer"
    }))
}

async fn reset(shared: web::Data<Shared>) -> HttpResponse {
    shared.reset();
    HttpResponse::Ok().json(json!({ "reset": true }))
}

/// A Gemini model path: `.../v1beta/models/{model}:{rpc}`.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    model: String,
    stream: bool,
}

/// Parse the model and rpc from a path that ends in `/v1beta/models/{model}:{rpc}`; any
/// prefix before `/v1beta` is allowed, as gateways add one. Returns `(model, rpc)`.
fn parse_path(path: &str) -> Option<(String, String)> {
    const MARK: &str = "/v1beta/models/";
    model_and_rpc(&path[path.rfind(MARK)? + MARK.len()..])
}

/// `{model}:{rpc}` (the colon may be percent-encoded), each one path segment.
pub(crate) fn model_and_rpc(rest: &str) -> Option<(String, String)> {
    let (model, rpc) = rest
        .split_once(':')
        .or_else(|| rest.split_once("%3A"))
        .or_else(|| rest.split_once("%3a"))?;
    if model.is_empty() || model.contains('/') || rpc.is_empty() || rpc.contains('/') {
        return None;
    }
    Some((model.to_owned(), rpc.to_owned()))
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

fn record(req: &HttpRequest, body: &Bytes, parsed: Option<&(String, String)>) -> RecordedRequest {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    RecordedRequest {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers,
        body: body.to_vec(),
        model: parsed.map(|p| p.0.clone()),
        rpc: parsed.map(|p| p.1.clone()),
    }
}

async fn model_call(req: HttpRequest, body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let vertex = vertex::parse_path(req.path());
    let parsed = parse_path(req.path())
        .or_else(|| vertex.as_ref().map(|v| (v.model.clone(), v.rpc.clone())));
    shared.request_count.fetch_add(1, Ordering::SeqCst);
    let config = shared.config();
    if config.record {
        let rec = record(&req, &body, parsed.as_ref());
        lock(&shared.requests).push(rec);
    }
    log::debug!("{} {}", req.method(), req.path());
    if config.delay_ms > 0 {
        actix_rt::time::sleep(Duration::from_millis(config.delay_ms)).await;
    }
    let query = query_pairs(req.query_string());
    if let Some(key) = request_key(&req, &query) {
        let rule = lock(&shared.key_rules).get(key).cloned();
        if let Some(rule) = rule {
            return reject(&rule.rejection(key));
        }
    }
    let files = lock(&shared.files).call(&req, &body, request_key(&req, &query));
    if let Some(answer) = files {
        return match answer {
            Ok(answer) => {
                let mut res = HttpResponse::Ok();
                for (name, value) in answer.headers {
                    res.insert_header((name, value));
                }
                if answer.body.is_null() {
                    res.finish()
                } else {
                    res.json(answer.body)
                }
            }
            Err(r) => reject(&r),
        };
    }
    let cache = caches::one(req.path()).filter(|_| req.method() == Method::GET);
    if cache.is_some() || (req.method() == Method::POST && caches::is_create(req.path())) {
        let key = request_key(&req, &query);
        let key_text = key.unwrap_or_default();
        return match checks::api_key(key, &config.invalid_key).and_then(|()| match &cache {
            Some(name) => shared.caches.get(name, key_text),
            None => shared.caches.create(key_text, &body),
        }) {
            Ok(value) => whole(200, render::JSON, render::pretty(&value), &BTreeMap::new()),
            Err(r) => reject(&r),
        };
    }
    if req.method() == Method::GET && vertex::is_publisher_list(req.path()) {
        return match vertex_auth(&req, &shared, &config, false)
            .and_then(|()| vertex::publisher_models(&shared.models(), &query, config.max_page_size))
        {
            Ok(value) => whole(200, render::JSON, render::pretty(&value), &BTreeMap::new()),
            Err(r) => reject(&r),
        };
    }
    let body = match &vertex {
        Some(v) => match vertex_call(&req, body, &shared, &config, v) {
            Ok(body) => body,
            Err(response) => return *response,
        },
        None => body,
    };
    if let Some(response) = catalog_call(&req, &body, &shared, &config, parsed.as_ref(), &query) {
        return response;
    }
    let target = match parsed {
        Some((model, rpc)) if rpc == "generateContent" || rpc == "streamGenerateContent" => {
            Target {
                model,
                stream: rpc == "streamGenerateContent",
            }
        }
        Some((model, rpc)) => {
            return reject(&Rejection::new(
                404,
                "NOT_FOUND",
                format!(
                    "models/{model} is not found for API version v1beta, or is not supported for \
                     {rpc}. Call ListModels to see the list of available models and their \
                     supported methods."
                ),
            ))
        }
        None => {
            return reject(&Rejection::new(
                404,
                "NOT_FOUND",
                "Requested entity was not found.",
            ))
        }
    };
    if req.method() != Method::POST {
        return reject(&Rejection::new(404, "NOT_FOUND", "Method not found."));
    }
    let oauth = vertex.as_ref().is_some_and(|v| v.project);
    match answer(&req, &body, &shared, &config, target, oauth) {
        Ok(plan) => {
            let socket = req.conn_data::<ConnSocket>().cloned();
            respond(plan, &shared, config.chunk_delay_ms, socket).await
        }
        Err(r) => reject(&r),
    }
}

/// Run Gemini's checks and pick the scenario; the scenario is consumed only by a request
/// Gemini would have run.
fn answer(
    req: &HttpRequest,
    body: &Bytes,
    shared: &Shared,
    config: &MockConfig,
    target: Target,
    oauth: bool,
) -> Result<Plan, Rejection> {
    let query = query_pairs(req.query_string());
    if !oauth {
        checks::api_key(request_key(req, &query), &config.invalid_key)?;
    }
    if target.stream && !query.iter().any(|(k, v)| k == "alt" && v == "sse") {
        // Real Gemini streams a JSON array here; Pollux never asks for it, so the mock refuses
        // rather than fake a format nobody tests.
        return Err(Rejection::invalid(
            "mock-gemini serves streamGenerateContent only with alt=sse",
        ));
    }
    let request = checks::request(body, config.validate)?;
    let key = (!oauth).then(|| request_key(req, &query)).flatten();
    if let Some(key) = key {
        lock(&shared.files).check_refs(&request, Some(key))?;
    }
    shared.caches.check(&request, key)?;
    if is_gemini3(&target.model) {
        let contents = request
            .get("contents")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        shared
            .signatures
            .check(contents)
            .map_err(Rejection::invalid)?;
    }
    let scenario = lock(&shared.scenarios).pop_front();
    let scenario = scenario.unwrap_or_else(|| {
        if images::wants_image(&request) {
            images::image_answer(&request)
        } else {
            Scenario::default_for(&request)
        }
    });
    let ctx = ReplyContext {
        model: target.model,
        response_id: response_id(),
        prompt_tokens: checks::prompt_tokens(&request),
    };
    Ok(render::plan(
        scenario,
        &ctx,
        target.stream,
        &shared.signatures,
    ))
}

/// Vertex AI's part of a model call: the bearer token of a project path, and Vertex's own
/// body checks for generation calls; answers `countTokens` (Vertex's body has the fields at
/// the top level) and embeddings' `predict`. Returns the body for the Gemini checks that
/// follow, without `labels`.
fn vertex_call(
    req: &HttpRequest,
    body: Bytes,
    shared: &Shared,
    config: &MockConfig,
    path: &vertex::VertexPath,
) -> Result<Bytes, Box<HttpResponse>> {
    vertex_auth(req, shared, config, path.project).map_err(|r| Box::new(reject(&r)))?;
    match path.rpc.as_str() {
        "predict" => Err(Box::new(
            match vertex::predict_embeddings(&shared.models(), &path.model, &body) {
                Ok(value) => whole(200, render::JSON, render::pretty(&value), &BTreeMap::new()),
                Err(r) => reject(&r),
            },
        )),
        "generateContent" | "streamGenerateContent" => vertex::request(&body)
            .map(Bytes::from)
            .map_err(|r| Box::new(reject(&r))),
        "countTokens" => {
            let checked = vertex::request(&body).and_then(|clean| {
                checks::count_tokens(
                    &serde_json::to_vec(
                        &json!({"contents": serde_json::from_slice::<Value>(&clean)
                        .ok()
                        .and_then(|v| v.get("contents").cloned())
                        .unwrap_or_default()}),
                    )
                    .unwrap_or_default(),
                    config.validate,
                )
            });
            Err(Box::new(match checked {
                Ok(value) => whole(200, render::JSON, render::pretty(&value), &BTreeMap::new()),
                Err(r) => reject(&r),
            }))
        }
        _ => Ok(body),
    }
}

/// Vertex AI's credentials check: a bearer token the test accepted on a project path (or on
/// any call that carries one), else an API key (express mode).
fn vertex_auth(
    req: &HttpRequest,
    shared: &Shared,
    config: &MockConfig,
    project: bool,
) -> Result<(), Rejection> {
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if project || authorization.is_some() {
        return vertex::bearer(authorization, &lock(&shared.tokens));
    }
    let query = query_pairs(req.query_string());
    checks::api_key(request_key(req, &query), &config.invalid_key)
}

/// The API key of a request: the `x-goog-api-key` header, else the `key` query parameter.
fn request_key<'a>(req: &'a HttpRequest, query: &'a [(String, String)]) -> Option<&'a str> {
    req.headers()
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k == "key")
                .map(|(_, v)| v.as_str())
        })
}

/// `models.list`, `models.get` and the embedding RPCs; `None` for every other path.
fn catalog_call(
    req: &HttpRequest,
    body: &Bytes,
    shared: &Shared,
    config: &MockConfig,
    parsed: Option<&(String, String)>,
    query: &[(String, String)],
) -> Option<HttpResponse> {
    const MARK: &str = "/v1beta/models";
    let path = req.path();
    let tail = &path[path.rfind(MARK)? + MARK.len()..];
    let is_get = req.method() == Method::GET;
    let result = match (parsed, tail) {
        (None, "" | "/") if is_get => checks::api_key(request_key(req, query), &config.invalid_key)
            .and_then(|()| catalog::list(&shared.models(), query, config.max_page_size)),
        (None, tail) if is_get => {
            let id = tail.strip_prefix('/').filter(|id| !id.contains('/'))?;
            checks::api_key(request_key(req, query), &config.invalid_key)
                .and_then(|()| catalog::get(&shared.models(), id))
        }
        (Some((_, rpc)), _) if req.method() == Method::POST && rpc == "countTokens" => {
            checks::api_key(request_key(req, query), &config.invalid_key)
                .and_then(|()| checks::count_tokens(body, config.validate))
        }
        (Some((model, rpc)), _) if req.method() == Method::POST && rpc == "predict" => {
            checks::api_key(request_key(req, query), &config.invalid_key)
                .and_then(|()| images::predict(model, body, config.validate))
        }
        (Some((model, rpc)), _) if req.method() == Method::POST && catalog::is_embed_rpc(rpc) => {
            checks::api_key(request_key(req, query), &config.invalid_key)
                .and_then(|()| catalog::embed(&shared.models(), model, rpc, body, config.validate))
        }
        _ => return None,
    };
    Some(match result {
        Ok(value) => whole(200, render::JSON, render::pretty(&value), &BTreeMap::new()),
        Err(r) => reject(&r),
    })
}

fn reject(r: &Rejection) -> HttpResponse {
    let Plan::Whole {
        status,
        content_type,
        body,
        ..
    } = render::json_plan(r.code, &r.body())
    else {
        return HttpResponse::InternalServerError().finish();
    };
    whole(status, &content_type, body, &BTreeMap::new())
}

fn whole(
    status: u16,
    content_type: &str,
    body: Bytes,
    headers: &BTreeMap<String, String>,
) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    res.content_type(content_type);
    gemini_headers(&mut res, headers);
    res.body(body)
}

/// Headers Google's front end sends, then the scenario's own (which win).
fn gemini_headers(res: &mut actix_web::HttpResponseBuilder, headers: &BTreeMap<String, String>) {
    res.insert_header(("vary", "Origin, X-Origin, Referer"));
    res.insert_header(("server", "scaffolding on HTTPServer2"));
    res.insert_header(("x-content-type-options", "nosniff"));
    for (name, value) in headers {
        match (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(n), Ok(v)) => {
                res.insert_header((n, v));
            }
            _ => log::warn!("mock-gemini: skipping invalid scripted header {name:?}"),
        }
    }
}

async fn respond(
    plan: Plan,
    shared: &Shared,
    chunk_delay_ms: u64,
    socket: Option<ConnSocket>,
) -> HttpResponse {
    match plan {
        Plan::Whole {
            status,
            content_type,
            body,
            headers,
            delay_ms,
        } => {
            if delay_ms > 0 {
                actix_rt::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            whole(status, &content_type, body, &headers)
        }
        Plan::Stream {
            steps,
            headers,
            delay_ms,
        } => {
            if delay_ms > 0 {
                actix_rt::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            let guard = StreamGuard::new(shared.streams.clone());
            let mut res = HttpResponse::Ok();
            res.content_type("text/event-stream");
            gemini_headers(&mut res, &headers);
            res.streaming(stream_body(steps, chunk_delay_ms, guard, socket))
        }
        Plan::HangBeforeHead => {
            futures_util::future::pending::<()>().await;
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// How long a scripted cut waits after flushing before it resets the connection.
const CUT_GRACE: Duration = Duration::from_millis(20);

/// A duplicate handle of a connection's socket, kept so that a scripted cut can turn the close
/// of that connection into a reset.
#[derive(Debug, Clone)]
struct ConnSocket {
    #[cfg(unix)]
    fd: std::rc::Rc<std::os::fd::OwnedFd>,
}

impl ConnSocket {
    /// Make the last close of this socket send RST (`SO_LINGER` 0) instead of FIN.
    fn reset_on_close(&self) -> io::Result<()> {
        #[cfg(unix)]
        {
            let std = std::net::TcpStream::from(self.fd.try_clone()?);
            tokio::net::TcpStream::from_std(std)?.set_zero_linger()
        }
        #[cfg(not(unix))]
        Ok(())
    }
}

fn keep_socket(conn: &dyn std::any::Any, ext: &mut actix_web::dev::Extensions) {
    #[cfg(unix)]
    if let Some(stream) = conn.downcast_ref::<actix_rt::net::TcpStream>() {
        use std::os::fd::AsFd;
        match stream.as_fd().try_clone_to_owned() {
            Ok(fd) => {
                ext.insert(ConnSocket {
                    fd: std::rc::Rc::new(fd),
                });
            }
            Err(e) => log::warn!("mock-gemini: cannot keep a socket handle: {e}"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = conn;
        ext.insert(ConnSocket {});
    }
}

/// The body of a streamed response. The guard lives inside it: actix drops the body when the
/// client goes away, which the guard counts as a cancelled stream.
fn stream_body(
    steps: Vec<StreamStep>,
    chunk_delay_ms: u64,
    mut guard: StreamGuard,
    socket: Option<ConnSocket>,
) -> impl Stream<Item = Result<Bytes, io::Error>> {
    async_stream::stream! {
        let mut events = 0usize;
        for step in steps {
            match step {
                StreamStep::Event(event) => {
                    if events > 0 && chunk_delay_ms > 0 {
                        actix_rt::time::sleep(Duration::from_millis(chunk_delay_ms)).await;
                    }
                    events += 1;
                    yield Ok(sse_frame(&event));
                }
                StreamStep::Raw(text) => yield Ok(Bytes::from(text)),
                StreamStep::Delay(ms) => {
                    actix_rt::time::sleep(Duration::from_millis(ms)).await;
                }
                StreamStep::Cut => {
                    guard.finish();
                    // Let actix flush what was written so far (it discards its write buffer
                    // when the body fails) and give the client a moment to read it.
                    actix_rt::time::sleep(CUT_GRACE).await;
                    // Some clients (awc among them) take a FIN after the last whole chunk for
                    // a clean end, so the cut resets the connection.
                    if let Some(socket) = &socket {
                        if let Err(e) = socket.reset_on_close() {
                            log::warn!("mock-gemini: cannot arm the reset of a cut stream: {e}");
                        }
                    }
                    // An error from the body makes actix drop the connection without the final
                    // chunk, so the client sees a truncated body rather than a clean end.
                    yield Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "mock-gemini cut the stream",
                    ));
                    return;
                }
                StreamStep::Hang => {
                    futures_util::future::pending::<()>().await;
                }
            }
        }
        guard.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_and_without_prefix() {
        let p = |s: &str| parse_path(s);
        assert_eq!(
            p("/v1beta/models/gemini-2.5-flash:generateContent"),
            Some(("gemini-2.5-flash".into(), "generateContent".into()))
        );
        assert_eq!(
            p("/v1/v1beta/models/gemini-3-pro:streamGenerateContent"),
            Some(("gemini-3-pro".into(), "streamGenerateContent".into()))
        );
        assert_eq!(
            p("/x/v1beta/models/m%3AgenerateContent"),
            Some(("m".into(), "generateContent".into()))
        );
        assert_eq!(p("/v1beta/models/m"), None);
        assert_eq!(p("/v1beta/models/:generateContent"), None);
        assert_eq!(p("/other"), None);
    }

    #[test]
    fn start_and_stop_from_a_plain_test() {
        let mock = MockGemini::start().unwrap();
        assert!(mock.base_url().starts_with("http://127.0.0.1:"));
        assert_ne!(mock.addr().port(), 0);
        mock.stop();
    }
}
