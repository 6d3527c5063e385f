//! `GET /healthz` (the process answers) and `GET /readyz` (its configuration is valid and it
//! still has a usable upstream key when it relies on its own), for orchestrators' probes.
//! Neither needs a key nor calls Gemini.
//!
//! `/readyz` also details what an operator looks at first: the upstream key pool (keys in
//! rotation, keys cooling down) and the shared state (`--state`): whether its last
//! operation succeeded. An unreachable Redis does not make a replica unready: it keeps
//! serving from its own memory (docs/deployment.md), and taking every replica out of the
//! load balancer at once would turn a degraded service into none.

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
    let keys = json!({
        "pool": pool.len(),
        "valid": pool.valid_count(),
        "cooling": pool.cooling_count(),
    });
    let state = match &shared.shared {
        None => json!({ "kind": "memory" }),
        Some(s) => json!({ "kind": "redis", "reachable": s.is_up() }),
    };
    match problem {
        None => HttpResponse::Ok().json(json!({ "status": "ready", "keys": keys, "state": state })),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not_ready", "reason": reason, "keys": keys, "state": state })),
    }
}
