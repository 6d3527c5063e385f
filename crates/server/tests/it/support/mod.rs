//! Test harness: `mock-gemini` plus a real Pollux server on ephemeral loopback ports, and
//! an awc client with helpers for plain, raw and streamed calls. Both servers stop when the
//! harness is dropped.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::header::HeaderMap;
use futures_util::StreamExt;
use mock_gemini::{MockGemini, StreamStep};
use pollux_server::Config;
use serde_json::{json, Value};

pub type Error = Box<dyn std::error::Error>;

pub struct Pollux {
    /// Declared first so Pollux stops before the mock it talks to.
    _server: ServerThread,
    pub mock: MockGemini,
    pub addr: SocketAddr,
}

/// An actix server running on its own thread and `System`, stopped (without a grace period)
/// and joined when dropped.
pub struct ServerThread {
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Runs `bind` on a new thread (actix builds its workers there) and waits for its address.
    pub fn spawn<F>(bind: F) -> Result<ServerThread, Error>
    where
        F: FnOnce() -> std::io::Result<(actix_web::dev::Server, SocketAddr)> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                match bind() {
                    Ok((server, addr)) => {
                        let _ = tx.send(Ok((addr, server.handle())));
                        let _ = server.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        });
        let (addr, handle) = rx.recv_timeout(Duration::from_secs(10))??;
        Ok(ServerThread {
            addr,
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let stopper = std::thread::spawn(move || {
            actix_rt::System::new().block_on(handle.stop(false));
        });
        let _ = stopper.join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Pollux {
    pub fn start() -> Result<Pollux, Error> {
        Pollux::start_with(|_, _| {})
    }

    /// Starts with the test defaults, then lets the caller adjust the config (the second
    /// argument is the mock's base URL).
    pub fn start_with(adjust: impl FnOnce(&mut Config, &str)) -> Result<Pollux, Error> {
        Pollux::start_before(MockGemini::start()?, adjust)
    }

    /// [`Pollux::start_with`] in front of a mock the caller configured.
    pub fn start_before(
        mock: MockGemini,
        adjust: impl FnOnce(&mut Config, &str),
    ) -> Result<Pollux, Error> {
        let mut config = Config::defaults();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.upstream = mock.base_url();
        config.api_key = Some("test-key".to_owned());
        config.workers = 1;
        // Tests script each upstream answer; retries are switched on where they are tested.
        config.max_retries = 0;
        adjust(&mut config, &mock.base_url());
        let server = ServerThread::spawn(move || pollux_server::bind(config))?;
        Ok(Pollux {
            addr: server.addr,
            _server: server,
            mock,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn client() -> awc::Client {
        awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, HeaderMap, Value), Error> {
        self.post_raw(path, serde_json::to_vec(body)?).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, HeaderMap, Value), Error> {
        let mut resp = Self::client()
            .post(self.url(path))
            .insert_header(("content-type", "application/json"))
            .send_body(body)
            .await?;
        let bytes = resp.body().limit(64 * 1024 * 1024).await?;
        let json = serde_json::from_slice(&bytes)
            .map_err(|e| format!("non-JSON body ({e}): {}", String::from_utf8_lossy(&bytes)))?;
        Ok((resp.status().as_u16(), resp.headers().clone(), json))
    }

    pub async fn post_with_key(
        &self,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> Result<(u16, HeaderMap, Value), Error> {
        let mut req = Self::client().post(self.url(path));
        if let Some(key) = key {
            req = req.insert_header(("authorization", format!("Bearer {key}")));
        }
        let mut resp = req.send_json(body).await?;
        let bytes = resp.body().await?;
        Ok((
            resp.status().as_u16(),
            resp.headers().clone(),
            serde_json::from_slice(&bytes)?,
        ))
    }

    /// Any method, with an optional bearer key and JSON body; the answer parsed as JSON.
    pub async fn call(
        &self,
        method: awc::http::Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Error> {
        let mut req = Self::client().request(method, self.url(path));
        if let Some(key) = key {
            req = req.insert_header(("authorization", format!("Bearer {key}")));
        }
        let mut resp = match body {
            Some(body) => req.send_json(body).await?,
            None => req.send().await?,
        };
        let bytes = resp.body().limit(64 * 1024 * 1024).await?;
        let json = serde_json::from_slice(&bytes)
            .map_err(|e| format!("non-JSON body ({e}): {}", String::from_utf8_lossy(&bytes)))?;
        Ok((resp.status().as_u16(), json))
    }

    pub async fn get(&self, path: &str) -> Result<(u16, HeaderMap, Value), Error> {
        let mut resp = Self::client().get(self.url(path)).send().await?;
        let bytes = resp.body().await?;
        Ok((
            resp.status().as_u16(),
            resp.headers().clone(),
            serde_json::from_slice(&bytes)?,
        ))
    }

    /// Posts a streaming request and returns the `data:` payloads of every event.
    pub async fn stream(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<(u16, HeaderMap, Vec<String>), Error> {
        let mut resp = Self::client().post(self.url(path)).send_json(body).await?;
        let bytes = resp.body().limit(64 * 1024 * 1024).await?;
        let text = std::str::from_utf8(&bytes)?;
        let events = text
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.strip_prefix("data: ")
                    .map(str::to_owned)
                    .ok_or_else(|| format!("not an SSE data event: {e:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((resp.status().as_u16(), resp.headers().clone(), events))
    }

    /// Posts a streaming request to a route that names its events (`event:` then `data:`,
    /// the Responses API) and returns each event's name and parsed data, checking that the
    /// two agree on the type.
    pub async fn named_stream(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<(u16, HeaderMap, Vec<Value>), Error> {
        let resp = Self::client().post(self.url(path)).send_json(body).await?;
        read_named(resp).await
    }

    /// [`Pollux::named_stream`] for a GET (a resumed stream).
    pub async fn named_stream_get(
        &self,
        path: &str,
    ) -> Result<(u16, HeaderMap, Vec<Value>), Error> {
        let resp = Self::client().get(self.url(path)).send().await?;
        read_named(resp).await
    }

    /// Starts a stream, reads its first bytes, then drops the connection.
    pub async fn stream_then_drop(&self, path: &str, body: &Value) -> Result<(), Error> {
        let mut resp = Self::client().post(self.url(path)).send_json(body).await?;
        assert_eq!(resp.status().as_u16(), 200);
        let first = resp.next().await.ok_or("stream ended at once")??;
        assert!(!first.is_empty());
        drop(resp);
        Ok(())
    }
}

/// Reads a stream of named events (`event:` then `data:`), checking that the two agree on the
/// type; a non-200 answer is its JSON body.
pub async fn read_named<S>(
    mut resp: awc::ClientResponse<S>,
) -> Result<(u16, HeaderMap, Vec<Value>), Error>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    let bytes = resp.body().limit(64 * 1024 * 1024).await?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Ok((
            status,
            resp.headers().clone(),
            vec![serde_json::from_slice(&bytes)?],
        ));
    }
    let text = std::str::from_utf8(&bytes)?;
    let mut events = Vec::new();
    for frame in text.split("\n\n").filter(|e| !e.is_empty()) {
        if frame.starts_with(':') {
            continue;
        }
        let (name, data) = frame
            .strip_prefix("event: ")
            .and_then(|rest| rest.split_once("\ndata: "))
            .ok_or_else(|| format!("not a named SSE event: {frame:?}"))?;
        let data: Value = serde_json::from_str(data)?;
        if data["type"] != name {
            return Err(format!("event {name} carries type {}", data["type"]).into());
        }
        events.push(data);
    }
    Ok((status, resp.headers().clone(), events))
}

/// The `error.message` of an OpenAI error body, "" when it has none: what most error checks
/// look into.
pub fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// Asserts a body Pollux returned matches the OpenAI spec's schema of that name.
pub fn assert_openai(schema: &str, value: &Value) {
    let errors = mock_gemini::oracle::openai_errors(schema, value);
    assert!(
        errors.is_empty(),
        "not a valid {schema}: {errors:?}\n{value:#}"
    );
}

/// Asserts a body Pollux returned matches the OpenAI Responses spec's schema of that name.
pub fn assert_responses(schema: &str, value: &Value) {
    let errors = mock_gemini::oracle::responses_errors(schema, value);
    assert!(
        errors.is_empty(),
        "not a valid {schema}: {errors:?}\n{value:#}"
    );
}

/// Asserts a body Pollux sent upstream is a valid Gemini `GenerateContentRequest`.
pub fn assert_gemini_request(value: &Value) {
    let errors = mock_gemini::oracle::gemini_errors("GenerateContentRequest", value);
    assert!(
        errors.is_empty(),
        "not a valid GenerateContentRequest: {errors:?}\n{value:#}"
    );
}

// ---------------------------------------------------------------------------------------
// Requests, scripted stream events and `/metrics` readings shared by the fault,
// observability and process tests.

pub fn chat(content: &str) -> Value {
    json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": content}]})
}

pub fn stream_chat(content: &str) -> Value {
    let mut body = chat(content);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body
}

pub fn text_event(text: &str) -> StreamStep {
    StreamStep::Event(
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}]}),
    )
}

pub fn final_event(text: &str) -> StreamStep {
    StreamStep::Event(json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6}
    }))
}

pub fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

/// `/metrics` as text.
pub async fn metrics(p: &Pollux) -> Result<String, Error> {
    let mut resp = client().get(p.url("/metrics")).send().await?;
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    let bytes = resp.body().await?;
    Ok(String::from_utf8(bytes.to_vec())?)
}

/// The value of an unlabelled sample.
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits (bounded) until no stream is open and no upstream slot is held.
pub async fn assert_clean(p: &Pollux) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = metrics(p).await?;
        let open = sample(&text, "pollux_open_streams");
        let in_flight = sample(&text, "pollux_upstream_in_flight");
        if open == Some(0.0) && in_flight == Some(0.0) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "left behind: open_streams={open:?} upstream_in_flight={in_flight:?}"
            )
            .into());
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}
