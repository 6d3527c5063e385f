//! Registration of the service routes beyond chat: models, embeddings, the native
//! pass-through, health probes; and the CORS middleware built from the config.

use actix_cors::Cors;
use actix_web::middleware::Condition;
use actix_web::web;

use super::{audio, embeddings, health, models, native};
use crate::config::Config;

/// Adds the routes; `app::configure` calls it.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz));
    for prefix in ["/v1", ""] {
        cfg.route(&format!("{prefix}/models"), web::get().to(models::list))
            .route(
                &format!("{prefix}/models/{{id:.*}}"),
                web::get().to(models::get),
            )
            .route(
                &format!("{prefix}/embeddings"),
                web::post().to(embeddings::create),
            );
    }
    audio::register(cfg);
    cfg.route("/v1beta/{tail:.*}", web::route().to(native::forward));
}

/// CORS for the configured origins; a no-op when there are none.
pub fn cors(config: &Config) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allow_any_method()
        .allow_any_header()
        .expose_headers(["x-request-id", "retry-after"])
        .max_age(3600);
    for origin in &config.cors_origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    Condition::new(!config.cors_origins.is_empty(), cors)
}
