//! Remote images in chat requests: Pollux downloads `http(s)` image URLs and inlines them,
//! within limits and behind the SSRF guard. A small image server on 127.0.0.1 plays the
//! remote host; since it is loopback, the guard refuses it unless `--media-allow-hosts`
//! names it. The image server counts the requests it saw, so a test can assert that a
//! refused fetch never reached it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use bytes::Bytes;
use mock_gemini::Scenario;
use serde_json::{json, Value};
use support::{assert_gemini_request, assert_openai, Pollux};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A 1x1 transparent PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// The size cap the tests configure; the oversized bodies are well past it.
const MAX_BYTES: usize = 4096;

/// Where a redirect to a forbidden address points; set per server.
struct ImageState {
    hits: AtomicUsize,
    forbidden_target: String,
}

/// An actix-web server on 127.0.0.1 serving images, pages, redirects and slow answers.
struct ImageServer {
    server: support::ServerThread,
    state: Arc<ImageState>,
}

impl ImageServer {
    fn start(forbidden_target: &str) -> Result<ImageServer, Box<dyn std::error::Error>> {
        let state = Arc::new(ImageState {
            hits: AtomicUsize::new(0),
            forbidden_target: forbidden_target.to_owned(),
        });
        let shared = state.clone();
        let server = support::ServerThread::spawn(move || {
            let data = web::Data::from(shared);
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route("/cat.png", web::get().to(cat))
                    .route("/page.html", web::get().to(page))
                    .route("/big.png", web::get().to(big))
                    .route("/big-chunked.png", web::get().to(big_chunked))
                    .route("/sized/{n}", web::get().to(sized))
                    .route("/sized-chunked/{n}", web::get().to(sized_chunked))
                    .route("/missing.png", web::get().to(missing))
                    .route("/slow.png", web::get().to(slow))
                    .route("/redirect/{n}", web::get().to(redirect))
                    .route("/to-forbidden", web::get().to(to_forbidden))
            })
            .workers(1)
            .bind(("127.0.0.1", 0))?;
            let addr = server.addrs()[0];
            Ok((server.run(), addr))
        })?;
        Ok(ImageServer { server, state })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.server.addr, path)
    }

    fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }
}

fn hit(state: &ImageState) {
    state.hits.fetch_add(1, Ordering::SeqCst);
}

async fn cat(state: web::Data<ImageState>) -> HttpResponse {
    hit(&state);
    HttpResponse::Ok()
        .content_type("image/png")
        .body(Bytes::from_static(PNG))
}

async fn page(state: web::Data<ImageState>) -> HttpResponse {
    hit(&state);
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body("<html><body>not an image</body></html>")
}

async fn big(state: web::Data<ImageState>) -> HttpResponse {
    hit(&state);
    HttpResponse::Ok()
        .content_type("image/png")
        .body(vec![0u8; MAX_BYTES * 4])
}

/// No Content-Length: the cap must be enforced while the body streams in.
async fn big_chunked(state: web::Data<ImageState>) -> HttpResponse {
    hit(&state);
    let chunks = (0..64).map(|_| Ok::<_, actix_web::Error>(Bytes::from(vec![0u8; 1024])));
    HttpResponse::Ok()
        .content_type("image/png")
        .streaming(futures_util::stream::iter(chunks))
}

