//! The Files API as Gemini serves it (<https://ai.google.dev/api/files>): the resumable
//! upload (`POST .../upload/v1beta/files` with `X-Goog-Upload-Command: start`, then the bytes
//! to the `X-Goog-Upload-URL` it answered with `upload, finalize` at offset 0), `GET` and
//! `DELETE .../v1beta/files/{id}`, and the check of `fileData` references in a generation.
//!
//! It is as strict as Google: every upload header is required, the offset and the byte count
//! must match what `start` declared, and a file belongs to the key that uploaded it (another
//! key gets Gemini's 403). A new file is `PROCESSING` until it has been looked at once
//! (`GET`), so a client that uses it without waiting for `ACTIVE` is refused as Gemini
//! refuses it.

use std::collections::HashMap;

use actix_web::http::Method;
use actix_web::HttpRequest;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::checks::Rejection;

/// What the mock keeps of the uploads.
#[derive(Debug, Default)]
pub struct Files {
    next: u64,
    /// Open upload sessions by `upload_id`.
    sessions: HashMap<String, Session>,
    /// Files by id (`files/{id}`), deleted ones too (marked), so tests can see them.
    files: HashMap<String, StoredFile>,
}

#[derive(Debug)]
struct Session {
    key: String,
    size: usize,
    mime_type: String,
    display_name: Option<String>,
}

/// One uploaded file, as a test sees it ([`crate::MockGemini::files`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    pub name: String,
    pub key: String,
    pub mime_type: String,
    pub size: usize,
    pub display_name: Option<String>,
    /// `GET`s it answered; the first one finds it `ACTIVE`.
    pub looked_at: usize,
    pub deleted: bool,
}

impl StoredFile {
    fn active(&self) -> bool {
        self.looked_at > 0
    }

    fn resource(&self, base: &str) -> Value {
        json!({
            "name": self.name,
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": self.size.to_string(),
            "createTime": "2026-01-01T00:00:00.000000Z",
            "updateTime": "2026-01-01T00:00:00.000000Z",
            "expirationTime": "2026-01-03T00:00:00.000000Z",
            "sha256Hash": "bW9jaw==",
            "uri": format!("{base}/v1beta/{}", self.name),
            "state": if self.active() { "ACTIVE" } else { "PROCESSING" },
            "source": "UPLOADED",
        })
    }
}

/// A Files API answer: status, JSON body, extra headers.
pub struct Answer {
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl Files {
    pub fn list(&self) -> Vec<StoredFile> {
        let mut files: Vec<StoredFile> = self.files.values().cloned().collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        files
    }

    pub fn clear(&mut self) {
        *self = Files::default();
    }

    /// Answers a Files API path; `None` for any other path. `key` is the request's API key.
    pub fn call(
        &mut self,
        req: &HttpRequest,
        body: &Bytes,
        key: Option<&str>,
    ) -> Option<Result<Answer, Rejection>> {
        let path = req.path();
        let info = req.connection_info();
        let base = format!("{}://{}", info.scheme(), info.host());
        if let Some(at) = path.find("/upload/v1beta/files") {
            let prefix = &path[..at];
            let query = req.query_string();
            let upload_id = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("upload_id="));
            return Some(match (req.method() == Method::POST, upload_id) {
                (true, None) => self.start(req, body, key, &format!("{base}{prefix}")),
                (true, Some(id)) => self.finalize(req, body, key, id, &format!("{base}{prefix}")),
                (false, _) => Err(Rejection::new(404, "NOT_FOUND", "Method not found.")),
            });
        }
        let at = path.find("/v1beta/files/")?;
        let base = format!("{base}{}", &path[..at]);
        let id = &path[at + "/v1beta/".len()..];
        let key = match key {
            Some(key) if !key.is_empty() => key,
            _ => return Some(Err(no_key())),
        };
        let Some(file) = self
            .files
            .get_mut(id)
            .filter(|f| !f.deleted && f.key == key)
        else {
            return Some(Err(denied(id)));
        };
        Some(match *req.method() {
            Method::GET => {
                file.looked_at += 1;
                let body = file.resource(&base);
                Ok(Answer {
                    body,
                    headers: Vec::new(),
                })
            }
            Method::DELETE => {
                file.deleted = true;
                Ok(Answer {
                    body: json!({}),
                    headers: Vec::new(),
                })
            }
            _ => Err(Rejection::new(404, "NOT_FOUND", "Method not found.")),
        })
    }

