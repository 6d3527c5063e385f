//! `--upstream vertex`: Vertex AI's URL shapes, its OAuth flow and its request differences,
//! against mock-gemini (which checks Vertex's paths and bearer tokens) and a small token
//! endpoint run here. The endpoint verifies each service-account JWT against the public half
//! of a key pair made for the test (openssl), checks its claims, and answers tokens with a
//! short lifetime, so the early refresh and the failure path both run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mock_gemini::{MockGemini, Scenario};
use pollux_server::gcp_auth::{Claims, SCOPE};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::support::{
    assert_gemini_request, assert_openai, error_message, stream_chat, Pollux, ServerThread,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const EMAIL: &str = "pollux-test@proj-1.iam.gserviceaccount.com";
const KEY_ID: &str = "kid-123";
const MODEL_PATH: &str =
    "/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.5-flash";

/// A folder of its own for each test's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("pollux-vertex-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh RSA key pair (PKCS#8 private, SPKI public), as PEM.
fn key_pair(dir: &Path) -> (String, String) {
    let private = dir.join("key.pem");
    let public = dir.join("pub.pem");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl is installed (.ci/run installs it)");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        private.to_str().unwrap(),
    ]);
    run(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (
        std::fs::read_to_string(private).unwrap(),
        std::fs::read_to_string(public).unwrap(),
    )
}

/// What the token endpoint did.
#[derive(Default)]
struct Issued {
    /// Each issued token with the time it expires.
    tokens: Vec<(String, Instant)>,
    /// Claims of assertions that failed a check, with why.
    refused: Vec<String>,
}

struct TokenEndpoint {
    server: ServerThread,
    state: Arc<EndpointState>,
}

struct EndpointState {
    public_pem: String,
    lifetime_secs: u64,
    fail: AtomicBool,
    calls: AtomicUsize,
    issued: Mutex<Issued>,
    /// Bumped on every call, so a test can await the next one.
    bell: watch::Sender<usize>,
    mock: Mutex<Option<mock_gemini::Tokens>>,
    /// The URI the endpoint is reached at (the JWT's `aud`).
    uri: Mutex<String>,
}

impl TokenEndpoint {
    fn start(public_pem: String, lifetime_secs: u64) -> TokenEndpoint {
        let (bell, _) = watch::channel(0);
        let state = Arc::new(EndpointState {
            public_pem,
            lifetime_secs,
            fail: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            issued: Mutex::new(Issued::default()),
            bell,
            mock: Mutex::new(None),
            uri: Mutex::new(String::new()),
        });
        let shared = state.clone();
        let server = ServerThread::spawn(move || {
            let data = web::Data::from(shared);
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route("/token", web::post().to(token))
                    .route(
                        "/computeMetadata/v1/instance/service-accounts/default/token",
                        web::get().to(metadata_token),
                    )
            })
            .workers(1)
            .bind("127.0.0.1:0")?;
            let addr = server.addrs()[0];
            Ok((server.run(), addr))
        })
        .unwrap();
        *state.uri.lock().unwrap() = format!("http://{}/token", server.addr);
        TokenEndpoint { server, state }
    }

    fn uri(&self) -> String {
        format!("http://{}/token", self.server.addr)
    }

    /// Waits until the endpoint has answered `n` calls.
    async fn calls_reach(&self, n: usize) {
        let mut rx = self.state.bell.subscribe();
        tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|c| *c >= n))
            .await
            .expect("the token endpoint was called in time")
            .unwrap();
    }

    fn issued(&self) -> Vec<(String, Instant)> {
        self.state.issued.lock().unwrap().tokens.clone()
    }

    fn refused(&self) -> Vec<String> {
        self.state.issued.lock().unwrap().refused.clone()
    }
}

