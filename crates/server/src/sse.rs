//! Writing Server-Sent Events to the client: `data: <json>\n\n` frames (named ones for the
//! Responses API) and the final
//! `data: [DONE]`, and the `: keep-alive` comment.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

pub const DONE: Bytes = Bytes::from_static(b"data: [DONE]\n\n");

/// An SSE comment: clients ignore it, proxies see the connection is alive.
pub const KEEP_ALIVE: Bytes = Bytes::from_static(b": keep-alive\n\n");

/// Frames one serializable value as an SSE `data:` event.
pub fn event<T: Serialize>(value: &T) -> Bytes {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_slice(b"data: ");
    let mut writer = buf.writer();
    if serde_json::to_writer(&mut writer, value).is_err() {
        return Bytes::from_static(b"data: {\"error\":{\"message\":\"internal serialization error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
    }
    let mut buf = writer.into_inner();
    buf.put_slice(b"\n\n");
    buf.freeze()
}

/// Frames pre-serialized JSON (an error envelope) as an SSE `data:` event.
pub fn raw_event(json: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(json.len() + 8);
    buf.put_slice(b"data: ");
    buf.put_slice(json);
    buf.put_slice(b"\n\n");
    buf.freeze()
}

/// Frames one serializable value as a named SSE event (`event: <name>` then `data: <json>`),
/// as the Responses API streams.
pub fn named_event<T: Serialize>(name: &str, value: &T) -> Bytes {
    let mut buf = BytesMut::with_capacity(320);
    buf.put_slice(b"event: ");
    buf.put_slice(name.as_bytes());
    buf.put_slice(b"\ndata: ");
    let mut writer = buf.writer();
    if serde_json::to_writer(&mut writer, value).is_err() {
        return Bytes::from_static(b"event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"internal serialization error\",\"param\":null,\"sequence_number\":0}\n\n");
    }
    let mut buf = writer.into_inner();
    buf.put_slice(b"\n\n");
    buf.freeze()
}
