//! Writing Server-Sent Events to the client: `data: <json>\n\n` frames (named ones for the
//! Responses API) and the final
//! `data: [DONE]`, and the `: keep-alive` comment.

use bytes::{BufMut, Bytes, BytesMut};
use pollux_translate::openai::responses::StreamEvent;
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

/// Frames Responses stream events as named SSE events (`event: <type>` then `data: <json>`),
/// one after the other in one buffer, a response object an event carries written with its
/// echoed settings as encoded once ([`StreamEvent::write_sse`]). The events one upstream
/// event produced go out as one body chunk: a stream's end is four events (`output_text.done`,
/// `content_part.done`, `output_item.done`, `response.completed`).
pub fn responses_events(events: &[StreamEvent]) -> Bytes {
    responses_events_locating(events).0
}

/// [`responses_events`], with the bytes of the last response object the events carry (the
/// terminal event's): a stored stream keeps them rather than encoding the response again.
pub fn responses_events_locating(events: &[StreamEvent]) -> (Bytes, Option<Bytes>) {
    let mut out = Vec::with_capacity(events.iter().map(StreamEvent::frame_capacity).sum());
    let mut response = None;
    for event in events {
        match event.write_sse_locating(&mut out) {
            Ok(Some(at)) => response = Some(at),
            Ok(None) => {}
            Err(_) => out.extend_from_slice(b"event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"internal serialization error\",\"param\":null,\"sequence_number\":0}\n\n"),
        }
    }
    let out = Bytes::from(out);
    let response = response.map(|at| out.slice(at));
    (out, response)
}