fn size_of(req: &HttpRequest) -> usize {
    req.match_info()
        .get("n")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `/sized/n`: an "image" of exactly n bytes, with its Content-Length.
async fn sized(state: web::Data<ImageState>, req: HttpRequest) -> HttpResponse {
    hit(&state);
    HttpResponse::Ok()
        .content_type("image/png")
        .body(vec![7u8; size_of(&req)])
}

/// `/sized-chunked/n`: n bytes in 100-byte chunks, without a Content-Length, so only
/// counting while the body streams in can catch it.
async fn sized_chunked(state: web::Data<ImageState>, req: HttpRequest) -> HttpResponse {
    hit(&state);
    let n = size_of(&req);
    let chunks = (0..n)
        .step_by(100)
        .map(move |start| Ok::<_, actix_web::Error>(Bytes::from(vec![7u8; (n - start).min(100)])));
    HttpResponse::Ok()
        .content_type("image/png")
        .streaming(futures_util::stream::iter(chunks))
}

async fn missing(state: web::Data<ImageState>) -> HttpResponse {
    hit(&state);
    HttpResponse::NotFound().body("no such image")
}

async fn slow(state: web::Data<ImageState>) -> HttpResponse {
    hit(&state);
    actix_web::rt::time::sleep(Duration::from_secs(5)).await;
    HttpResponse::Ok()
        .content_type("image/png")
        .body(Bytes::from_static(PNG))
}

/// `/redirect/n` redirects n times (relative Locations), then lands on the image.
async fn redirect(state: web::Data<ImageState>, req: HttpRequest) -> HttpResponse {
    hit(&state);
    let n: u32 = req
        .match_info()
        .get("n")
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let location = if n <= 1 {
        "/cat.png".to_owned()
    } else {
        format!("{}", n - 1)
    };
    HttpResponse::Found()
        .insert_header(("location", location))
        .finish()
}

async fn to_forbidden(state: web::Data<ImageState>) -> HttpResponse {
    hit(&state);
    HttpResponse::TemporaryRedirect()
        .insert_header(("location", state.forbidden_target.clone()))
        .finish()
}

fn image_request(urls: &[String]) -> Value {
    let mut content = vec![json!({"type": "text", "text": "What is in the picture?"})];
    for url in urls {
        content.push(json!({"type": "image_url", "image_url": {"url": url}}));
    }
    json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": content}]})
}

/// Pollux allowed to fetch from 127.0.0.1 only, with a small size cap and a short timeout.
fn pollux_allowing_loopback() -> Result<Pollux, Box<dyn std::error::Error>> {
    Pollux::start_with(|c, _| {
        c.media_allow_hosts = vec!["127.0.0.1".to_owned()];
        c.media_max_bytes = MAX_BYTES;
        c.media_fetch_timeout_secs = 1;
    })
}

/// Asserts a 400 `image_fetch_failed` naming the part, with `needle` in the message, and
/// that nothing went upstream.
fn assert_fetch_failed(p: &Pollux, status: u16, out: &Value, part: &str, needle: &str) {
    assert_eq!(status, 400, "{out}");
    assert_openai("ErrorResponse", out);
    let err = &out["error"];
    assert_eq!(err["type"], "invalid_request_error", "{out}");
    assert_eq!(err["code"], "image_fetch_failed", "{out}");
    assert_eq!(err["param"], part, "{out}");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with(part),
        "message names the part: {message}"
    );
    assert!(
        message.contains(needle),
        "message should mention {needle:?}: {message}"
    );
    assert_eq!(p.mock.request_count(), 0, "nothing may go upstream");
}

/// A chat with the images at `urls` as its user message's parts.
async fn post_images(
    p: &Pollux,
    urls: &[String],
) -> Result<(u16, actix_web::http::header::HeaderMap, Value), Box<dyn std::error::Error>> {
    p.post("/v1/chat/completions", &image_request(urls)).await
}

/// Sends a chat with the one image at `url` and asserts its fetch was refused with a
/// message that mentions `needle` ([`assert_fetch_failed`] on the first image part).
async fn assert_image_refused(p: &Pollux, url: String, needle: &str) -> TestResult {
    let (status, _, out) = post_images(p, &[url]).await?;
    assert_fetch_failed(p, status, &out, "messages[0].content[1]", needle);
    Ok(())
}

#[actix_rt::test]
async fn fetched_image_is_inlined_as_base64() -> TestResult {
    let images = ImageServer::start("")?;
    let p = pollux_allowing_loopback()?;
    p.mock
        .push(Scenario::text("A very small transparent square."));
    let (status, _, out) = post_images(&p, &[images.url("/cat.png")]).await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("CreateChatCompletionResponse", &out);
    assert_eq!(images.hits(), 1);

    let reqs = p.mock.requests();
    assert_eq!(reqs.len(), 1, "exactly one upstream call");
    let upstream = reqs[0].json()?;
    assert_gemini_request(&upstream);
    let parts = &upstream["contents"][0]["parts"];
    assert_eq!(parts[0]["text"], "What is in the picture?");
    assert_eq!(
        parts[1],
        json!({"inlineData": {
            "mimeType": "image/png",
            "data": base64::engine::general_purpose::STANDARD.encode(PNG)
        }})
    );
    Ok(())
}