/// The metadata server's token route: it wants `Metadata-Flavor: Google` and the scope.
async fn metadata_token(
    req: actix_web::HttpRequest,
    state: web::Data<EndpointState>,
) -> HttpResponse {
    let flavor = req
        .headers()
        .get("metadata-flavor")
        .and_then(|v| v.to_str().ok());
    let scopes = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.0)
        .unwrap_or_default();
    let answer = if flavor != Some("Google") {
        Err("no Metadata-Flavor: Google".to_owned())
    } else if !scopes.iter().any(|(k, v)| k == "scopes" && v == SCOPE) {
        Err(format!("wrong scopes: {scopes:?}"))
    } else {
        Ok(())
    };
    issue(answer, &state)
}

/// The token endpoint: RFC 7523's JWT bearer grant, checked as Google checks it, or the
/// refresh-token grant of gcloud's user credentials.
async fn token(
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<EndpointState>,
) -> HttpResponse {
    let refresh = form
        .iter()
        .any(|(k, v)| k == "grant_type" && v == "refresh_token");
    let answer = if refresh {
        let has = |k: &str, v: &str| form.iter().any(|(a, b)| a == k && b == v);
        (has("client_id", "cid") && has("client_secret", "csecret") && has("refresh_token", "rtok"))
            .then_some(())
            .ok_or_else(|| format!("wrong refresh grant: {:?}", form.0))
    } else {
        check_grant(&form, &state)
    };
    issue(answer, &state)
}

/// Answers a checked grant: a token (that the mock learns), or the scripted failure.
fn issue(answer: Result<(), String>, state: &EndpointState) -> HttpResponse {
    let n = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let response = match answer {
        Err(why) => {
            state.issued.lock().unwrap().refused.push(why);
            HttpResponse::BadRequest()
                .json(json!({"error": "invalid_grant", "error_description": "Invalid JWT."}))
        }
        Ok(()) if state.fail.load(Ordering::SeqCst) => HttpResponse::BadRequest()
            .json(json!({"error": "invalid_grant", "error_description": "Account disabled."})),
        Ok(()) => {
            let token = format!("ya29.test-token-{n}");
            let ttl = Duration::from_secs(state.lifetime_secs);
            if let Some(mock) = state.mock.lock().unwrap().as_ref() {
                mock.accept(&token, ttl);
            }
            state
                .issued
                .lock()
                .unwrap()
                .tokens
                .push((token.clone(), Instant::now() + ttl));
            HttpResponse::Ok().json(json!({
                "access_token": token,
                "expires_in": state.lifetime_secs,
                "token_type": "Bearer"
            }))
        }
    };
    state.bell.send_replace(n);
    response
}

fn check_grant(form: &[(String, String)], state: &EndpointState) -> Result<(), String> {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or(format!("no {name}"))
    };
    if field("grant_type")? != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return Err("wrong grant_type".to_owned());
    }
    let assertion = field("assertion")?;
    let key = DecodingKey::from_rsa_pem(state.public_pem.as_bytes()).map_err(|e| e.to_string())?;
    let uri = state.uri.lock().unwrap().clone();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[uri.as_str()]);
    validation.set_issuer(&[EMAIL]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let data = jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
        .map_err(|e| format!("signature or claims: {e}"))?;
    if data.header.kid.as_deref() != Some(KEY_ID) {
        return Err("wrong kid".to_owned());
    }
    let c = data.claims;
    if c.scope != SCOPE || c.exp != c.iat + 3600 {
        return Err(format!("wrong claims: {c:?}"));
    }
    Ok(())
}

