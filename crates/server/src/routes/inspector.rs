//! The inspector page (`GET /`) and its API under `/inspector/api/`: the list of recent
//! exchanges, one exchange whole, a live feed of exchanges as they start, start streaming
//! and finish (SSE), and the status view. The
//! page's HTML, CSS and JavaScript are embedded in the binary (docs/inspector.md).
//!
//! Prompts are private, so every answer here first checks, beyond what [`crate::guard`]
//! does for all routes, that the `Host` is the listen address or a loopback name (whatever
//! `--allowed-hosts` says) and that an `Origin`, if sent, is the page's own: another web page
//! the user visits can neither rebind a name to Pollux nor read the feed cross-site. With
//! `--admin-keys`, a request must also present one (`Authorization: Bearer`, or the
//! `pollux_admin` cookie the page's key form sets). When the inspector is off, every route
//! here answers 404 like any unknown path.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::guard::own_host;
use crate::inspect::Inspector;
use crate::state::AppState;

const INDEX: &str = include_str!("inspector/index.html");
const APP_JS: &str = include_str!("inspector/app.js");
const STYLE: &str = include_str!("inspector/style.css");

/// Seconds between keep-alive comments on the live feed.
const FEED_KEEPALIVE: Duration = Duration::from_secs(15);

/// The page may load only its own scripts and styles and talk only to its own origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/inspector/app.js", web::get().to(app_js))
        .route("/inspector/style.css", web::get().to(style))
        .route("/inspector/api/exchanges", web::get().to(list))
        .route("/inspector/api/exchanges/{id}", web::get().to(detail))
        .route("/inspector/api/events", web::get().to(events))
        .route("/inspector/api/status", web::get().to(status));
}

/// The inspector, when it is on and this request may see it.
fn admitted<'a>(req: &HttpRequest, shared: &'a AppState) -> Result<&'a Arc<Inspector>, ApiError> {
    let Some(inspector) = shared.inspector.as_ref() else {
        return Err(ApiError::NotFound(format!(
            "Unknown route: {} {}",
            req.method(),
            req.path()
        )));
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !own_host(host, shared.config.listen.ip()) {
        return Err(ApiError::InspectorRefused(
            "The inspector answers only on its listen address or a loopback name (Host)."
                .to_owned(),
        ));
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let own = origin
            .to_str()
            .ok()
            .and_then(|o| {
                o.strip_prefix("http://")
                    .or_else(|| o.strip_prefix("https://"))
            })
            .is_some_and(|o| o.eq_ignore_ascii_case(host));
        if !own {
            return Err(ApiError::InspectorRefused(
                "The inspector answers only its own page (Origin).".to_owned(),
            ));
        }
    }
    if !shared.admin_keys.is_empty() {
        let presented = crate::keys::presented_key(req.headers())
            .map(str::to_owned)
            .or_else(|| admin_cookie(req));
        if !presented.is_some_and(|k| shared.admin_keys.contains(&k)) {
            return Err(ApiError::Unauthorized(
                "The inspector needs an admin key (--admin-keys).".to_owned(),
            ));
        }
    }
    Ok(inspector)
}

/// The `pollux_admin` cookie the page's key form sets (percent-encoded by the page).
fn admin_cookie(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix("pollux_admin="))
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .next()
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(body)
}

async fn index(req: HttpRequest, shared: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match admitted(&req, &shared) {
        Ok(_) => {}
        // Without a key the page still loads, to show its key form; the API stays closed.
        Err(ApiError::Unauthorized(_)) => {}
        Err(e) => return Err(e),
    }
    let mut res = asset("text/html; charset=utf-8", INDEX);
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(res)
}

async fn app_js(req: HttpRequest, shared: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    page_asset(&req, &shared)?;
    Ok(asset("text/javascript; charset=utf-8", APP_JS))
}

async fn style(req: HttpRequest, shared: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    page_asset(&req, &shared)?;
    Ok(asset("text/css; charset=utf-8", STYLE))
}

/// The page's static files hold no data: they load without the admin key.
fn page_asset(req: &HttpRequest, shared: &AppState) -> Result<(), ApiError> {
    match admitted(req, shared) {
        Ok(_) | Err(ApiError::Unauthorized(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

fn json_no_store(value: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(value)
}

async fn list(req: HttpRequest, shared: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let inspector = admitted(&req, &shared)?;
    let rows: Vec<_> = inspector.list().iter().map(|e| e.summary.clone()).collect();
    Ok(json_no_store(&json!({ "object": "list", "data": rows })))
}

async fn detail(
    req: HttpRequest,
    shared: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let inspector = admitted(&req, &shared)?;
    let exchange = id
        .parse::<u64>()
        .ok()
        .and_then(|id| inspector.get(id))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "No exchange '{id}' is kept (the inspector keeps the last {}).",
                inspector.limits().entries
            ))
        })?;
    Ok(json_no_store(&*exchange))
}

/// Each exchange as `event: exchange` (its list row) when it arrives (`state: pending`), when
/// a stream's 200 went out (`streaming`) and when it finished (`done`); the page replaces the
/// row with the same `id`. `event: reload` when this feed fell behind and the page should
/// fetch the list again. Finished exchanges are rendered here, on the feed's task, not on
/// the request's path.
async fn events(req: HttpRequest, shared: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let inspector = admitted(&req, &shared)?.clone();
    let mut feed = inspector.subscribe();
    let body = async_stream::stream! {
        yield Ok::<_, actix_web::Error>(web::Bytes::from_static(b": inspector feed\n\n"));
        loop {
            match tokio::time::timeout(FEED_KEEPALIVE, feed.recv()).await {
                Err(_) => yield Ok(web::Bytes::from_static(b": keep-alive\n\n")),
                Ok(Ok(update)) => {
                    let data = serde_json::to_string(&inspector.row(&update)).unwrap_or_default();
                    yield Ok(web::Bytes::from(format!("event: exchange\ndata: {data}\n\n")));
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    yield Ok(web::Bytes::from_static(b"event: reload\ndata: {}\n\n"));
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => break,
            }
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

async fn status(req: HttpRequest, shared: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let inspector = admitted(&req, &shared)?;
    let config = &shared.config;
    let pool: Vec<_> = shared
        .keys
        .pool()
        .describe()
        .into_iter()
        .map(|(fingerprint, state, cooldown)| {
            json!({ "fingerprint": fingerprint, "state": state, "cooldown_secs": cooldown })
        })
        .collect();
    let store = shared.store.stats();
    let (now, series) = inspector.series();
    let limits = inspector.limits();
    Ok(json_no_store(&json!({
        "version": env!("CARGO_PKG_VERSION"),
        "listen": config.listen.to_string(),
        "upstream": config.upstream_base(),
        "keys": if pool.is_empty() { "forwarded from clients" } else { "pool" },
        "key_pool": pool,
        "signature_cache": shared.signatures.len(),
        "response_store": { "entries": store.entries, "bytes": store.bytes },
        "open_streams": shared.metrics.open_streams(),
        "inspector": {
            "entries": limits.entries,
            "body_bytes": limits.body_bytes,
            "bodies": limits.bodies,
            "kept": inspector.kept(),
        },
        "now": now,
        "series": series,
    })))
}