#[actix_rt::test]
async fn several_images_are_fetched_and_kept_in_order() -> TestResult {
    let images = ImageServer::start("")?;
    let p = pollux_allowing_loopback()?;
    p.mock.push(Scenario::text("Six squares."));
    // Distinct URLs (more than the four fetched at once) plus one repeated URL.
    let mut urls: Vec<String> = (0..6)
        .map(|i| images.url(&format!("/cat.png?i={i}")))
        .collect();
    urls.push(images.url("/cat.png?i=0"));
    let (status, _, out) = post_images(&p, &urls).await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(images.hits(), 6, "a repeated URL is fetched once");
    let upstream = p.mock.requests()[0].json()?;
    assert_gemini_request(&upstream);
    let parts = upstream["contents"][0]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 8);
    for part in &parts[1..] {
        assert_eq!(part["inlineData"]["mimeType"], "image/png");
    }
    Ok(())
}

#[actix_rt::test]
async fn loopback_and_internal_addresses_are_refused_by_default() -> TestResult {
    let images = ImageServer::start("")?;
    let p = Pollux::start_with(|c, _| c.media_fetch_timeout_secs = 2)?;
    let port = images.server.addr.port();
    let targets = [
        format!("http://127.0.0.1:{port}/cat.png"),
        format!("http://localhost:{port}/cat.png"),
        format!("http://[::1]:{port}/cat.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/cat.png"),
        format!("http://0.0.0.0:{port}/cat.png"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/cat.png".to_owned(),
        "http://192.168.1.1/cat.png".to_owned(),
        "http://100.64.0.1/cat.png".to_owned(),
        "http://[fe80::1]/cat.png".to_owned(),
    ];
    for url in &targets {
        let (status, _, out) = post_images(&p, std::slice::from_ref(url)).await?;
        assert_fetch_failed(&p, status, &out, "messages[0].content[1]", "not allowed");
    }
    assert_eq!(images.hits(), 0, "the image server must see no request");
    Ok(())
}

#[actix_rt::test]
async fn allow_list_by_host_name_lets_localhost_through() -> TestResult {
    let images = ImageServer::start("")?;
    let p = Pollux::start_with(|c, _| c.media_allow_hosts = vec!["localhost".to_owned()])?;
    p.mock.push(Scenario::text("ok"));
    let url = format!("http://localhost:{}/cat.png", images.server.addr.port());
    let (status, _, out) = post_images(&p, &[url]).await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(images.hits(), 1);
    Ok(())
}

#[actix_rt::test]
async fn redirect_to_a_forbidden_address_is_refused_before_connecting() -> TestResult {
    // 127.0.0.2 is loopback too; only 127.0.0.1 is allowed.
    let trap = TcpListener::bind("127.0.0.2:0")?;
    trap.set_nonblocking(true)?;
    let trap_url = format!("http://{}/cat.png", trap.local_addr()?);
    let images = ImageServer::start(&trap_url)?;
    let p = pollux_allowing_loopback()?;
    assert_image_refused(&p, images.url("/to-forbidden"), "127.0.0.2").await?;
    assert_eq!(images.hits(), 1, "the allowed first hop was fetched");
    match trap.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the forbidden address got a connection from {peer}"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

#[actix_rt::test]
async fn redirects_are_followed_up_to_the_cap() -> TestResult {
    let images = ImageServer::start("")?;
    let p = pollux_allowing_loopback()?;
    p.mock.push(Scenario::text("ok"));
    // Three redirects (the default cap), then the image.
    let (status, _, out) = post_images(&p, &[images.url("/redirect/3")]).await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(images.hits(), 4);
    let upstream = p.mock.requests()[0].json()?;
    assert_eq!(
        upstream["contents"][0]["parts"][1]["inlineData"]["mimeType"],
        "image/png"
    );
    Ok(())
}

#[actix_rt::test]
async fn too_many_redirects_are_refused() -> TestResult {
    let images = ImageServer::start("")?;
    let p = pollux_allowing_loopback()?;
    assert_image_refused(&p, images.url("/redirect/4"), "more than 3 redirects").await?;
    assert_eq!(images.hits(), 4, "the fourth redirect is not followed");
    Ok(())
}

#[actix_rt::test]
async fn oversized_images_are_refused() -> TestResult {
    let images = ImageServer::start("")?;
    let p = pollux_allowing_loopback()?;
    for path in ["/big.png", "/big-chunked.png"] {
        assert_image_refused(&p, images.url(path), "larger than the 4096-byte limit").await?;
    }
    Ok(())
}

#[actix_rt::test]
async fn non_image_content_is_refused() -> TestResult {
    let images = ImageServer::start("")?;
    let p = pollux_allowing_loopback()?;
    let body = json!({"model": "gemini-2.5-flash", "messages": [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": images.url("/cat.png")}},
            {"type": "image_url", "image_url": {"url": images.url("/page.html")}}
        ]}
    ]});
    let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
    assert_fetch_failed(&p, status, &out, "messages[2].content[1]", "text/html");
    Ok(())
}