    fn start(
        &mut self,
        req: &HttpRequest,
        body: &Bytes,
        key: Option<&str>,
        base: &str,
    ) -> Result<Answer, Rejection> {
        let key = key.filter(|k| !k.is_empty()).ok_or_else(no_key)?;
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if header("x-goog-upload-protocol").as_deref() != Some("resumable") {
            return Err(Rejection::invalid(
                "mock-gemini serves only resumable uploads (X-Goog-Upload-Protocol: resumable)",
            ));
        }
        if header("x-goog-upload-command").as_deref() != Some("start") {
            return Err(Rejection::invalid(
                "The first upload request must carry X-Goog-Upload-Command: start.",
            ));
        }
        let size = header("x-goog-upload-header-content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                Rejection::invalid("X-Goog-Upload-Header-Content-Length must be the file's size.")
            })?;
        let mime_type = header("x-goog-upload-header-content-type")
            .filter(|v| v.contains('/'))
            .ok_or_else(|| {
                Rejection::invalid("X-Goog-Upload-Header-Content-Type must be the file's type.")
            })?;
        let metadata: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body)
                .map_err(|e| Rejection::invalid(format!("Invalid JSON payload received. {e}")))?
        };
        let file = metadata.get("file").cloned().unwrap_or_else(|| json!({}));
        let display_name = match &file {
            Value::Object(fields) => {
                if let Some(unknown) = fields
                    .keys()
                    .find(|k| !matches!(k.as_str(), "displayName" | "display_name" | "mimeType"))
                {
                    return Err(Rejection::invalid(format!(
                        "Invalid JSON payload received. Unknown name \"{unknown}\" at 'file': \
                         Cannot find field."
                    )));
                }
                fields
                    .get("displayName")
                    .or_else(|| fields.get("display_name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }
            _ => return Err(Rejection::invalid("'file' must be an object.")),
        };
        self.next += 1;
        let id = format!("mock-upload-{}", self.next);
        self.sessions.insert(
            id.clone(),
            Session {
                key: key.to_owned(),
                size,
                mime_type,
                display_name,
            },
        );
        Ok(Answer {
            body: Value::Null,
            headers: vec![
                (
                    "x-goog-upload-url",
                    format!("{base}/upload/v1beta/files?upload_id={id}&upload_protocol=resumable"),
                ),
                ("x-goog-upload-status", "active".to_owned()),
            ],
        })
    }

    fn finalize(
        &mut self,
        req: &HttpRequest,
        body: &Bytes,
        key: Option<&str>,
        upload_id: &str,
        base: &str,
    ) -> Result<Answer, Rejection> {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        let Some(session) = self.sessions.get(upload_id) else {
            return Err(Rejection::new(404, "NOT_FOUND", "No such upload session."));
        };
        // The upload URL authorizes by itself; a key sent with it must be the session's.
        if key.is_some_and(|k| k != session.key) {
            return Err(denied(upload_id));
        }
        let command = header("x-goog-upload-command").unwrap_or_default();
        let mut words: Vec<&str> = command.split(',').map(str::trim).collect();
        words.sort_unstable();
        if words != ["finalize", "upload"] {
            return Err(Rejection::invalid(format!(
                "mock-gemini takes the bytes in one 'upload, finalize' command (got '{command}')."
            )));
        }
        if header("x-goog-upload-offset") != Some("0") {
            return Err(Rejection::invalid(
                "X-Goog-Upload-Offset must be 0 for the only chunk.",
            ));
        }
        if body.len() != session.size {
            return Err(Rejection::invalid(format!(
                "The upload has {} bytes, but start declared {}.",
                body.len(),
                session.size
            )));
        }
        let Some(session) = self.sessions.remove(upload_id) else {
            return Err(Rejection::new(404, "NOT_FOUND", "No such upload session."));
        };
        self.next += 1;
        let name = format!("files/mockfile{}", self.next);
        let file = StoredFile {
            name: name.clone(),
            key: session.key,
            mime_type: session.mime_type,
            size: session.size,
            display_name: session.display_name,
            looked_at: 0,
            deleted: false,
        };
        let body = json!({ "file": file.resource(base) });
        self.files.insert(name, file);
        Ok(Answer {
            body,
            headers: vec![("x-goog-upload-status", "final".to_owned())],
        })
    }

    /// Every `fileData` naming a Files API upload must be the caller's own, live and
    /// `ACTIVE` file, referenced with its type, as Gemini requires.
    pub fn check_refs(&self, request: &Value, key: Option<&str>) -> Result<(), Rejection> {
        let parts = request
            .get("contents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("parts").and_then(Value::as_array))
            .flatten();
        for part in parts {
            let Some(data) = part.get("fileData") else {
                continue;
            };
            let uri = data.get("fileUri").and_then(Value::as_str).unwrap_or("");
            let Some(at) = uri.find("/v1beta/files/") else {
                continue;
            };
            let id = &uri[at + "/v1beta/".len()..];
            let file = self
                .files
                .get(id)
                .filter(|f| !f.deleted && Some(f.key.as_str()) == key)
                .ok_or_else(|| denied(id))?;
            if !file.active() {
                return Err(Rejection::invalid(format!(
                    "The File {} is not in an ACTIVE state and usage is not allowed.",
                    id.trim_start_matches("files/")
                )));
            }
            let mime = data.get("mimeType").and_then(Value::as_str);
            if mime != Some(file.mime_type.as_str()) {
                return Err(Rejection::invalid(format!(
                    "fileData.mimeType {mime:?} does not match the uploaded file's {}.",
                    file.mime_type
                )));
            }
        }
        Ok(())
    }
}

fn no_key() -> Rejection {
    Rejection::new(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). \
         Please use API Key or other form of API consumer identity to call this API.",
    )
}

fn denied(id: &str) -> Rejection {
    Rejection::new(
        403,
        "PERMISSION_DENIED",
        format!(
            "You do not have permission to access the File {} or it may not exist.",
            id.trim_start_matches("files/")
        ),
    )
}
