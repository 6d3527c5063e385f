//! Stop sequences beyond Gemini's limit of five, enforced by Pollux on the answer text.
//!
//! OpenAI cuts the output just before the first occurrence of any stop sequence and does not
//! include it. Streamed text may split a stop sequence across two chunks, so the scanner holds
//! back the longest tail that could still be the start of one and never emits text that a
//! later chunk turns out to end.

/// Scans one choice's text for stop sequences, chunk by chunk.
#[derive(Debug, Clone, Default)]
pub struct StopScanner {
    stops: Vec<String>,
    held: String,
    stopped: bool,
}

impl StopScanner {
    pub fn new(stops: Vec<String>) -> StopScanner {
        StopScanner {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            held: String::new(),
            stopped: false,
        }
    }

    /// True when there is nothing to enforce.
    pub fn is_inactive(&self) -> bool {
        self.stops.is_empty()
    }

    /// True once a stop sequence was found: everything after it is discarded.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Feeds the next piece of text; returns the part that is safe to emit now.
    pub fn push(&mut self, text: &str) -> String {
        if self.stopped {
            return String::new();
        }
        if self.stops.is_empty() {
            return text.to_owned();
        }
        self.held.push_str(text);
        let first = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()))
            .min();
        if let Some(at) = first {
            self.stopped = true;
            let mut out = std::mem::take(&mut self.held);
            out.truncate(at);
            return out;
        }
        let keep = self
            .stops
            .iter()
            .map(|stop| partial_suffix(&self.held, stop))
            .max()
            .unwrap_or(0);
        let emit_to = self.held.len() - keep;
        let rest = self.held.split_off(emit_to);
        std::mem::replace(&mut self.held, rest)
    }

    /// End of text: whatever was held back could not become a stop sequence.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Applies the stop sequences to a whole text at once. Returns the cut text and whether a
    /// stop sequence was found.
    pub fn cut(stops: &[String], text: &str) -> (String, bool) {
        let mut scanner = StopScanner::new(stops.to_vec());
        let mut out = scanner.push(text);
        out.push_str(&scanner.flush());
        (out, scanner.stopped)
    }
}

/// Length in bytes of the longest proper prefix of `stop` that `text` ends with, on a char
/// boundary.
fn partial_suffix(text: &str, stop: &str) -> usize {
    let max = stop.len().saturating_sub(1).min(text.len());
    (1..=max)
        .rev()
        .find(|&k| {
            stop.is_char_boundary(k)
                && text.is_char_boundary(text.len() - k)
                && text.ends_with(&stop[..k])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn cuts_before_the_earliest_stop() {
        assert_eq!(
            StopScanner::cut(&stops(&["END", "x"]), "abc END x"),
            ("abc ".to_owned(), true)
        );
        assert_eq!(
            StopScanner::cut(&stops(&["END"]), "no stop"),
            ("no stop".to_owned(), false)
        );
        assert_eq!(
            StopScanner::cut(&stops(&["ab", "b"]), "xab"),
            ("x".to_owned(), true)
        );
    }

    /// Every way of splitting the text into two chunks (and into single chars) must emit
    /// exactly what cutting the whole text emits, and never text past the stop.
    #[test]
    fn stop_split_at_every_position_across_chunks() {
        let cases = [
            (stops(&["STOP"]), "Hello STOP world"),
            (stops(&["STOP", "TOPS"]), "Hello STO TOPS"),
            (stops(&["ab", "ba"]), "aaab"),
            (stops(&["日本"]), "héllo 日本語"),
            (stops(&["\n\n"]), "line one\nline two\n\nthree"),
            (stops(&["never"]), "nothing to see"),
            (stops(&["aab"]), "aaab"),
        ];
        for (stops, text) in cases {
            let (expected, found) = StopScanner::cut(&stops, text);
            let boundaries: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            for &at in &boundaries {
                let mut s = StopScanner::new(stops.clone());
                let mut out = s.push(&text[..at]);
                out.push_str(&s.push(&text[at..]));
                out.push_str(&s.flush());
                assert_eq!(out, expected, "{text:?} split at {at}");
                assert_eq!(s.stopped(), found);
            }
            let mut s = StopScanner::new(stops.clone());
            let mut out = String::new();
            for c in text.chars() {
                let piece = s.push(&c.to_string());
                assert!(
                    expected.starts_with(&(out.clone() + &piece)),
                    "emitted past the stop in {text:?}"
                );
                out.push_str(&piece);
            }
            out.push_str(&s.flush());
            assert_eq!(out, expected, "{text:?} char by char");
        }
    }

    #[test]
    fn holds_back_only_possible_prefixes() {
        let mut s = StopScanner::new(stops(&["STOP"]));
        assert_eq!(s.push("abc ST"), "abc ");
        assert_eq!(s.push("ART"), "START");
        assert_eq!(s.flush(), "");
    }
}
