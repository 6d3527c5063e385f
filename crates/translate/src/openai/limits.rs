//! How many items one chat request may hold, counted while the body is read.
//!
//! serde hands a visitor no context, so the limits of the parse running on this thread sit
//! in a thread-local for its duration ([`counting`]); outside one, the defaults apply. An
//! array past its limit stops the parse at its first extra item: a 64 MiB body of two
//! million one-letter messages is refused after ten thousand of them were read, instead of
//! after all of them were allocated (issue #13, finding 6).

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};

use crate::TranslateError;

/// How many items one chat request may hold. The body size limit alone does not bound the
/// work: 64 MiB of one-letter messages is two million of them, each a struct, a string and
/// later a Gemini part.
///
/// OpenAI documents no limit on messages and Gemini takes long histories, so the defaults
/// sit far above real conversations (a long agent session is a few thousand messages) while
/// keeping one request's parsed form and Gemini body to tens of MB. The server sets them
/// from `--max-messages`, `--max-parts` and `--max-tools`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries of `messages`.
    pub max_messages: usize,
    /// Content parts and history tool calls of all messages together (each becomes a Gemini
    /// part).
    pub max_parts: usize,
    /// Entries of `tools` and legacy `functions` together. OpenAI itself takes 128.
    pub max_tools: usize,
}

impl Limits {
    pub const DEFAULT_MAX_MESSAGES: usize = 10_000;
    pub const DEFAULT_MAX_PARTS: usize = 20_000;
    pub const DEFAULT_MAX_TOOLS: usize = 512;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_messages: Limits::DEFAULT_MAX_MESSAGES,
            max_parts: Limits::DEFAULT_MAX_PARTS,
            max_tools: Limits::DEFAULT_MAX_TOOLS,
        }
    }
}

/// Which limit a request went past, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    Messages,
    Parts { message: usize },
    Tools,
    Functions,
}

impl Over {
    /// The 400 for a chat request past this limit.
    pub(crate) fn error(self, limits: &Limits) -> TranslateError {
        self.error_in(limits, "messages")
    }

    /// The 400 for a request past this limit, whose conversation is the array `list`
    /// (`messages` in chat, `input` in Responses).
    pub(crate) fn error_in(self, limits: &Limits, list: &str) -> TranslateError {
        let (held, limit, flag, param) = match self {
            Over::Messages => (
                if list == "messages" {
                    "messages"
                } else {
                    "input items"
                },
                limits.max_messages,
                "max-messages",
                list.to_owned(),
            ),
            Over::Parts { message } => (
                "content parts and tool calls",
                limits.max_parts,
                "max-parts",
                format!("{list}[{message}]"),
            ),
            Over::Tools => ("tools", limits.max_tools, "max-tools", "tools".to_owned()),
            Over::Functions => (
                "tools",
                limits.max_tools,
                "max-tools",
                "functions".to_owned(),
            ),
        };
        TranslateError::InvalidRequest {
            message: format!(
                "This request holds more than {limit} {held}; this server accepts at most {limit} (its --{flag} setting)."
            ),
            param: Some(param),
            code: Some("too_many_items"),
        }
    }
}

/// The parse running on this thread: its limits and what it has counted so far.
struct Count {
    limits: Limits,
    /// The `messages` index being read.
    message: usize,
    parts: usize,
    tools: usize,
    over: Option<Over>,
}

thread_local! {
    static COUNT: RefCell<Option<Count>> = const { RefCell::new(None) };
}

/// Runs `parse` with `limits` counted; a parse stopped by a limit returns that limit's error
/// in place of the parser's.
pub(crate) fn counting<T>(
    limits: &Limits,
    parse: impl FnOnce() -> Result<T, TranslateError>,
) -> Result<T, TranslateError> {
    counting_in(limits, "messages", parse)
}

/// [`counting`] for a dialect whose conversation array is called `list`.
pub(crate) fn counting_in<T>(
    limits: &Limits,
    list: &'static str,
    parse: impl FnOnce() -> Result<T, TranslateError>,
) -> Result<T, TranslateError> {
    let start = || Count {
        limits: *limits,
        message: 0,
        parts: 0,
        tools: 0,
        over: None,
    };
    let previous = COUNT.with(|c| c.borrow_mut().replace(start()));
    let parsed = parse();
    let count = COUNT.with(|c| std::mem::replace(&mut *c.borrow_mut(), previous));
    match (parsed, count.and_then(|c| c.over)) {
        (Err(_), Some(over)) => Err(over.error_in(limits, list)),
        (parsed, _) => parsed,
    }
}

