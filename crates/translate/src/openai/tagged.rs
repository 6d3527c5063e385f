//! Internally tagged objects (`{"role": "user", ...}`, `{"type": "text", ...}`) read in one pass
//! when the tag comes first, as every OpenAI SDK writes it.
//!
//! serde's derived `#[serde(tag = "...")]` cannot know where the tag is, so it first copies the
//! whole object into an intermediate tree and then reads the variant from that copy: every
//! string of every message is allocated twice, and a 10 MB inline image is held twice at once.
//! [`TagFirst`] reads the first key; when it is the tag, the rest of the object is read straight
//! into the variant's struct from the same deserializer (so error paths stay exact). Fields
//! that come before the tag (clients that sort keys put `content` before `role`) are kept as
//! `serde_json::Value`s and replayed in front of the rest; their strings are moved, not copied,
//! into the variant.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer, MapAccess,
    Visitor,
};
use serde::Deserialize;

/// An object tagged by its [`TAG`](Tagged::TAG) field.
pub(crate) trait Tagged: Sized {
    /// The tag field's name.
    const TAG: &'static str;
    /// What the tag field holds (an enum of the known variants).
    type Tag: DeserializeOwned;

    /// Reads the variant `tag` names from the object's other fields.
    fn variant<'de, D: Deserializer<'de>>(tag: Self::Tag, rest: D) -> Result<Self, D::Error>;
}

/// Deserializes a [`Tagged`] object; use from the type's `Deserialize` impl.
pub(crate) fn deserialize<'de, T: Tagged, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(TagFirst(PhantomData))
}

/// Reads the rest of the object into nothing (a variant without fields).
pub(crate) fn ignore_rest<'de, D: Deserializer<'de>>(rest: D) -> Result<(), D::Error> {
    IgnoredAny::deserialize(rest).map(|_| ())
}

struct TagFirst<T>(PhantomData<T>);

impl<'de, T: Tagged> Visitor<'de> for TagFirst<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with a `{}` field", T::TAG)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        // Fields before the tag (none, from the SDKs) are kept; the rest is read in place.
        let mut before = Vec::new();
        loop {
            match map.next_key_seed(KeySeed(T::TAG))? {
                None => return Err(de::Error::missing_field(T::TAG)),
                Some(Key::Tag) => {
                    let tag = map.next_value::<T::Tag>()?;
                    let rest = Replay {
                        tag: T::TAG,
                        before: before.into_iter(),
                        value: None,
                        rest: map,
                    };
                    return T::variant(tag, MapAccessDeserializer::new(rest));
                }
                Some(Key::Other(key)) => {
                    let value: serde_json::Value = map.next_value()?;
                    before.push((key, value));
                }
            }
        }
    }
}

/// A key of a tagged object: the tag, or another field (kept by name).
enum Key {
    Tag,
    Other(String),
}

/// Reads a [`Key`] without allocating for the tag.
struct KeySeed(&'static str);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(if v == self.0 {
            Key::Tag
        } else {
            Key::Other(v.to_owned())
        })
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
        Ok(if v == self.0 { Key::Tag } else { Key::Other(v) })
    }
}

/// The object without its tag: first the fields kept from before the tag, then the ones
/// still unread in the source, where a second tag is refused (as serde's derive does).
struct Replay<A> {
    tag: &'static str,
    before: std::vec::IntoIter<(String, serde_json::Value)>,
    /// The value of the kept field whose key was just handed out.
    value: Option<serde_json::Value>,
    rest: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Replay<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.before.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(IntoDeserializer::<A::Error>::into_deserializer(key))
                    .map(Some)
            }
            None => self.rest.next_key_seed(NotTag {
                tag: self.tag,
                seed,
            }),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.value.take() {
            // A kept value was parsed already; its errors keep their message, not their path.
            Some(value) => seed.deserialize(value).map_err(de::Error::custom),
            None => self.rest.next_value_seed(seed),
        }
    }
}