#[actix_rt::test]
async fn error_statuses_are_refused() -> TestResult {
    let images = ImageServer::start("")?;
    let p = pollux_allowing_loopback()?;
    assert_image_refused(&p, images.url("/missing.png"), "HTTP 404").await?;
    Ok(())
}

#[actix_rt::test]
async fn slow_servers_time_out() -> TestResult {
    let images = ImageServer::start("")?;
    let p = pollux_allowing_loopback()?;
    assert_image_refused(&p, images.url("/slow.png"), "within 1 seconds").await?;
    Ok(())
}

#[actix_rt::test]
async fn fetching_turned_off_refuses_remote_urls() -> TestResult {
    let images = ImageServer::start("")?;
    let p = Pollux::start_with(|c, _| {
        c.media_fetch = false;
        c.media_allow_hosts = vec!["127.0.0.1".to_owned()];
    })?;
    let (status, _, out) = post_images(&p, &[images.url("/cat.png")]).await?;
    assert_eq!(status, 400, "{out}");
    assert_openai("ErrorResponse", &out);
    assert_eq!(out["error"]["param"], "messages[0].content[1]");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("turned off"), "{message}");
    assert_eq!(images.hits(), 0);
    assert_eq!(p.mock.request_count(), 0);
    Ok(())
}

#[actix_rt::test]
async fn data_urls_and_gemini_uris_are_not_fetched() -> TestResult {
    let images = ImageServer::start("")?;
    let p = Pollux::start()?;
    let data_url = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(PNG)
    );
    let urls = [
        data_url,
        "gs://bucket/cat.png".to_owned(),
        "https://generativelanguage.googleapis.com/v1beta/files/abc123".to_owned(),
    ];
    let (status, _, out) = post_images(&p, &urls).await?;
    // mock-gemini, like Gemini, refuses a Files API name this key never uploaded: the
    // point here is that Pollux passed every URI on as it came, fetching none.
    assert_eq!(status, 403, "{out}");
    assert_eq!(out["error"]["code"], "permission_denied", "{out}");
    let upstream = p.mock.requests()[0].json()?;
    assert_gemini_request(&upstream);
    let parts = &upstream["contents"][0]["parts"];
    assert!(parts[1]["inlineData"].is_object(), "{parts}");
    assert_eq!(parts[2]["fileData"]["fileUri"], "gs://bucket/cat.png");
    assert_eq!(parts[3]["fileData"]["fileUri"], urls[2].as_str());
    assert_eq!(images.hits(), 0);
    Ok(())
}

/// Pollux allowed to fetch from 127.0.0.1, with per-request limits of `images` images and
/// `bytes` bytes (each image may have up to [`MAX_BYTES`]).
fn pollux_with_request_limits(
    images: usize,
    bytes: usize,
) -> Result<Pollux, Box<dyn std::error::Error>> {
    Pollux::start_with(|c, _| {
        c.media_allow_hosts = vec!["127.0.0.1".to_owned()];
        c.media_max_bytes = MAX_BYTES;
        c.media_fetch_timeout_secs = 5;
        c.max_fetched_images = images;
        c.max_fetched_bytes = bytes;
    })
}