/// Writes a service-account file whose `token_uri` is the test endpoint.
fn service_account(dir: &Path, private_pem: &str, token_uri: &str) -> PathBuf {
    let path = dir.join("sa.json");
    let file = json!({
        "type": "service_account",
        "project_id": "proj-1",
        "private_key_id": KEY_ID,
        "private_key": private_pem,
        "client_email": EMAIL,
        "client_id": "1234",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
    path
}

/// Pollux in Vertex mode with a service account, in front of mock-gemini.
fn vertex_pollux(dir: &Path, endpoint: &TokenEndpoint, private_pem: &str) -> Pollux {
    let mock = MockGemini::start().unwrap();
    // The mock learns each token as the endpoint issues it (the first is fetched at start).
    *endpoint.state.mock.lock().unwrap() = Some(mock.tokens());
    let sa = service_account(dir, private_pem, &endpoint.uri());
    Pollux::start_before(mock, |c, base| {
        c.upstream = "vertex".to_owned();
        c.vertex_project = Some("proj-1".to_owned());
        c.vertex_location = "us-central1".to_owned();
        c.vertex_base_url = Some(base.to_owned());
        c.vertex_credentials = Some(sa);
        c.api_key = None;
    })
    .unwrap()
}

/// The service-account setup most tests here share: a folder, a key pair, a token endpoint
/// issuing tokens that live `lifetime_secs`, and Pollux in Vertex mode signing with the key.
/// Bind the three in this order so Pollux stops first and the folder goes last.
fn service_account_setup(name: &str, lifetime_secs: u64) -> (TempDir, TokenEndpoint, Pollux) {
    let dir = TempDir::new(name);
    let (private, public) = key_pair(&dir.0);
    let endpoint = TokenEndpoint::start(public, lifetime_secs);
    let p = vertex_pollux(&dir.0, &endpoint, &private);
    (dir, endpoint, p)
}

/// Posts a one-message chat and asserts it was answered 200: the request every auth check
/// here starts from.
async fn chat_ok(p: &Pollux, content: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let (status, _, body) = p
        .post("/v1/chat/completions", &crate::support::chat(content))
        .await?;
    assert_eq!(status, 200, "{body}");
    Ok(body)
}

/// Asserts `r` carried `token` as its bearer: how each test here tells which credential
/// Pollux used.
fn assert_bearer(r: &mock_gemini::RecordedRequest, token: &str) {
    assert_eq!(
        header(r, "authorization"),
        Some(format!("Bearer {token}").as_str())
    );
}

fn header<'a>(r: &'a mock_gemini::RecordedRequest, name: &str) -> Option<&'a str> {
    r.headers.get(name).map(String::as_str)
}

#[actix_rt::test]
async fn service_account_tokens_reach_vertex_urls_and_refresh_early() -> TestResult {
    let (_dir, endpoint, p) = service_account_setup("refresh", 3);

    let body = chat_ok(&p, "hi").await?;
    assert_openai("CreateChatCompletionResponse", &body);
    let sent = p.mock.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, format!("{MODEL_PATH}:generateContent"));
    let first = endpoint.issued()[0].clone();
    assert_bearer(&sent[0], &first.0);
    assert_eq!(header(&sent[0], "x-goog-api-key"), None);
    assert!(endpoint.refused().is_empty(), "{:?}", endpoint.refused());

    // A stream, on the same token.
    let (status, _, events) = p.stream("/v1/chat/completions", &stream_chat("hi")).await?;
    assert_eq!(status, 200, "{events:?}");
    let sent = p.mock.requests();
    assert_eq!(sent[1].path, format!("{MODEL_PATH}:streamGenerateContent"));
    assert_eq!(sent[1].query, "alt=sse");

    // The refresher asks for the next token before the first expires (3 s lifetime:
    // refreshed after 2.25 s), and requests then carry it.
    endpoint.calls_reach(2).await;
    let issued = endpoint.issued();
    assert_eq!(issued.len(), 2, "{:?}", endpoint.refused());
    assert!(Instant::now() < first.1, "refreshed before expiry");
    // The refresher stores the new token a moment after the endpoint answered it: requests
    // carry it from then on, before the first token expires.
    let renewed = format!("Bearer {}", issued[1].0);
    loop {
        chat_ok(&p, "again").await?;
        let sent = p.mock.requests();
        if header(sent.last().unwrap(), "authorization") == Some(renewed.as_str()) {
            break;
        }
        assert!(
            Instant::now() < first.1,
            "the first token expired before requests carried the renewed one"
        );
    }
    Ok(())
}

