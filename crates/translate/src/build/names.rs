//! Function names: the two-way map between the tool names a client sends and the names
//! declared to Gemini.
//!
//! OpenAI accepts `^[a-zA-Z0-9_-]{1,64}$` (and many clients send anything: MCP `server/tool`,
//! leading digits, non-ASCII, names past 64 characters). Gemini's
//! [function declarations](https://ai.google.dev/gemini-api/docs/function-calling) want a
//! name that starts with a letter or `_`, continues with letters, digits, `_ . : -`, and is
//! at most 64 characters long ([`ToolNames::is_valid_gemini_name`]).
//!
//! Valid names pass through untouched. Any other name is rewritten to
//! `{sanitized}_{fnv1a32 of the original, 8 hex digits}`: every character outside the allowed
//! set becomes `_`, a name not starting with a letter or `_` gets a leading `_`, and the
//! sanitized part is cut so the whole fits in 64 characters. The hash is there even when
//! nothing was cut: the rewrite then depends on the client name alone, never on which other
//! names were registered first, so the same tool keeps the same Gemini name from one request to
//! the next and cannot take the spot of a valid name registered later (`a/b` → `a_b_3a8e75c1`,
//! while `a_b` stays `a_b`). Only a name equal to one already handed out (a deliberate
//! collision with a rewritten name) gets a further `_2`, `_3`, ... suffix, in registration order.

use std::collections::HashMap;

/// Gemini's length limit for a function name.
const MAX_LEN: usize = 64;
/// `_` plus eight hex digits.
const HASH_SUFFIX_LEN: usize = 9;

/// Bidirectional map between client tool names and the names sent to Gemini.
#[derive(Debug, Default, Clone)]
pub struct ToolNames {
    /// Client name → Gemini name, for every registered name.
    to_gemini: HashMap<String, String>,
    /// Gemini name → client name, for every registered name.
    to_client: HashMap<String, String>,
    /// The client declared its tools with the legacy `functions` field, so calls go back
    /// as `function_call` (one per answer) rather than `tool_calls`.
    legacy_functions: bool,
}

impl ToolNames {
    /// Marks the request as using the legacy `functions` / `function_call` API.
    pub fn set_legacy_functions(&mut self) {
        self.legacy_functions = true;
    }

    /// True when calls must be answered as a legacy `function_call`.
    pub fn legacy_functions(&self) -> bool {
        self.legacy_functions
    }

    /// Registers a client name, returning the Gemini name: unchanged when already valid,
    /// otherwise rewritten as the module docs describe. Registering a name again returns the
    /// name it got the first time.
    pub fn register(&mut self, client_name: &str) -> String {
        if let Some(gemini) = self.to_gemini.get(client_name) {
            return gemini.clone();
        }
        let gemini = if Self::is_valid_gemini_name(client_name) {
            self.unused(client_name.to_owned())
        } else {
            self.unused(rewrite(client_name))
        };
        self.to_gemini
            .insert(client_name.to_owned(), gemini.clone());
        self.to_client
            .insert(gemini.clone(), client_name.to_owned());
        gemini
    }

    /// The Gemini name for a registered client name.
    pub fn to_gemini(&self, client_name: &str) -> Option<&str> {
        self.to_gemini.get(client_name).map(String::as_str)
    }

    /// The names that were rewritten, as `(client, gemini)` pairs ordered by client name
    /// (for the inspector: what Pollux renamed).
    pub fn renamed(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut pairs: Vec<(&str, &str)> = self
            .to_gemini
            .iter()
            .filter(|(client, gemini)| client != gemini)
            .map(|(client, gemini)| (client.as_str(), gemini.as_str()))
            .collect();
        pairs.sort_unstable();
        pairs.into_iter()
    }

    /// The client's name for a name Gemini used; names never registered (or unchanged) come
    /// back as given.
    pub fn to_client<'a>(&'a self, gemini_name: &'a str) -> &'a str {
        self.to_client
            .get(gemini_name)
            .map_or(gemini_name, String::as_str)
    }

    /// Whether Gemini accepts `name` as a function name: a letter or `_`, then letters,
    /// digits, `_ . : -`, 1 to 64 characters in all.
    pub fn is_valid_gemini_name(name: &str) -> bool {
        let mut bytes = name.bytes();
        let Some(first) = bytes.next() else {
            return false;
        };
        name.len() <= MAX_LEN
            && (first.is_ascii_alphabetic() || first == b'_')
            && bytes.all(is_allowed)
    }

    /// `name` if no registered name maps to it yet, else `name` with the first free `_N`.
    fn unused(&self, name: String) -> String {
        if !self.to_client.contains_key(&name) {
            return name;
        }
        (2u32..)
            .map(|n| {
                let suffix = format!("_{n}");
                let mut base = name.clone();
                base.truncate(MAX_LEN - suffix.len());
                base + &suffix
            })
            .find(|candidate| !self.to_client.contains_key(candidate))
            .unwrap_or(name)
    }
}

fn is_allowed(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b':' | b'-')
}

/// `{sanitized}_{hash}`, valid and at most 64 characters.
fn rewrite(client_name: &str) -> String {
    let mut out = String::with_capacity(MAX_LEN);
    if !client_name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    {
        out.push('_');
    }
    for c in client_name.chars() {
        if out.len() == MAX_LEN - HASH_SUFFIX_LEN {
            break;
        }
        // Only ASCII is pushed, so the byte length is the character count.
        out.push(if c.is_ascii() && is_allowed(c as u8) {
            c
        } else {
            '_'
        });
    }
    out.push_str(&format!("_{:08x}", fnv1a32(client_name.as_bytes())));
    out
}

