//! Gemini's Files API for uploads too large to go inline
//! (<https://ai.google.dev/gemini-api/docs/files>, <https://ai.google.dev/api/files>).
//!
//! A request to Gemini carries at most about 20 MB, and base64 grows inline media by a third,
//! so a transcription file or an edit's images above [`INLINE_LIMIT`] are uploaded first and
//! referenced as `fileData {mimeType, fileUri}`. The upload is Google's resumable protocol in
//! two calls: `POST {base}/upload/v1beta/files` with `X-Goog-Upload-Protocol: resumable`,
//! `X-Goog-Upload-Command: start` and the size and type in `X-Goog-Upload-Header-*`, answered
//! with the session's `X-Goog-Upload-URL`; then the bytes to that URL with
//! `X-Goog-Upload-Command: upload, finalize` at offset 0, answered with the `File`. A file
//! still `PROCESSING` is polled (`GET files/{id}`) until `ACTIVE`, within a bound.
//!
//! Files belong to the project of the key that uploaded them, so every call of one
//! [`FileSession`] (the uploads and the generation that reads them) goes out on one pool key
//! ([`KeyPin`]). When the session is dropped (the answer is complete, or the client went
//! away) its files are deleted in the background, best effort; one that is not is removed by
//! Gemini after 48 hours. Vertex AI has no Files API: there, such a file is a 400 that says so.

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::web;
use bytes::Bytes;
use pollux_translate::gemini::{
    CreateFileRequest, File, FileData, FileEnvelope, FileState, NewFile,
};

use crate::error::ApiError;
use crate::keys::Credentials;
use crate::observe::Trace;
use crate::resilience::Deadline;
use crate::upstream::{encode, Call, KeyPin, Upstream};

/// The most media sent inline in one request: Gemini takes about 20 MB per request, and
/// base64 grows a file by a third (<https://ai.google.dev/gemini-api/docs/audio#inline-audio>).
pub const INLINE_LIMIT: usize = 14 * 1024 * 1024;

/// How long an uploaded file may stay `PROCESSING` before the request gives up (audio and
/// images are usually `ACTIVE` at once; the request's own deadline applies too).
const PROCESSING_BOUND: Duration = Duration::from_secs(60);
/// The first wait between two looks at a processing file; it doubles up to two seconds.
const FIRST_POLL: Duration = Duration::from_millis(250);
/// The time a background delete may take.
const DELETE_BOUND: Duration = Duration::from_secs(10);

const UPLOAD_URL: &str = "x-goog-upload-url";

/// The uploads of one request, on one key, deleted when the session is dropped.
pub struct FileSession {
    upstream: web::Data<Upstream>,
    key: Credentials,
    pin: KeyPin,
    uploaded: Vec<String>,
}

impl FileSession {
    pub fn new(upstream: web::Data<Upstream>, key: Credentials) -> FileSession {
        FileSession {
            upstream,
            key,
            pin: KeyPin::default(),
            uploaded: Vec::new(),
        }
    }

    /// The key every call that uses this session's files must go out on
    /// ([`Call::pinned`]); `None` while nothing was uploaded.
    pub fn pin(&self) -> Option<&KeyPin> {
        (!self.uploaded.is_empty()).then_some(&self.pin)
    }

    /// Uploads `bytes` of type `mime` and waits until Gemini can use the file.
    pub async fn upload(
        &mut self,
        bytes: Bytes,
        mime: &str,
        display_name: &str,
        trace: &Trace,
        deadline: &Deadline,
    ) -> Result<FileData, ApiError> {
        self.upstream.require_gemini_api(&format!(
            "A file above {} MiB (Gemini's inline limit; larger files go through the Gemini \
             Files API)",
            INLINE_LIMIT >> 20
        ))?;
        let upstream = self.upstream.get_ref();
        let base = upstream.base();
        let start_url = format!("{base}/upload/v1beta/files");
        let start_headers = [
            header("x-goog-upload-protocol", "resumable")?,
            header("x-goog-upload-command", "start")?,
            header(
                "x-goog-upload-header-content-length",
                &bytes.len().to_string(),
            )?,
            header("x-goog-upload-header-content-type", mime)?,
        ];
        let metadata = CreateFileRequest {
            file: NewFile {
                display_name: Some(display_name.chars().take(512).collect()),
            },
        };
        let mut start =
            Call::post_json(&start_url, &self.key, encode(&metadata)?).pinned(Some(&self.pin));
        start.headers = &start_headers;
        let head = upstream.head(start, trace, deadline, false).await?;
        trace.upstream_answered();
        let session_url = head
            .headers()
            .get(UPLOAD_URL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| bad_gateway("Gemini started the upload without an upload URL."))?;
        drop(head);
        // The session URL comes from the upstream; it must not send Pollux (and the key)
        // anywhere else.
        if origin(&session_url) != origin(base) {
            return Err(bad_gateway(
                "Gemini answered with an upload URL on another host; the upload was not sent.",
            ));
        }
        let upload_headers = [
            header("x-goog-upload-command", "upload, finalize")?,
            header("x-goog-upload-offset", "0")?,
        ];
        let upload = Call {
            method: Method::POST,
            url: &session_url,
            key: &self.key,
            headers: &upload_headers,
            json: false,
            body: bytes,
            affinity: None,
            pin: Some(&self.pin),
        };
        let answer = upstream.whole(upload, trace, deadline).await?;
        let file = serde_json::from_slice::<FileEnvelope>(&answer)
            .map_err(|e| bad_gateway(&format!("Gemini's upload answer could not be read: {e}")))?
            .file;
        self.uploaded.push(file.name.clone());
        let file = self.until_active(file, trace, deadline).await?;
        Ok(FileData {
            mime_type: Some(file.mime_type.unwrap_or_else(|| mime.to_owned())),
            file_uri: file.uri,
        })
    }

