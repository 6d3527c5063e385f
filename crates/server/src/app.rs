//! The composition root: the state, the services, routes, and the error handlers that keep every
//! answer in OpenAI's shape. `main.rs` and the tests build the app through [`configure`] and
//! [`bind`], so what is tested is what runs.

use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::config::Config;
use crate::error::ApiError;
use crate::guard::{Guard, Rules};
use crate::media::{MediaFetcher, MediaPolicy};
use crate::observe::Observe;
use crate::routes;
use crate::settings::Settings;
use crate::state::AppState;
use crate::upstream::Upstream;

/// Registers every route. Per-worker state (the upstream client) must already be in
/// `app_data`; see [`bind`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    // The hot route first: actix tries routes in order, and the service routes after it
    // carry path patterns whose regexes would otherwise run on every chat request.
    for path in ["/v1/chat/completions", "/chat/completions"] {
        cfg.service(
            web::resource(path)
                .route(web::post().to(routes::chat::completions))
                .default_service(web::to(method_not_allowed)),
        );
    }
    for base in ["/v1/responses", "/responses"] {
        cfg.service(
            web::resource(base)
                .route(web::post().to(routes::responses::create))
                .default_service(web::to(method_not_allowed)),
        );
        cfg.service(
            web::resource(format!("{base}/input_tokens"))
                .route(web::post().to(routes::responses::input_tokens))
                .default_service(web::to(method_not_allowed)),
        );
        cfg.service(
            web::resource(format!("{base}/{{id}}"))
                .route(web::get().to(routes::stored::retrieve))
                .route(web::delete().to(routes::stored::delete))
                .default_service(web::to(method_not_allowed)),
        );
        cfg.service(
            web::resource(format!("{base}/{{id}}/input_items"))
                .route(web::get().to(routes::stored::input_items))
                .default_service(web::to(method_not_allowed)),
        );
        cfg.service(
            web::resource(format!("{base}/{{id}}/cancel"))
                .route(web::post().to(routes::responses::cancel))
                .default_service(web::to(method_not_allowed)),
        );
    }
    for path in [
        "/v1/conversations",
        "/v1/conversations/{tail:.*}",
        "/conversations",
        "/conversations/{tail:.*}",
    ] {
        cfg.route(path, web::route().to(conversations));
    }
    cfg.route("/metrics", web::get().to(routes::metrics::endpoint));
    routes::inspector::register(cfg);
    routes::service::register(cfg);
}

/// OpenAI's Conversations API has no counterpart here: a 400 that says so and what to use.
async fn conversations() -> Result<HttpResponse, ApiError> {
    Err(ApiError::InvalidRequest {
        message: "The Conversations API is not supported by this server: chain responses with 'previous_response_id', or send the whole conversation in 'input'.".to_owned(),
        param: None,
        code: Some("unsupported_endpoint".to_owned()),
    })
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(req.method().to_string()))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "Unknown route: {} {}",
        req.method(),
        req.path()
    )))
}

/// Binds the server (to an ephemeral port when the config says port 0) and returns it with
/// the address it listens on. The caller runs the returned future.
pub fn bind(config: Config) -> std::io::Result<(Server, std::net::SocketAddr)> {
    install_crypto_provider();
    // Every setting is parsed here, once; a bad one (or serving the upstream key to the
    // network by accident) stops start-up, whoever calls bind.
    let settings = Settings::from_config(&config).map_err(std::io::Error::other)?;
    let listen = config.listen;
    let workers = config.workers;
    let grace = config.shutdown_grace_secs;
    let max_connections = config.max_connections;
    let head_read_timeout = std::time::Duration::from_secs(config.head_read_timeout_secs);
    let media_policy = MediaPolicy::from_config(&config, settings.media_allow.clone());
    let guard = Arc::new(Rules::from_config(&config, settings.allowed_hosts.clone()));
    let shared = AppState::new(config, settings).map_err(std::io::Error::other)?;
    let data = web::Data::from(shared);
    let mut server = HttpServer::new(move || {
        // awc's client is not Send: each worker builds its own.
        let upstream = web::Data::new(
            Upstream::with_keys(&data.config, data.keys.clone())
                .with_metrics(data.metrics.clone())
                .with_token(data.token.clone()),
        );
        let media = web::Data::new(MediaFetcher::new(media_policy.clone()));
        // The last `wrap` is the outermost: CORS answers allowed preflights (and adds its
        // headers to every answer), Observe logs everything else, and the guard, innermost,
        // refuses a bad Host, Origin or content type before routing.
        App::new()
            .wrap(Guard::new(guard.clone()))
            .wrap(Observe::new(data.metrics.clone()).with_inspector(data.inspector.clone()))
            .wrap(routes::service::cors(&data.config))
            .app_data(data.clone())
            .app_data(upstream)
            .app_data(media)
            .configure(configure)
            .default_service(web::to(not_found))
    })
    // A client that closes its connection mid-stream must end the stream (and with it the
    // upstream request) at once, not at the next write: treat a read EOF as a disconnect.
    .h1_allow_half_closed(false)
    // actix-web keeps the OS default (Nagle on): a stream's small chunks would wait for the
    // client's ACK of the previous one, up to its 40 ms delayed ACK. See docs/benchmarks.md.
    .tcp_nodelay(true)
    // SIGTERM/SIGINT: stop accepting, let running requests and streams finish this long.
    .shutdown_timeout(grace)
    // Per worker: past it the listener pauses and new connections wait in the kernel's
    // backlog, so idle or slow connections cannot grow memory without bound.
    .max_connections(max_connections)
    // The first request head of a connection must arrive within this (408 and close after);
    // actix's zero means no limit, as ours does.
    .client_request_timeout(head_read_timeout);
    if workers > 0 {
        server = server.workers(workers);
    }
    let server = server.bind(listen)?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("the server bound no address"))?;
    Ok((server.run(), addr))
}

/// rustls needs one process-wide crypto provider; we use ring (no C toolchain surprises).
fn install_crypto_provider() {
    // Already installed (e.g. a second server in one test process) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
