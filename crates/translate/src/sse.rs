//! Server-Sent Events decoding from raw bytes, as read off the upstream socket.
//!
//! This module owns the framing layer of Gemini's `streamGenerateContent?alt=sse` responses:
//! turning arbitrarily chunked bytes into complete events, following the WHATWG
//! [event stream interpretation](https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
//! rules. It knows nothing of JSON or of what an event means; the stream translator does.
//!
//! Gemini sends `data: <one JSON object>\r\n\r\n` per event and no `[DONE]`; the stream ends
//! when the connection closes. After a failure it may write a bare, often pretty-printed JSON
//! error object that is not framed as `data:`. The SSE spec says to ignore such lines; we hand
//! them back as [`SseItem::Stray`] so the caller can try to read them as a Gemini error.
//!
//! The decoder is pure and synchronous: [`SseDecoder::push`] appends bytes,
//! [`SseDecoder::next_item`] yields complete items, [`SseDecoder::finish`] flushes at end of
//! input. Only complete lines are decoded, so a UTF-8 sequence split across reads is never cut.

use std::mem;

/// Once at least this many consumed bytes sit at the front of the buffer (and they are at least
/// half of it), they are drained, so compaction costs amortized O(1) per byte.
const COMPACT_MIN: usize = 8 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` when absent or empty (the spec's default type, `message`).
    pub event: Option<String>,
    /// All `data:` lines of the event, joined with `\n`.
    pub data: String,
    /// The last event ID as of this event. Per the spec it persists across events until an
    /// `id:` line changes it; `None` when it was never set or was reset with an empty `id:`.
    pub id: Option<String>,
}

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A complete event (a block that had at least one `data` line).
    Event(SseEvent),
    /// Lines of one block whose field name is not `data`, `event`, `id` or `retry`, joined with
    /// `\n` — typically Gemini's bare JSON error object written after the last event.
    Stray(String),
}

/// Why decoding failed. Errors are terminal: once one is returned, every later call to
/// [`SseDecoder::next_item`] or [`SseDecoder::finish`] returns it again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A complete line is not valid UTF-8.
    #[error("event stream is not valid UTF-8 at byte offset {offset}")]
    InvalidUtf8 {
        /// Offset of the first invalid byte, counted from the start of the stream.
        offset: u64,
    },
    /// One event block grew beyond the configured limit before it ended.
    #[error("event stream block exceeds the limit of {limit} bytes")]
    EventTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
}

/// The fields of the block (the lines up to the next blank line) being read.
#[derive(Debug, Default)]
struct Block {
    data: String,
    has_data: bool,
    event: String,
    stray: String,
    /// Bytes of the block's lines so far (comments and line ends not counted), for the limit.
    len: usize,
}

/// Incremental SSE decoder; see the [module docs](self).
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Start of the first line not yet consumed.
    pos: usize,
    /// `buf[pos..scan]` is known to hold no line end, so it is not searched again.
    scan: usize,
    /// Stream offset of `buf[0]`, for error messages.
    base: u64,
    /// The last line ended with `\r`; a `\n` right after it belongs to the same line end. Kept
    /// as a flag because the `\n` may arrive in the next read.
    after_cr: bool,
    /// The stream start was checked for a byte order mark.
    bom_checked: bool,
    block: Block,
    /// The spec's "last event ID buffer"; unlike the other fields it survives dispatch.
    last_id: Option<String>,
    /// `block.stray` holds a finished Stray item, to be returned before reading on.
    stray_ready: bool,
    limit: Option<usize>,
    failed: Option<SseError>,
}

impl SseDecoder {
    /// A decoder without a size limit.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder that fails with [`SseError::EventTooLarge`] once one block (its lines without
    /// line ends, including a line still being received) exceeds `limit` bytes.
    #[must_use]
    pub fn new_with_limit(limit: usize) -> Self {
        Self {
            limit: Some(limit),
            ..Self::default()
        }
    }

    /// Appends bytes read from the socket. Ignored after an error.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.pos == self.buf.len() {
            self.base += self.buf.len() as u64;
            self.buf.clear();
            self.pos = 0;
            self.scan = 0;
        } else if self.pos >= COMPACT_MIN && self.pos >= self.buf.len() / 2 {
            self.base += self.pos as u64;
            self.buf.drain(..self.pos);
            self.scan = self.scan.saturating_sub(self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete item, or `None` when more bytes are needed.
    ///
    /// # Errors
    /// [`SseError::InvalidUtf8`] for a complete line that is not UTF-8;
    /// [`SseError::EventTooLarge`] when a limit is set and the current block exceeds it. The
    /// error is terminal: later calls return it again.
    pub fn next_item(&mut self) -> Result<Option<SseItem>, SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.next_complete();
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    /// At end of input: yields what [`next_item`](Self::next_item) could still yield, then the
    /// final line even without a line end, then the last block even without a blank line after
    /// it (its event, then its stray text). Call repeatedly until it returns `None`.
    ///
    /// # Errors
    /// As [`next_item`](Self::next_item), including for the final unterminated line.
    pub fn finish(&mut self) -> Result<Option<SseItem>, SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.finish_inner();
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    fn finish_inner(&mut self) -> Result<Option<SseItem>, SseError> {
        if let Some(item) = self.next_complete()? {
            return Ok(Some(item));
        }
        // What is left has no line end: a truncated BOM (left to fail as UTF-8) or a last line.
        self.bom_checked = true;
        self.after_cr = false;
        if self.pos < self.buf.len() {
            let start = self.pos;
            self.pos = self.buf.len();
            self.scan = self.pos;
            let line = self.buf.get(start..).unwrap_or_default();
            let line = decode(line, self.base + start as u64)?;
            process_field(&mut self.block, &mut self.last_id, line);
        }
        Ok(self.dispatch())
    }

    fn next_complete(&mut self) -> Result<Option<SseItem>, SseError> {
        loop {
            if self.stray_ready {
                self.stray_ready = false;
                return Ok(Some(SseItem::Stray(mem::take(&mut self.block.stray))));
            }
            if !self.bom_checked {
                let rest = self.buf.get(self.pos..).unwrap_or_default();
                if rest.len() < BOM.len() && BOM.starts_with(rest) {
                    return Ok(None);
                }
                if rest.starts_with(BOM) {
                    self.pos += BOM.len();
                    self.scan = self.pos;
                }
                self.bom_checked = true;
            }
            if self.after_cr {
                match self.buf.get(self.pos) {
                    None => return Ok(None),
                    Some(b'\n') => self.pos += 1,
                    Some(_) => {}
                }
                self.after_cr = false;
                self.scan = self.scan.max(self.pos);
            }
            let start = self.pos;
            let from = self.scan.max(start);
            let tail = self.buf.get(from..).unwrap_or_default();
            // Almost every byte is above `\r`, so one comparison usually settles it.
            let Some(found) = tail
                .iter()
                .position(|&b| b <= b'\r' && (b == b'\n' || b == b'\r'))
            else {
                self.scan = self.buf.len();
                if let Some(limit) = self.limit {
                    if self.block.len + (self.buf.len() - start) > limit {
                        return Err(SseError::EventTooLarge { limit });
                    }
                }
                return Ok(None);
            };
            let end = from + found;
            self.after_cr = tail.get(found) == Some(&b'\r');
            self.pos = end + 1;
            self.scan = self.pos;
            let line = self.buf.get(start..end).unwrap_or_default();
            if line.is_empty() {
                if let Some(item) = self.dispatch() {
                    return Ok(Some(item));
                }
                continue;
            }
            let line = decode(line, self.base + start as u64)?;
            process_field(&mut self.block, &mut self.last_id, line);
            if let Some(limit) = self.limit {
                if self.block.len > limit {
                    return Err(SseError::EventTooLarge { limit });
                }
            }
        }
    }

    /// Ends the current block: returns its event if it had data, else its stray text if any;
    /// stray text of a block that also had an event is returned by the next call.
    fn dispatch(&mut self) -> Option<SseItem> {
        let block = &mut self.block;
        block.len = 0;
        let has_stray = !block.stray.is_empty();
        if !block.has_data {
            block.event.clear();
            return has_stray.then(|| SseItem::Stray(mem::take(&mut block.stray)));
        }
        block.has_data = false;
        self.stray_ready = has_stray;
        // The event owns its data, so hand the accumulated String over instead of copying
        // out of a reused one: for the usual single `data:` line that is exactly one
        // allocation of the right size.
        let event = (!block.event.is_empty()).then(|| mem::take(&mut block.event));
        Some(SseItem::Event(SseEvent {
            event,
            data: mem::take(&mut block.data),
            id: self.last_id.clone(),
        }))
    }
}

fn decode(line: &[u8], offset: u64) -> Result<&str, SseError> {
    std::str::from_utf8(line).map_err(|err| SseError::InvalidUtf8 {
        offset: offset + err.valid_up_to() as u64,
    })
}

/// Applies one non-blank line to the block.
fn process_field(block: &mut Block, last_id: &mut Option<String>, line: &str) {
    let (name, value) = match line.split_once(':') {
        Some(("", _)) => return, // a comment
        Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
        None => (line, ""),
    };
    block.len += line.len();
    match name {
        "data" => {
            if block.has_data {
                block.data.push('\n');
            }
            block.data.push_str(value);
            block.has_data = true;
        }
        "event" => {
            block.event.clear();
            block.event.push_str(value);
        }
        "id" => {
            // The spec ignores an id containing NUL.
            if !value.contains('\0') {
                *last_id = (!value.is_empty()).then(|| value.to_owned());
            }
        }
        "retry" => {}
        _ => {
            if !block.stray.is_empty() {
                block.stray.push('\n');
            }
            block.stray.push_str(line);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Feeds `chunks` in order, draining items after each, then drains `finish()`.
    fn decode_chunks(mut decoder: SseDecoder, chunks: &[&[u8]]) -> Result<Vec<SseItem>, SseError> {
        let mut items = Vec::new();
        for chunk in chunks {
            decoder.push(chunk);
            while let Some(item) = decoder.next_item()? {
                items.push(item);
            }
        }
        while let Some(item) = decoder.finish()? {
            items.push(item);
        }
        Ok(items)
    }

    fn decode_whole(input: &[u8]) -> Result<Vec<SseItem>, SseError> {
        decode_chunks(SseDecoder::new(), &[input])
    }

    fn data(data: &str) -> SseItem {
        SseItem::Event(SseEvent {
            event: None,
            data: data.to_owned(),
            id: None,
        })
    }

    const GEMINI_503: &str = "{\n  \"error\": {\n    \"code\": 503,\n    \"message\": \"The model is overloaded. Please try again later.\",\n    \"status\": \"UNAVAILABLE\"\n  }\n}\n";

    fn gemini_event(text: &str, tail: &str) -> String {
        format!(
            r#"{{"candidates": [{{"content": {{"parts": [{{"text": "{text}"}}],"role": "model"}},"index": 0{tail}}}],"usageMetadata": {{"promptTokenCount": 9,"totalTokenCount": 9}},"modelVersion": "gemini-2.5-flash","responseId": "r-1"}}"#
        )
    }

    /// A Gemini stream of 4 events with multi-byte text, `\r\n` framing, a comment and the
    /// bare error object Gemini writes after a mid-stream failure.
    fn gemini_stream_with_error() -> (Vec<u8>, Vec<SseItem>) {
        let texts = ["héllo ", "🌍 ", "日本語", ""];
        let events: Vec<String> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                gemini_event(
                    t,
                    if i == 3 {
                        r#","finishReason": "STOP""#
                    } else {
                        ""
                    },
                )
            })
            .collect();
        let mut input = String::new();
        for (i, event) in events.iter().enumerate() {
            if i == 2 {
                input.push_str(": keep-alive\r\n");
            }
            input.push_str("data: ");
            input.push_str(event);
            input.push_str("\r\n\r\n");
        }
        input.push_str(GEMINI_503);
        let mut expected: Vec<SseItem> = events.iter().map(|e| data(e)).collect();
        expected.push(SseItem::Stray(GEMINI_503.trim_end().to_owned()));
        (input.into_bytes(), expected)
    }

    fn fixtures() -> Vec<Vec<u8>> {
        let (gemini, _) = gemini_stream_with_error();
        vec![
            gemini,
            // Every line-end style, a BOM, fields, multi-line data, a final event with no
            // blank line after it.
            b"\xEF\xBB\xBFevent: delta\rid: 7\r\ndata: a\xC3\xA9\n: c\r\ndata:b\r\r\ndata\n\nretry: 5\ndata: \xF0\x9F\x8C\x8D\r\n"
                .to_vec(),
            // Lone `\r` line ends throughout, stray lines inside and after events.
            b"data: x\r{\r\r  \"k\": 1\rdata: y\r\r}".to_vec(),
        ]
    }

    #[test]
    fn sse_gemini_crlf_stream_with_stray_error_tail() -> Result<(), SseError> {
        let (input, expected) = gemini_stream_with_error();
        assert_eq!(decode_whole(&input)?, expected);
        Ok(())
    }

    #[test]
    fn sse_line_end_styles_are_equivalent() -> Result<(), SseError> {
        let expected = vec![data("one"), data("two\nthree")];
        for input in [
            "data: one\r\n\r\ndata: two\r\ndata: three\r\n\r\n",
            "data: one\n\ndata: two\ndata: three\n\n",
            "data: one\r\rdata: two\rdata: three\r\r",
            "data: one\r\n\ndata: two\rdata: three\n\r",
        ] {
            assert_eq!(decode_whole(input.as_bytes())?, expected, "input {input:?}");
        }
        Ok(())
    }

    #[test]
    fn sse_cr_at_end_of_read_is_not_an_extra_line() -> Result<(), SseError> {
        let items = decode_chunks(
            SseDecoder::new(),
            &[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"],
        )?;
        assert_eq!(items, vec![data("a\nb")]);
        // A lone `\r` followed by another `\r` in the next read is a blank line.
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: a\r");
        assert_eq!(decoder.next_item()?, None);
        decoder.push(b"\r");
        assert_eq!(decoder.next_item()?, Some(data("a")));
        Ok(())
    }

    #[test]
    fn sse_multi_line_data_and_space_stripping() -> Result<(), SseError> {
        let input = b"data:no-space\ndata:  two spaces\ndata\ndata:\ndata: end\n\n";
        assert_eq!(
            decode_whole(input)?,
            vec![data("no-space\n two spaces\n\n\nend")]
        );
        Ok(())
    }

    #[test]
    fn sse_comments_are_skipped() -> Result<(), SseError> {
        let input = b":\n: ping\n\ndata: a\n:data: not data\n\n";
        assert_eq!(decode_whole(input)?, vec![data("a")]);
        Ok(())
    }

    #[test]
    fn sse_event_and_id_fields() -> Result<(), SseError> {
        let input = b"event: first\nid: 1\ndata: a\n\ndata: b\n\nevent:\nid\ndata: c\n\nid: x\0y\nevent: e\nretry: 100\n\nevent: e2\ndata: d\n\n";
        let expected = vec![
            SseItem::Event(SseEvent {
                event: Some("first".into()),
                data: "a".into(),
                id: Some("1".into()),
            }),
            // The event type resets after dispatch; the last event ID persists.
            SseItem::Event(SseEvent {
                event: None,
                data: "b".into(),
                id: Some("1".into()),
            }),
            // Empty `event:` means the default type; a bare `id` resets the ID.
            data("c"),
            // A block without data dispatches nothing and its event type is dropped; an id
            // with NUL is ignored.
            SseItem::Event(SseEvent {
                event: Some("e2".into()),
                data: "d".into(),
                id: None,
            }),
        ];
        assert_eq!(decode_whole(input)?, expected);
        Ok(())
    }

    #[test]
    fn sse_bom_is_skipped_only_at_stream_start() -> Result<(), SseError> {
        assert_eq!(decode_whole(b"\xEF\xBB\xBFdata: a\n\n")?, vec![data("a")]);
        let split = decode_chunks(SseDecoder::new(), &[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"])?;
        assert_eq!(split, vec![data("a")]);
        // Later, a BOM is just part of the line, so the field name is not `data`.
        let later = decode_whole(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n")?;
        assert_eq!(
            later,
            vec![data("a"), SseItem::Stray("\u{FEFF}data: b".into())]
        );
        Ok(())
    }

    #[test]
    fn sse_finish_flushes_final_event_without_blank_line() -> Result<(), SseError> {
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: a\n\ndata: b\ndata: c");
        assert_eq!(decoder.next_item()?, Some(data("a")));
        assert_eq!(decoder.next_item()?, None);
        assert_eq!(decoder.finish()?, Some(data("b\nc")));
        assert_eq!(decoder.finish()?, None);
        assert_eq!(decoder.finish()?, None);
        assert_eq!(decode_whole(b"data: b\n")?, vec![data("b")]);
        assert_eq!(decode_whole(b"")?, vec![]);
        Ok(())
    }

    #[test]
    fn sse_gemini_503_after_last_event_is_stray() -> Result<(), SseError> {
        let event = gemini_event("hi", "");
        let input = format!("data: {event}\r\n\r\n{GEMINI_503}");
        let mut decoder = SseDecoder::new();
        decoder.push(input.as_bytes());
        assert_eq!(decoder.next_item()?, Some(data(&event)));
        // The error object has no blank line after it: it only comes out at end of input.
        assert_eq!(decoder.next_item()?, None);
        let Some(SseItem::Stray(text)) = decoder.finish()? else {
            unreachable!("expected the stray error object");
        };
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["error"]["code"], 503, "stray text {text:?}");
        assert_eq!(value["error"]["status"], "UNAVAILABLE");
        assert_eq!(decoder.finish()?, None);
        Ok(())
    }

    #[test]
    fn sse_stray_lines_in_an_event_block_come_after_the_event() -> Result<(), SseError> {
        let input = b"{\ndata: a\n\"x\": 1\n}\n\n[oops]\n\ndata: b\n\n";
        let expected = vec![
            data("a"),
            SseItem::Stray("{\n\"x\": 1\n}".into()),
            SseItem::Stray("[oops]".into()),
            data("b"),
        ];
        assert_eq!(decode_whole(input)?, expected);
        Ok(())
    }

    #[test]
    fn sse_invalid_utf8_is_an_error_and_terminal() {
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: a\n\ndata: b\xFFc\n\n");
        assert_eq!(decoder.next_item(), Ok(Some(data("a"))));
        let err = SseError::InvalidUtf8 { offset: 16 };
        assert_eq!(decoder.next_item(), Err(err.clone()));
        assert_eq!(decoder.next_item(), Err(err.clone()));
        assert_eq!(decoder.finish(), Err(err));
        // An unterminated invalid last line fails at finish().
        assert_eq!(
            decode_whole(b"data: \xC3"),
            Err(SseError::InvalidUtf8 { offset: 6 })
        );
    }

    #[test]
    fn sse_split_multibyte_character_is_not_cut() -> Result<(), SseError> {
        let items = decode_chunks(
            SseDecoder::new(),
            &[b"data: \xF0\x9F", b"\x8C", b"\x8D\n\n"],
        )?;
        assert_eq!(items, vec![data("🌍")]);
        Ok(())
    }

    #[test]
    fn sse_event_size_limit() {
        let limit = 16;
        // Exactly at the limit (counting `data: ` but not line ends) is fine, repeatedly.
        let ok = b"data: 0123456789\r\n\r\ndata: 0123456789\r\n\r\n";
        assert_eq!(
            decode_chunks(SseDecoder::new_with_limit(limit), &[ok]),
            Ok(vec![data("0123456789"), data("0123456789")])
        );
        let too_large = Err(SseError::EventTooLarge { limit });
        // Over it across lines of one block.
        let lines = decode_chunks(
            SseDecoder::new_with_limit(limit),
            &[b"data: 01234\ndata: 56789\n\n"],
        );
        assert_eq!(lines, too_large);
        // Over it within a line that has not ended yet: fail early, do not keep buffering.
        let mut decoder = SseDecoder::new_with_limit(limit);
        decoder.push(b"data: 0123456789");
        assert_eq!(decoder.next_item(), Ok(None));
        decoder.push(b"a");
        assert_eq!(decoder.next_item(), Err(SseError::EventTooLarge { limit }));
        // Stray text counts too.
        let stray = decode_chunks(
            SseDecoder::new_with_limit(limit),
            &[b"{\n  \"error\": {\"code\": 503}\n}"],
        );
        assert_eq!(stray, too_large);
        assert_eq!(
            SseError::EventTooLarge { limit }.to_string(),
            "event stream block exceeds the limit of 16 bytes"
        );
    }

    #[test]
    fn sse_every_split_matches_whole_input() -> Result<(), SseError> {
        for input in fixtures() {
            let whole = decode_whole(&input)?;
            assert!(!whole.is_empty());
            for at in 0..=input.len() {
                let (a, b) = input.split_at(at);
                let split = decode_chunks(SseDecoder::new(), &[a, b])?;
                assert_eq!(
                    split,
                    whole,
                    "split at {at} of {:?}",
                    String::from_utf8_lossy(&input)
                );
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(
                decode_chunks(SseDecoder::new(), &bytes)?,
                whole,
                "one byte at a time"
            );
        }
        Ok(())
    }

    #[test]
    fn sse_fixture_expectations() -> Result<(), SseError> {
        let [_, mixed, lone_cr] = &fixtures()[..] else {
            unreachable!("three fixtures");
        };
        let mixed_expected = vec![
            SseItem::Event(SseEvent {
                event: Some("delta".into()),
                data: "aé\nb".into(),
                id: Some("7".into()),
            }),
            SseItem::Event(SseEvent {
                event: None,
                data: String::new(),
                id: Some("7".into()),
            }),
            SseItem::Event(SseEvent {
                event: None,
                data: "🌍".into(),
                id: Some("7".into()),
            }),
        ];
        assert_eq!(decode_whole(mixed)?, mixed_expected);
        let lone_cr_expected = vec![
            data("x"),
            SseItem::Stray("{".into()),
            data("y"),
            SseItem::Stray("  \"k\": 1".into()),
            SseItem::Stray("}".into()),
        ];
        assert_eq!(decode_whole(lone_cr)?, lone_cr_expected);
        Ok(())
    }

    #[test]
    fn sse_buffer_is_compacted_on_long_streams() -> Result<(), SseError> {
        let event = format!("data: {}\r\n\r\n", gemini_event("héllo 🌍 日本語", ""));
        let mut decoder = SseDecoder::new();
        let mut count = 0;
        // Reads that end mid-line, so the buffer never empties completely.
        let input = event.repeat(2000);
        for chunk in input.as_bytes().chunks(1000) {
            decoder.push(chunk);
            while let Some(item) = decoder.next_item()? {
                assert!(matches!(item, SseItem::Event(_)));
                count += 1;
            }
            assert!(
                decoder.buf.len() < 2 * COMPACT_MIN + 2000,
                "buffer grew to {}",
                decoder.buf.len()
            );
        }
        assert_eq!(decoder.finish()?, None);
        assert_eq!(count, 2000);
        Ok(())
    }
}