/// A key seed that refuses the tag: after the tag has been read, the variant's struct would
/// otherwise ignore a second one as an unknown field.
struct NotTag<K> {
    tag: &'static str,
    seed: K,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for NotTag<K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, K: DeserializeSeed<'de>> Visitor<'de> for NotTag<K> {
    type Value = K::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<K::Value, E> {
        if v == self.tag {
            return Err(de::Error::duplicate_field(self.tag));
        }
        self.seed.deserialize(v.into_deserializer())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use crate::openai::chat::{ChatCompletionRequest, Content, ContentPart, Message};
    use crate::TranslateError;

    fn messages(json: &str) -> Vec<Message> {
        let body = format!(r#"{{"model":"m","messages":{json}}}"#);
        ChatCompletionRequest::from_slice(body.as_bytes())
            .unwrap()
            .messages
    }

    fn error(json: &str) -> (String, Option<String>) {
        let body = format!(r#"{{"model":"m","messages":{json}}}"#);
        match ChatCompletionRequest::from_slice(body.as_bytes()) {
            Err(TranslateError::InvalidRequest { message, param, .. }) => (message, param),
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    #[test]
    fn the_tag_may_come_first_last_or_between() {
        let first = messages(
            r#"[{"role":"tool","tool_call_id":"c1","content":"42"},
                {"role":"user","content":[{"type":"text","text":"a"},
                 {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]"#,
        );
        let last = messages(
            r#"[{"content":"42","tool_call_id":"c1","role":"tool"},
                {"content":[{"text":"a","type":"text"},
                 {"image_url":{"url":"data:image/png;base64,AAAA"},"type":"image_url"}],"role":"user"}]"#,
        );
        let between = messages(
            r#"[{"tool_call_id":"c1","role":"tool","content":"42"},
                {"content":[{"text":"a","type":"text","extra":1},
                 {"image_url":{"url":"data:image/png;base64,AAAA"},"type":"image_url"}],"role":"user","name":"n"}]"#,
        );
        assert_eq!(format!("{first:?}"), format!("{last:?}"));
        assert_eq!(format!("{first:?}"), format!("{between:?}"));
        let Message::Tool(tool) = &first[0] else {
            panic!("not a tool message: {first:?}");
        };
        assert_eq!(tool.tool_call_id, "c1");
        let Message::User(user) = &first[1] else {
            panic!("not a user message: {first:?}");
        };
        let Content::Parts(parts) = &user.content else {
            panic!("not parts: {user:?}");
        };
        assert!(matches!(&parts[0], ContentPart::Text { text } if text == "a"));
        assert!(
            matches!(&parts[1], ContentPart::ImageUrl { image_url } if image_url.url.ends_with("AAAA"))
        );
    }

    #[test]
    fn unknown_part_types_are_kept_as_unknown_and_their_fields_skipped() {
        for json in [
            r#"[{"role":"user","content":[{"type":"video","video":{"url":"x"}},{"type":"text","text":"b"}]}]"#,
            r#"[{"role":"user","content":[{"video":{"url":"x"},"type":"video"},{"type":"text","text":"b"}]}]"#,
        ] {
            let m = messages(json);
            let Message::User(user) = &m[0] else {
                panic!("not a user message: {m:?}");
            };
            let Content::Parts(parts) = &user.content else {
                panic!("not parts: {user:?}");
            };
            assert!(matches!(parts[0], ContentPart::Unknown));
            assert!(matches!(&parts[1], ContentPart::Text { text } if text == "b"));
        }
    }

    #[test]
    fn a_missing_or_unknown_role_is_named() {
        let (message, param) = error(r#"[{"content":"hi"}]"#);
        assert!(message.contains("missing field `role`"), "{message}");
        assert_eq!(param.as_deref(), Some("messages[0]"));
        let (message, param) =
            error(r#"[{"role":"user","content":"a"},{"role":"robot","content":"hi"}]"#);
        assert!(message.contains("unknown variant `robot`"), "{message}");
        assert!(message.contains("`assistant`"), "{message}");
        assert_eq!(param.as_deref(), Some("messages[1].role"));
    }

    #[test]
    fn errors_after_the_tag_keep_their_path_and_errors_before_it_their_message() {
        let (message, param) = error(r#"[{"role":"user","content":5}]"#);
        assert!(
            message.contains("expected a string or an array of content parts"),
            "{message}"
        );
        assert_eq!(param.as_deref(), Some("messages[0].content"));
        let (message, _) = error(r#"[{"content":5,"role":"user"}]"#);
        assert!(
            message.contains("expected a string or an array of content parts"),
            "{message}"
        );
        let (message, param) = error(r#"[{"role":"tool","content":"x"}]"#);
        assert!(
            message.contains("missing field `tool_call_id`"),
            "{message}"
        );
        assert_eq!(param.as_deref(), Some("messages[0]"));
        let (message, param) =
            error(r#"[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]"#);
        assert!(message.contains("missing field `url`"), "{message}");
        assert_eq!(param.as_deref(), Some("messages[0].content[0].image_url"));
    }

    /// A second tag would otherwise be skipped as an unknown field of the variant.
    #[test]
    fn a_second_tag_is_refused() {
        let (message, param) = error(r#"[{"role":"user","role":"tool","content":"hi"}]"#);
        assert!(message.contains("duplicate field `role`"), "{message}");
        assert_eq!(param.as_deref(), Some("messages[0].role"));
        let (message, _) =
            error(r#"[{"role":"user","content":[{"type":"text","type":"image_url","text":"a"}]}]"#);
        assert!(message.contains("duplicate field `type`"), "{message}");
    }

    /// The fast parse refuses trailing data; the path-tracking one must too.
    #[test]
    fn trailing_data_after_the_body_is_refused() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]} trailing"#;
        match ChatCompletionRequest::from_slice(body) {
            Err(TranslateError::InvalidRequest { message, code, .. }) => {
                assert!(message.contains("trailing characters"), "{message}");
                assert_eq!(code, Some("invalid_json"));
            }
            other => panic!("trailing data accepted: {other:?}"),
        }
        assert!(ChatCompletionRequest::from_slice(
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}  
"#
        )
        .is_ok());
    }
}