#[actix_rt::test]
async fn a_failing_refresh_keeps_the_token_until_it_expires_then_503() -> TestResult {
    // 8 s: refreshed after 6 s, usable until 7.2 s (a tenth off for the way to Vertex).
    let (_dir, endpoint, p) = service_account_setup("failing", 8);
    chat_ok(&p, "hi").await?;
    let (token, expires) = endpoint.issued()[0].clone();

    endpoint.state.fail.store(true, Ordering::SeqCst);
    endpoint.calls_reach(2).await;
    // The refresh failed; the current token still serves while it is valid.
    if Instant::now() + Duration::from_millis(1200) < expires {
        chat_ok(&p, "x").await?;
        let sent = p.mock.requests();
        assert_bearer(sent.last().unwrap(), &token);
    }
    // After expiry: 503 naming the credential source, and nothing sent upstream.
    actix_rt::time::sleep(expires.saturating_duration_since(Instant::now())).await;
    let before = p.mock.request_count();
    let (status, _, body) = p
        .post("/v1/chat/completions", &crate::support::chat("y"))
        .await?;
    assert_eq!(status, 503, "{body}");
    let message = error_message(&body);
    assert!(message.contains(EMAIL), "{message}");
    assert!(message.contains("Account disabled"), "{message}");
    assert!(!message.contains("PRIVATE KEY"), "{message}");
    assert_eq!(body["error"]["code"], "upstream_credentials");
    assert_eq!(p.mock.request_count(), before);
    Ok(())
}

#[actix_rt::test]
async fn vertex_bodies_drop_call_ids_carry_roles_and_labels() -> TestResult {
    let (_dir, _endpoint, p) = service_account_setup("bodies", 3600);
    let tool = json!({"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}});
    // A history call with Gemini's own id, which the AI Studio mapping echoes.
    let body = json!({
        "model": "gemini-2.5-flash",
        "tools": [tool],
        "metadata": {"team": "search", "Not A Label": "x"},
        "extra_body": {"google": {"labels": {"cost-center": "cc-1"}}},
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "tool_calls": [{"id": "gemini-id-1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "gemini-id-1", "content": "{\"temp\": 21}"}
        ]
    });
    let (status, _, answer) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{answer}");
    let sent: Value = serde_json::from_slice(&p.mock.requests()[0].body)?;
    let text = sent.to_string();
    assert!(!text.contains("gemini-id-1"), "{sent:#}");
    for content in sent["contents"].as_array().unwrap() {
        assert!(content["role"].is_string(), "{sent:#}");
    }
    assert_eq!(sent["systemInstruction"]["role"], "user");
    assert_eq!(
        sent["labels"],
        json!({"team": "search", "cost-center": "cc-1"})
    );
    let mut without_labels = sent.clone();
    without_labels.as_object_mut().unwrap().remove("labels");
    assert_gemini_request(&without_labels);

    // No Files API on Vertex: a Gemini file id is a 400 that says so, before any call.
    let before = p.mock.request_count();
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Summarize"},
        {"type": "file", "file": {"file_id": "files/abc123"}}]}]});
    let (status, _, answer) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 400, "{answer}");
    assert!(error_message(&answer).contains("no Files API"));
    assert_eq!(p.mock.request_count(), before);
    // gs:// URIs pass.
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Summarize"},
        {"type": "file", "file": {"file_id": "gs://bucket/report.pdf"}}]}]});
    let (status, _, answer) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{answer}");

    // countTokens takes Vertex's shape (the fields at the top level).
    let (status, _, answer) = p
        .post(
            "/v1/responses/input_tokens",
            &json!({"model": "gemini-2.5-flash", "input": "hi"}),
        )
        .await?;
    assert_eq!(status, 200, "{answer}");
    let last = p.mock.requests().pop().unwrap();
    assert_eq!(last.path, format!("{MODEL_PATH}:countTokens"));
    let counted: Value = serde_json::from_slice(&last.body)?;
    assert!(counted.get("contents").is_some() && counted.get("generateContentRequest").is_none());
    Ok(())
}

/// Pollux on Vertex AI in express mode: the API key, no project, in front of mock-gemini.
fn express_pollux() -> Result<Pollux, Box<dyn std::error::Error>> {
    Pollux::start_with(|c, base| {
        c.upstream = "vertex".to_owned();
        c.vertex_base_url = Some(base.to_owned());
    })
}

