//! Explicit context caches (`POST v1beta/cachedContents`,
//! <https://ai.google.dev/api/caching>), as far as Pollux's key affinity needs them: a cache
//! belongs to the project of the key that created it, so a `generateContent` naming it with
//! another key is refused (403 `PERMISSION_DENIED`, as Gemini answers), and a request naming
//! a cache may not set `systemInstruction`, `tools` or `toolConfig` (400, Gemini's message).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use serde_json::{json, Value};

use crate::checks::Rejection;

/// Cache name → the key that created it.
#[derive(Debug, Default)]
pub struct Caches {
    owners: Mutex<HashMap<String, String>>,
    next: AtomicUsize,
}

/// Whether `path` is the cache collection (any prefix, as gateways add one).
pub fn is_create(path: &str) -> bool {
    path.ends_with("/v1beta/cachedContents")
}

/// The cache name of a `.../v1beta/cachedContents/{id}` path.
pub fn one(path: &str) -> Option<String> {
    const MARK: &str = "/v1beta/cachedContents/";
    let id = &path[path.rfind(MARK)? + MARK.len()..];
    (!id.is_empty() && !id.contains('/') && !id.contains(':'))
        .then(|| format!("cachedContents/{id}"))
}

impl Caches {
    /// Creates a cache for `key` from a `CachedContent` body; answers the created resource.
    pub fn create(&self, key: &str, body: &[u8]) -> Result<Value, Rejection> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            Rejection::invalid(format!(
                "Invalid JSON payload received. Unexpected token.\n({e})"
            ))
        })?;
        let model = value["model"]
            .as_str()
            .filter(|m| m.starts_with("models/"))
            .ok_or_else(|| Rejection::invalid("* CachedContent.model: model is required"))?;
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let name = format!("cachedContents/mock-cache-{n}");
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.clone(), key.to_owned());
        Ok(json!({
            "name": name,
            "model": model,
            "createTime": "2026-01-01T00:00:00Z",
            "updateTime": "2026-01-01T00:00:00Z",
            "expireTime": "2026-01-01T01:00:00Z",
            "usageMetadata": {"totalTokenCount": 4096}
        }))
    }

    /// Gemini's checks of a generation request naming a cache, for a call made with `key`
    /// (`None`: Vertex AI's OAuth, whose project is the path's).
    pub fn check(&self, request: &Value, key: Option<&str>) -> Result<(), Rejection> {
        let Some(name) = request.get("cachedContent").and_then(Value::as_str) else {
            return Ok(());
        };
        if ["systemInstruction", "tools", "toolConfig"]
            .iter()
            .any(|f| request.get(*f).is_some())
        {
            return Err(Rejection::invalid(
                "CachedContent can not be used with GenerateContent request setting \
                 system_instruction, tools or tool_config.\n\nProposed fix: move those values \
                 to CachedContent from GenerateContent request.",
            ));
        }
        let Some(key) = key else {
            return Ok(());
        };
        let owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        match owners.get(name) {
            Some(owner) if owner == key => Ok(()),
            _ => Err(Rejection::new(
                403,
                "PERMISSION_DENIED",
                format!("CachedContent not found (or permission denied): {name}"),
            )),
        }
    }

    /// `GET cachedContents/{id}`: the cache, to its creator's key only.
    pub fn get(&self, name: &str, key: &str) -> Result<Value, Rejection> {
        let owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        match owners.get(name) {
            Some(owner) if owner == key => Ok(json!({"name": name})),
            _ => Err(Rejection::new(
                403,
                "PERMISSION_DENIED",
                format!("CachedContent not found (or permission denied): {name}"),
            )),
        }
    }

    pub fn clear(&self) {
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_serves_its_creator_only_and_without_its_fields() {
        let caches = Caches::default();
        let made = caches
            .create("key-a", br#"{"model": "models/gemini-2.5-flash"}"#)
            .unwrap();
        let name = made["name"].as_str().unwrap();
        let req = json!({"cachedContent": name, "contents": []});
        assert!(caches.check(&req, Some("key-a")).is_ok());
        assert_eq!(caches.check(&req, Some("key-b")).unwrap_err().code, 403);
        assert!(caches.check(&req, None).is_ok());
        let with_tools = json!({"cachedContent": name, "tools": []});
        assert!(caches
            .check(&with_tools, Some("key-a"))
            .unwrap_err()
            .message
            .contains("system_instruction, tools or tool_config"));
        assert!(caches.create("k", b"{}").is_err());
    }
}
