//! The Files API's wire types (<https://ai.google.dev/api/files>): the metadata sent to
//! start a resumable upload and the `File` Gemini answers with. Files are kept 48 hours
//! and belong to the project of the key that uploaded them.

use serde::{Deserialize, Serialize};

/// The body of `POST /upload/v1beta/files` (`X-Goog-Upload-Command: start`).
#[derive(Debug, Clone, Serialize)]
pub struct CreateFileRequest {
    pub file: NewFile,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// The answer to the finalizing upload command: `{"file": File}`.
#[derive(Debug, Clone, Deserialize)]
pub struct FileEnvelope {
    pub file: File,
}

/// A file's metadata, as `files.get` and the upload answer it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct File {
    /// `files/{id}`.
    pub name: String,
    /// What a `fileData.fileUri` refers to.
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub state: FileState,
    /// Why processing failed (`state: FAILED`).
    #[serde(default)]
    pub error: Option<FileError>,
}

/// A file is usable once `ACTIVE`; media may be `PROCESSING` for a while after the upload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FileState {
    StateUnspecified,
    Processing,
    Active,
    Failed,
    #[default]
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FileError {
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_upload_answer_and_unknown_states() {
        let answer = r#"{"file":{"name":"files/abc","displayName":"a.mp3","mimeType":"audio/mpeg",
            "sizeBytes":"12","uri":"https://x/v1beta/files/abc","state":"PROCESSING",
            "source":"UPLOADED"}}"#;
        let file = serde_json::from_str::<FileEnvelope>(answer).unwrap().file;
        assert_eq!(file.name, "files/abc");
        assert_eq!(file.state, FileState::Processing);
        let later: File = serde_json::from_str(r#"{"name":"files/abc","state":"NEW"}"#).unwrap();
        assert_eq!(later.state, FileState::Unknown);
    }
}