    /// Polls a `PROCESSING` file until it is `ACTIVE` (or failed, or past the bound).
    async fn until_active(
        &self,
        mut file: File,
        trace: &Trace,
        deadline: &Deadline,
    ) -> Result<File, ApiError> {
        let upstream = self.upstream.get_ref();
        let url = format!("{}/v1beta/{}", upstream.base(), file.name);
        let started = std::time::Instant::now();
        let mut wait = FIRST_POLL;
        loop {
            match file.state {
                FileState::Active => return Ok(file),
                FileState::Failed => {
                    let why = file.error.map(|e| e.message).unwrap_or_default();
                    return Err(bad_gateway(&format!(
                        "Gemini could not process the uploaded file: {why}"
                    )));
                }
                FileState::Processing | FileState::StateUnspecified | FileState::Unknown => {}
            }
            if started.elapsed() + wait > PROCESSING_BOUND {
                return Err(ApiError::GatewayTimeout(format!(
                    "Gemini was still processing the uploaded file after {} s.",
                    PROCESSING_BOUND.as_secs()
                )));
            }
            deadline
                .within(async {
                    actix_web::rt::time::sleep(wait).await;
                    Ok(())
                })
                .await?;
            wait = (wait * 2).min(Duration::from_secs(2));
            let get = Call::get(&url, &self.key).pinned(Some(&self.pin));
            let answer = upstream.whole(get, trace, deadline).await?;
            file = serde_json::from_slice(&answer).map_err(|e| {
                bad_gateway(&format!("Gemini's file answer could not be read: {e}"))
            })?;
        }
    }
}

impl Drop for FileSession {
    /// Deletes the session's files in the background (best effort: Gemini removes what is
    /// left after 48 hours).
    fn drop(&mut self) {
        if self.uploaded.is_empty() {
            return;
        }
        let names = std::mem::take(&mut self.uploaded);
        let upstream = self.upstream.clone();
        let key = self.key.clone();
        let pin = std::mem::take(&mut self.pin);
        actix_web::rt::spawn(async move {
            let trace = Trace::default();
            let deadline = Deadline::start(Some(DELETE_BOUND));
            for name in names {
                let url = format!("{}/v1beta/{name}", upstream.base());
                let mut call = Call::get(&url, &key).pinned(Some(&pin));
                call.method = Method::DELETE;
                if let Err(e) = upstream.head(call, &trace, &deadline, false).await {
                    log::debug!("deleting the uploaded {name} failed: {}", ApiError::from(e));
                }
            }
        });
    }
}

fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue), ApiError> {
    let value = HeaderValue::from_str(value)
        .map_err(|_| bad_gateway("An upload header could not be written."))?;
    Ok((HeaderName::from_static(name), value))
}

fn bad_gateway(message: &str) -> ApiError {
    ApiError::BadGateway {
        message: message.to_owned(),
        code: Some("upload_failed".to_owned()),
    }
}

/// `scheme://host[:port]` of a URL, lower-cased.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{host}").to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin("https://generativelanguage.googleapis.com/upload/v1beta/files?upload_id=x"),
            origin("https://generativelanguage.googleapis.com")
        );
        assert_ne!(origin("http://127.0.0.1:1/x"), origin("http://127.0.0.1:2"));
        assert_ne!(
            origin("https://evil.example/x"),
            origin("https://generativelanguage.googleapis.com")
        );
    }
}
