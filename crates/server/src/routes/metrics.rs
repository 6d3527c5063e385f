//! `GET /metrics`: the counters and histograms of [`crate::metrics`] in Prometheus' text
//! format. No key needed, like the probes: it shows no prompt, key or client address.

use actix_web::{web, HttpResponse};

use crate::state::AppState;

pub async fn endpoint(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body({
            let mut body = state.metrics.render();
            state.store.stats().render(&mut body);
            body
        })
}
