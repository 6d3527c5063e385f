//! The ids Pollux makes up: tool-call ids Gemini did not give, and for the Responses API a
//! response's id and the ids of its items.
//!
//! A response's items take their ids from the response's own: `msg_`, the 32 hex digits of
//! `resp_...`, then a counter (`msg_6f1c...e2a40003`). So an item id leads to its record by
//! itself ([`response_of`]) and a store keeps no index entry for it, only for the ids clients
//! chose; and an id is two copies rather than a formatted UUID. Both together took about 15,000
//! instructions off a stored request (docs/benchmarks.md, change 21). The ids stay opaque to
//! clients, as OpenAI's are; an item id names its response only to whoever may read that
//! response anyway.

use pollux_translate::IdSource;

/// Random ids for tool calls Gemini did not name (chat).
pub struct RandomIds;

impl IdSource for RandomIds {
    fn tool_call_id(&mut self) -> String {
        let uuid = uuid::Uuid::new_v4().simple().to_string();
        format!("call_{}", &uuid[..24])
    }

    fn item_id(&mut self, prefix: &str) -> String {
        format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
    }
}

/// The ids of one Responses request: its response's, and its items' after it.
#[derive(Debug, Clone)]
pub struct ResponseIds {
    /// The response id's random part: 32 lowercase hex digits.
    hex: [u8; 32],
    /// The next item's number.
    next: u32,
}

impl Default for ResponseIds {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseIds {
    pub fn new() -> ResponseIds {
        let mut hex = [0u8; 32];
        uuid::Uuid::new_v4().simple().encode_lower(&mut hex);
        ResponseIds { hex, next: 0 }
    }

    fn hex(&self) -> &str {
        // ASCII hex digits, written by uuid.
        std::str::from_utf8(&self.hex).unwrap_or_default()
    }

    /// Sets the next `n` item ids aside: the ids returned make them, in order, and these ids
    /// go on after them. A stored request's input items take their ids only when first read
    /// back (`crate::store::InputJson`), yet always the same ones.
    pub fn reserve(&mut self, n: usize) -> ResponseIds {
        let reserved = self.clone();
        self.next = self
            .next
            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        reserved
    }

    /// `resp_` and the random part.
    pub fn response_id(&self) -> String {
        let mut id = String::with_capacity(5 + 32);
        id.push_str("resp_");
        id.push_str(self.hex());
        id
    }
}

impl IdSource for ResponseIds {
    fn tool_call_id(&mut self) -> String {
        RandomIds.tool_call_id()
    }

    fn item_id(&mut self, prefix: &str) -> String {
        let n = self.next;
        self.next = self.next.saturating_add(1);
        let mut id = String::with_capacity(prefix.len() + 1 + 32 + 8);
        id.push_str(prefix);
        id.push('_');
        id.push_str(self.hex());
        // At least four hex digits, more past 0xffff items.
        let digits = (32 - n.leading_zeros()).div_ceil(4).max(4);
        for shift in (0..digits).rev() {
            id.push(char::from_digit((n >> (shift * 4)) & 0xf, 16).unwrap_or('0'));
        }
        id
    }
}

/// The response whose [`ResponseIds`] made `item_id`, if its shape says so: `None` for an id
/// of another shape (one a client chose). A client may choose an id of this shape too, so the
/// record it leads to must still hold the item.
pub fn response_of(item_id: &str) -> Option<String> {
    named(item_id).map(|hex| format!("resp_{hex}"))
}

/// Whether `item_id` leads to `response_id` by itself ([`response_of`]), without allocating.
pub fn names(item_id: &str, response_id: &str) -> bool {
    // The response's digits are hex already: only the counter after them needs checking.
    match (response_id.strip_prefix("resp_"), item_id.split_once('_')) {
        (Some(hex), Some((_, rest))) if hex.len() == 32 => rest
            .strip_prefix(hex)
            .is_some_and(|counter| counter.len() >= 4 && is_hex(counter)),
        _ => false,
    }
}

/// The response id's 32 hex digits in an id [`ResponseIds`] could have made.
fn named(item_id: &str) -> Option<&str> {
    let (_, rest) = item_id.split_once('_')?;
    let hex = rest.get(..32)?;
    (rest.len() >= 36 && is_hex(rest)).then_some(hex)
}

/// Lowercase hex digits only, as [`ResponseIds`] writes them.
fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn items_lead_back_to_their_response() {
        let mut ids = ResponseIds::new();
        let response = ids.response_id();
        assert!(response.starts_with("resp_") && response.len() == 37);
        let first = ids.item_id("msg");
        let second = ids.item_id("fc");
        assert_eq!(first, format!("msg_{}0000", &response[5..]));
        assert_eq!(second, format!("fc_{}0001", &response[5..]));
        assert_eq!(response_of(&first).as_deref(), Some(response.as_str()));
        assert_eq!(response_of(&second).as_deref(), Some(response.as_str()));
        assert!(names(&first, &response) && names(&second, &response));
        assert!(!names(&first, "resp_other") && !names(&first, &ResponseIds::new().response_id()));
        assert!(
            !names(&first[..first.len() - 1], &response),
            "a counter of three digits"
        );
        // Another request's ids lead elsewhere.
        let other = ResponseIds::new();
        assert_ne!(other.response_id(), response);
    }

    #[test]
    fn reserved_ids_come_out_the_same_later() {
        let mut ids = ResponseIds::new();
        let mut reserved = ids.reserve(2);
        let after = ids.item_id("msg");
        let (a, b) = (reserved.item_id("msg"), reserved.item_id("fc"));
        assert!(a.ends_with("0000") && b.ends_with("0001") && after.ends_with("0002"));
        assert_eq!(reserved.clone().item_id("rs"), reserved.item_id("rs"));
    }

    #[test]
    fn the_counter_widens_past_four_digits() {
        let mut ids = ResponseIds::new();
        ids.next = 0xffff;
        let last = ids.item_id("msg");
        let past = ids.item_id("msg");
        assert!(last.ends_with("ffff"), "{last}");
        assert!(past.ends_with("10000"), "{past}");
        assert_eq!(response_of(&past), Some(ids.response_id()));
    }

    #[test]
    fn ids_of_other_shapes_name_no_response() {
        for id in [
            "msg_given",
            "rs_1",
            "nounderscore",
            // No counter after the 32 digits.
            "msg_0123456789abcdef0123456789abcdef",
            "msg_0123456789ABCDEF0123456789abcdef0000",
            "msg_0123456789abcdef0123456789abcdef00g0",
        ] {
            assert_eq!(response_of(id), None, "{id}");
        }
    }
}