#[actix_rt::test]
async fn express_mode_sends_the_key_to_the_publisher_path() -> TestResult {
    let p = express_pollux()?;
    p.mock.push(Scenario::text("hello"));
    chat_ok(&p, "hi").await?;
    let sent = &p.mock.requests()[0];
    assert_eq!(
        sent.path,
        "/v1/publishers/google/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(header(sent, "x-goog-api-key"), Some("test-key"));
    assert_eq!(header(sent, "authorization"), None);
    Ok(())
}

#[actix_rt::test]
async fn an_unusable_credentials_file_stops_start_up() -> TestResult {
    let dir = TempDir::new("startup");
    let path = dir.0.join("ext.json");
    std::fs::write(&path, r#"{"type": "external_account", "audience": "x"}"#)?;
    let err = Pollux::start_with(|c, _| {
        c.upstream = "vertex".to_owned();
        c.vertex_project = Some("proj-1".to_owned());
        c.vertex_credentials = Some(path.clone());
        c.api_key = None;
    })
    .err()
    .expect("start-up refused");
    assert!(err.to_string().contains("does not support"), "{err}");
    Ok(())
}

#[actix_rt::test]
async fn the_native_pass_through_is_not_served_for_vertex() -> TestResult {
    let p = express_pollux()?;
    let (status, _, answer) = p.get("/v1beta/models").await?;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "unsupported_with_vertex");
    assert_eq!(p.mock.request_count(), 0);
    Ok(())
}

/// Embeddings on Vertex AI go to the model's `:predict` with one instance per text (at most
/// one per call for a Gemini embedding model), `dimensions` as
/// `parameters.outputDimensionality`; the vectors come back in input order and `usage`
/// counts the tokens Vertex reports.
#[actix_rt::test]
async fn vertex_embeddings_use_predict() -> TestResult {
    let (_dir, endpoint, p) = service_account_setup("embeddings", 3600);
    let models = "/v1/projects/proj-1/locations/us-central1/publishers/google/models";

    let body =
        json!({"model": "text-embedding-004", "input": ["red apple", "sky"], "dimensions": 8});
    let (status, _, out) = p.post("/v1/embeddings", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("CreateEmbeddingResponse", &out);
    let token = format!("Bearer {}", endpoint.issued()[0].0);
    let sent = p.mock.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, format!("{models}/text-embedding-004:predict"));
    assert_eq!(header(&sent[0], "authorization"), Some(token.as_str()));
    assert_eq!(
        sent[0].json()?,
        json!({"instances": [{"content": "red apple"}, {"content": "sky"}],
            "parameters": {"outputDimensionality": 8}})
    );
    // The mock's vectors, as f32 (JSON carries their shortest decimal form).
    let got = |v: &Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    assert_eq!(
        got(&out["data"][0]["embedding"]),
        mock_gemini::catalog::fake_vector("red apple", 8)
    );
    assert_eq!(
        got(&out["data"][1]["embedding"]),
        mock_gemini::catalog::fake_vector("sky", 8)
    );
    assert_eq!(out["usage"], json!({"prompt_tokens": 3, "total_tokens": 3}));
    assert_eq!(out["model"], "text-embedding-004");

    // A Gemini embedding model takes one instance per call: three calls, in order.
    let body = json!({"model": "gemini-embedding-001", "input": ["one", "two", "three"],
        "encoding_format": "base64"});
    let (status, _, out) = p.post("/v1/embeddings", &body).await?;
    // (The spec's schema types `embedding` as floats only: a base64 answer is not checked.)
    assert_eq!(status, 200, "{out}");
    let sent = p.mock.requests();
    assert_eq!(sent.len(), 4);
    for (i, text) in ["one", "two", "three"].iter().enumerate() {
        assert_eq!(
            sent[1 + i].path,
            format!("{models}/gemini-embedding-001:predict")
        );
        assert_eq!(
            sent[1 + i].json()?,
            json!({"instances": [{"content": text}]})
        );
        assert_eq!(
            out["data"][i]["embedding"],
            pollux_translate::embeddings::base64_f32_le(&mock_gemini::catalog::fake_vector(
                text, 3072
            ))
        );
    }

    // Vertex's own refusal comes back as an OpenAI error.
    let (status, _, out) = p
        .post(
            "/v1/embeddings",
            &json!({"model": "no-such-embedder", "input": "x"}),
        )
        .await?;
    assert_eq!(status, 404, "{out}");
    assert!(error_message(&out).contains("no-such-embedder"));
    Ok(())
}

/// `GET /v1/models` on Vertex AI reads the Model Garden's publisher list (every page), keeps
/// the models an OpenAI route can serve, and caches the list like the Gemini API's.
#[actix_rt::test]
async fn vertex_models_come_from_the_publisher_list() -> TestResult {
    let (_dir, _endpoint, p) = service_account_setup("models", 3600);
    p.mock.update_config(|m| m.max_page_size = 3);
    let (status, _, out) = p.get("/v1/models").await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("ListModelsResponse", &out);
    let ids: Vec<&str> = out["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"gemini-2.5-flash") && ids.contains(&"text-embedding-004"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"gemini-2.5-flash-preview-tts"), "{ids:?}");
    let sent = p.mock.requests();
    assert!(sent.len() > 1, "paged: {}", sent.len());
    for r in &sent {
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/v1beta1/publishers/google/models");
        assert!(header(r, "authorization").is_some_and(|a| a.starts_with("Bearer ya29.")));
    }
    assert!(sent[1].query.contains("pageToken="), "{}", sent[1].query);
    // Cached: no second list.
    let (status, _, one) = p.get("/v1/models/gemini-2.5-flash").await?;
    assert_eq!(status, 200, "{one}");
    assert_openai("Model", &one);
    assert_eq!(p.mock.requests().len(), sent.len());
    Ok(())
}

/// Pollux in Vertex mode with no credentials file named: gcloud's file if `gcloud` holds one,
/// else the metadata server at `endpoint`.
fn adc_pollux(endpoint: &TokenEndpoint, gcloud: &Path) -> Pollux {
    let mock = MockGemini::start().unwrap();
    *endpoint.state.mock.lock().unwrap() = Some(mock.tokens());
    let host = endpoint.server.addr.to_string();
    let gcloud = gcloud.to_owned();
    Pollux::start_before(mock, |c, base| {
        c.upstream = "vertex".to_owned();
        c.vertex_project = Some("proj-1".to_owned());
        c.vertex_location = "us-central1".to_owned();
        c.vertex_base_url = Some(base.to_owned());
        c.api_key = None;
        c.google_application_credentials = None;
        c.gcloud_config_dir = Some(gcloud);
        c.gce_metadata_host = host;
    })
    .unwrap()
}

#[actix_rt::test]
async fn gcloud_user_credentials_then_the_metadata_server() -> TestResult {
    let dir = TempDir::new("adc");
    let endpoint = TokenEndpoint::start(String::new(), 3600);
    // gcloud's application-default file: the refresh-token grant at its token_uri.
    std::fs::write(
        dir.0.join("application_default_credentials.json"),
        serde_json::to_vec(&json!({"type": "authorized_user", "client_id": "cid",
            "client_secret": "csecret", "refresh_token": "rtok",
            "token_uri": endpoint.uri()}))?,
    )?;
    let p = adc_pollux(&endpoint, &dir.0);
    chat_ok(&p, "hi").await?;
    let issued = endpoint.issued();
    assert_eq!(issued.len(), 1, "{:?}", endpoint.refused());
    assert_bearer(&p.mock.requests()[0], &issued[0].0);
    drop(p);
    // No file anywhere: the metadata server.
    std::fs::remove_file(dir.0.join("application_default_credentials.json"))?;
    let p = adc_pollux(&endpoint, &dir.0);
    chat_ok(&p, "hi").await?;
    let issued = endpoint.issued();
    assert_eq!(issued.len(), 2, "{:?}", endpoint.refused());
    assert_bearer(&p.mock.requests()[0], &issued[1].0);
    Ok(())
}