#[actix_rt::test]
async fn images_up_to_the_count_limit_are_fetched() -> TestResult {
    let images = ImageServer::start("")?;
    let p = pollux_with_request_limits(3, 1 << 20)?;
    p.mock.push(Scenario::text("Three squares."));
    // Three distinct URLs; the repeat is fetched once and does not count.
    let mut urls: Vec<String> = (0..3)
        .map(|i| images.url(&format!("/cat.png?i={i}")))
        .collect();
    urls.push(urls[0].clone());
    let (status, _, out) = post_images(&p, &urls).await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(images.hits(), 3);
    Ok(())
}

#[actix_rt::test]
async fn more_images_than_the_count_limit_are_refused_before_any_fetch() -> TestResult {
    let images = ImageServer::start("")?;
    let p = pollux_with_request_limits(3, 1 << 20)?;
    let urls: Vec<String> = (0..30)
        .map(|i| images.url(&format!("/sized/4000?i={i}")))
        .collect();
    let (status, _, out) = post_images(&p, &urls).await?;
    assert_eq!(status, 400, "{out}");
    assert_openai("ErrorResponse", &out);
    let err = &out["error"];
    assert_eq!(err["type"], "invalid_request_error", "{out}");
    assert_eq!(err["code"], "too_many_images", "{out}");
    // content[0] is the text part: the fourth image is content[4].
    assert_eq!(err["param"], "messages[0].content[4]", "{out}");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("more than 3") && message.contains("--max-fetched-images"),
        "{message}"
    );
    assert_eq!(images.hits(), 0, "nothing may be fetched");
    assert_eq!(p.mock.request_count(), 0, "nothing may go upstream");
    Ok(())
}

#[actix_rt::test]
async fn images_up_to_the_byte_limit_are_fetched() -> TestResult {
    let images = ImageServer::start("")?;
    let p = pollux_with_request_limits(16, 3000)?;
    p.mock.push(Scenario::text("ok"));
    p.mock.push(Scenario::text("ok"));
    for path in ["/sized", "/sized-chunked"] {
        let urls: Vec<String> = (0..3)
            .map(|i| images.url(&format!("{path}/1000?i={i}")))
            .collect();
        let (status, _, out) = post_images(&p, &urls).await?;
        assert_eq!(status, 200, "{path}: {out}");
    }
    assert_eq!(images.hits(), 6);
    let upstream = p.mock.requests()[1].json()?;
    let parts = upstream["contents"][0]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 4);
    Ok(())
}

#[actix_rt::test]
async fn images_over_the_byte_limit_together_are_refused() -> TestResult {
    let images = ImageServer::start("")?;
    // Each image is well under the per-image cap (4096); four of them are not under 3000.
    let p = pollux_with_request_limits(16, 3000)?;
    let four = |path: &str| -> Vec<String> {
        (0..4)
            .map(|i| images.url(&format!("{path}/1000?i={i}")))
            .collect()
    };
    // Counted while streaming (no Content-Length), and refused up front by a declared
    // Content-Length larger than what is left.
    for (path, urls) in [
        ("/sized", four("/sized")),
        ("/sized-chunked", four("/sized-chunked")),
        ("one declared", vec![images.url("/sized/3001")]),
    ] {
        let (status, _, out) = post_images(&p, &urls).await?;
        assert_eq!(status, 400, "{path}: {out}");
        assert_openai("ErrorResponse", &out);
        let err = &out["error"];
        assert_eq!(err["code"], "images_too_large", "{path}: {out}");
        let param = err["param"].as_str().unwrap();
        assert!(param.starts_with("messages[0].content["), "{out}");
        let message = err["message"].as_str().unwrap();
        assert!(
            message.contains("3000-byte limit") && message.contains("--max-fetched-bytes"),
            "{message}"
        );
        assert_eq!(p.mock.request_count(), 0, "nothing may go upstream");
    }
    // The refusals cost the server nothing lasting: the next request is served.
    p.mock.push(Scenario::text("ok"));
    let urls = [images.url("/sized-chunked/2900")];
    let (status, _, out) = post_images(&p, &urls).await?;
    assert_eq!(status, 200, "{out}");
    Ok(())
}
