//! `GET /healthz` (the process answers) and `GET /readyz` (its configuration is valid and it
//! still has a usable upstream key when it relies on its own), for orchestrators' probes.
//! Neither needs a key nor calls Gemini.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(shared: web::Data<AppState>) -> HttpResponse {
    let pool = shared.keys.pool();
    // The settings were checked when the state was built: only the key pool can go bad.
    let problem = (!pool.is_empty() && pool.valid_count() == 0)
        .then(|| "every upstream key was rejected by Gemini as invalid".to_owned());
    match problem {
        None => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not_ready", "reason": reason })),
    }
}