/// 32-bit FNV-1a: small, stable across releases and platforms, good enough to tell names apart.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn renamed_lists_only_the_rewritten_names_in_order() {
        let mut names = ToolNames::default();
        for n in ["valid_name", "mcp/search", "1st"] {
            names.register(n);
        }
        let renamed: Vec<_> = names.renamed().collect();
        assert_eq!(
            renamed,
            [
                ("1st", names.to_gemini("1st").unwrap()),
                ("mcp/search", names.to_gemini("mcp/search").unwrap()),
            ]
        );
        assert!(renamed.iter().all(|(c, g)| c != g));
    }

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn validity() {
        for ok in ["a", "_", "get_weather", "ns.tool:v1-beta", &"x".repeat(64)] {
            assert!(ToolNames::is_valid_gemini_name(ok), "{ok} should be valid");
        }
        for bad in [
            "",
            "1abc",
            "-a",
            ".a",
            "a/b",
            "a b",
            "café",
            &"x".repeat(65),
        ] {
            assert!(
                !ToolNames::is_valid_gemini_name(bad),
                "{bad} should be invalid"
            );
        }
    }

    #[test]
    fn valid_names_are_untouched() {
        let mut names = ToolNames::default();
        assert_eq!(names.register("get_weather"), "get_weather");
        assert_eq!(names.register("ns.tool:v1-beta"), "ns.tool:v1-beta");
        assert_eq!(names.to_gemini("get_weather"), Some("get_weather"));
        assert_eq!(names.to_client("get_weather"), "get_weather");
        assert_eq!(names.to_gemini("unknown"), None);
        assert_eq!(names.to_client("never_registered"), "never_registered");
    }

    #[test]
    fn each_rewrite_rule() {
        let mut names = ToolNames::default();
        let hash = |s: &str| format!("{:08x}", fnv1a32(s.as_bytes()));
        assert_eq!(
            names.register("server/tool"),
            format!("server_tool_{}", hash("server/tool"))
        );
        assert_eq!(
            names.register("1st-tool"),
            format!("_1st-tool_{}", hash("1st-tool"))
        );
        assert_eq!(names.register("-x"), format!("_-x_{}", hash("-x")));
        assert_eq!(
            names.register("café au lait"),
            format!("caf__au_lait_{}", hash("café au lait"))
        );
        assert_eq!(names.register(""), format!("__{}", hash("")));
        let long = "a".repeat(100);
        let out = names.register(&long);
        assert_eq!(out, format!("{}_{}", "a".repeat(55), hash(&long)));
        assert_eq!(out.len(), 64);
        let long_digit = format!("9{}", "b".repeat(80));
        let out = names.register(&long_digit);
        assert_eq!(out, format!("_9{}_{}", "b".repeat(53), hash(&long_digit)));
        for client in [
            "server/tool",
            "1st-tool",
            "-x",
            "café au lait",
            "",
            &long,
            &long_digit,
        ] {
            let gemini = names.to_gemini(client).unwrap();
            assert!(ToolNames::is_valid_gemini_name(gemini), "{gemini}");
        }
    }

    #[test]
    fn long_names_sharing_a_prefix_stay_apart() {
        let mut names = ToolNames::default();
        let a = format!("{}_alpha", "p".repeat(70));
        let b = format!("{}_beta", "p".repeat(70));
        let (ga, gb) = (names.register(&a), names.register(&b));
        assert_ne!(ga, gb);
        assert_eq!(names.to_client(&ga), a);
        assert_eq!(names.to_client(&gb), b);
    }

    #[test]
    fn collisions_are_resolved_in_either_order() {
        let mut first = ToolNames::default();
        let slash_1 = first.register("a/b");
        let plain_1 = first.register("a_b");
        let mut second = ToolNames::default();
        let plain_2 = second.register("a_b");
        let slash_2 = second.register("a/b");
        assert_eq!(plain_1, "a_b");
        assert_eq!(plain_2, "a_b");
        assert_ne!(slash_1, plain_1);
        assert_eq!(
            slash_1, slash_2,
            "a rewrite does not depend on registration order"
        );
        assert_eq!(first.to_client(&slash_1), "a/b");
        assert_eq!(first.to_client("a_b"), "a_b");
    }

    #[test]
    fn a_valid_name_equal_to_a_rewrite_gets_a_counter() {
        let mut names = ToolNames::default();
        let rewritten = names.register("a/b");
        assert_eq!(names.register(&rewritten), format!("{rewritten}_2"));
        assert_eq!(names.to_client(&rewritten), "a/b");
        assert_eq!(names.to_client(&format!("{rewritten}_2")), rewritten);
        // a 64-character clash still fits
        let long = "z".repeat(90);
        let taken = names.register(&long);
        let again = names.register(&taken);
        assert_eq!(again.len(), 64);
        assert!(again.ends_with("_2") && ToolNames::is_valid_gemini_name(&again));
    }

    #[test]
    fn deterministic_and_idempotent() {
        let input = [
            "mcp/files/read".to_owned(),
            "get_weather".into(),
            "2fa".into(),
            "x".repeat(70),
        ];
        let run = || {
            let mut names = ToolNames::default();
            input.iter().map(|n| names.register(n)).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
        let mut names = ToolNames::default();
        let once = names.register("mcp/files/read");
        assert_eq!(names.register("mcp/files/read"), once);
        assert_eq!(names.to_client(&once), "mcp/files/read");
    }

    #[test]
    fn round_trip() {
        let mut names = ToolNames::default();
        for client in ["get_weather", "a/b", "a_b", "1x", "über", &"q".repeat(65)] {
            let gemini = names.register(client);
            assert!(ToolNames::is_valid_gemini_name(&gemini), "{gemini}");
            assert_eq!(names.to_gemini(client), Some(gemini.as_str()));
            assert_eq!(names.to_client(&gemini), client);
        }
    }
}