/// Notes that the parse went past a limit and stops it.
fn stop<E: de::Error>(over: Over) -> E {
    COUNT.with(|c| {
        if let Some(count) = c.borrow_mut().as_mut() {
            count.over = Some(over);
        }
    });
    de::Error::custom("this request holds more items than the server accepts")
}

fn limits() -> Limits {
    COUNT.with(|c| {
        c.borrow()
            .as_ref()
            .map_or_else(Limits::default, |c| c.limits)
    })
}

/// Counts one content part of the message being read.
pub(crate) fn count_part<E: de::Error>() -> Result<(), E> {
    let over = COUNT.with(|c| {
        let mut c = c.borrow_mut();
        let count = c.as_mut()?;
        count.parts += 1;
        (count.parts > count.limits.max_parts).then_some(Over::Parts {
            message: count.message,
        })
    });
    match over {
        Some(over) => Err(stop(over)),
        None => Ok(()),
    }
}

/// `messages`, refused at its first entry past [`Limits::max_messages`].
pub(crate) fn messages<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let max = limits().max_messages;
    d.deserialize_seq(Capped {
        max,
        over: Over::Messages,
        marker: PhantomData,
    })
}

/// `tools`, refused at its first entry past [`Limits::max_tools`] (with `functions`).
pub(crate) fn tools<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Tools<T, true>>::deserialize(d)?.map(|t| t.0))
}

/// Legacy `functions`, counted against [`Limits::max_tools`] together with `tools`.
pub(crate) fn functions<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Tools<T, false>>::deserialize(d)?.map(|t| t.0))
}

/// A `tools` (`TOOLS`) or `functions` array.
struct Tools<T, const TOOLS: bool>(Vec<T>);

impl<'de, T: Deserialize<'de>, const TOOLS: bool> Deserialize<'de> for Tools<T, TOOLS> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let over = if TOOLS { Over::Tools } else { Over::Functions };
        d.deserialize_seq(Capped {
            max: limits().max_tools,
            over,
            marker: PhantomData,
        })
        .map(Tools)
    }
}

/// An array of at most `max` items (for tools: `max` together with the other tool array).
struct Capped<T> {
    max: usize,
    over: Over,
    marker: PhantomData<T>,
}

impl<T> Capped<T> {
    /// Whether `len` items read leave no room for another.
    fn full(&self, len: usize) -> bool {
        COUNT.with(|c| match (c.borrow_mut().as_mut(), self.over) {
            (Some(count), Over::Messages) => {
                count.message = len;
                len >= self.max
            }
            (Some(count), _) => count.tools >= self.max,
            (None, _) => len >= self.max,
        })
    }

    fn counted(&self) {
        if self.over != Over::Messages {
            COUNT.with(|c| {
                if let Some(count) = c.borrow_mut().as_mut() {
                    count.tools += 1;
                }
            });
        }
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Capped<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(CHUNK));
        // Past `CHUNK` items, full chunks wait here rather than the vector growing by doubling.
        let mut chunks: Vec<Vec<T>> = Vec::new();
        loop {
            let len = chunks.len() * CHUNK + out.len();
            if self.full(len) {
                // One more item is an error; the end of the array is not.
                return match seq.next_element::<IgnoredAny>()? {
                    Some(_) => Err(stop(self.over)),
                    None => Ok(joined(chunks, out)),
                };
            }
            match seq.next_element()? {
                Some(item) => {
                    self.counted();
                    if out.len() == CHUNK {
                        chunks.push(std::mem::replace(&mut out, Vec::with_capacity(CHUNK)));
                    }
                    out.push(item);
                }
                None => return Ok(joined(chunks, out)),
            }
        }
    }
}

/// Items of a long array are read in chunks of this many.
const CHUNK: usize = 1024;

/// The array read: `last` alone, shrunk to its length, or the chunks and `last` moved into
/// one vector of the exact length. Grown by doubling, a long array would for a moment hold
/// its old buffer and one twice as large, and up to half of the last one would sit unused
/// for the request's life (or for another moment while it shrinks); joined from chunks, it
/// holds at most twice its final size, once (issue #13, finding 6).
fn joined<T>(chunks: Vec<Vec<T>>, mut last: Vec<T>) -> Vec<T> {
    if chunks.is_empty() {
        last.shrink_to_fit();
        return last;
    }
    let mut all = Vec::with_capacity(chunks.len() * CHUNK + last.len());
    for chunk in chunks {
        all.extend(chunk);
    }
    all.extend(last);
    all
}
