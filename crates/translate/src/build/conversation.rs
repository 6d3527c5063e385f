//! The Gemini `contents` list both dialects build from their histories: consecutive turns of
//! one role merged (Gemini wants roles to alternate), each step's tool results held back and
//! sent as one user turn in the order of their calls (Gemini pairs responses with calls by
//! position; clients may answer them in any order), and a model-first history given a user
//! turn in front.

use crate::gemini::{Role, Turn, TurnPart};
use crate::TranslateError;

/// The content list under construction.
pub(crate) struct Conversation {
    contents: Vec<Turn>,
    /// Results of the current step with their call's position, until the step ends.
    results: Vec<(usize, TurnPart)>,
}

impl Conversation {
    /// Room for `turns` turns: one per history entry plus a leading user turn, sized once
    /// rather than by doubling.
    pub(crate) fn with_capacity(turns: usize) -> Self {
        Self {
            contents: Vec::with_capacity(turns),
            results: Vec::new(),
        }
    }

    /// Appends parts as a turn of `role`, merged into the last turn if it has the same role.
    pub(crate) fn push(&mut self, role: Role, parts: Vec<TurnPart>) {
        if parts.is_empty() {
            return;
        }
        match self.contents.last_mut() {
            Some(last) if last.role == Some(role) => last.parts.extend(parts),
            _ => self.contents.push(Turn {
                role: Some(role),
                parts,
            }),
        }
    }

    /// The turns so far, for setting a signature on a part already placed.
    pub(crate) fn turns_mut(&mut self) -> &mut [Turn] {
        &mut self.contents
    }

    /// Holds a tool result of the current step; `order` is its call's position in the step.
    pub(crate) fn push_result(&mut self, order: usize, part: TurnPart) {
        self.results.push((order, part));
    }

    /// Ends the current step: its results become one user turn, in the order of their calls.
    pub(crate) fn end_step(&mut self) {
        if self.results.is_empty() {
            return;
        }
        self.results.sort_by_key(|(order, _)| *order);
        // Drained, not turned into an iterator: collecting from `into_iter` would keep the
        // results' allocation (sized for the pairs) under the turn, and keep none for the
        // next step.
        let parts = self.results.drain(..).map(|(_, part)| part).collect();
        self.push(Role::User, parts);
    }

    /// The finished list. Gemini expects a conversation to open with a user turn, so a history
    /// that starts with the model (e.g. a replayed tool call) gets a minimal one in front; an
    /// empty list is the 400 `empty` describes, on `param`.
    pub(crate) fn finish(mut self, empty: &str, param: &str) -> Result<Vec<Turn>, TranslateError> {
        self.end_step();
        if self.contents.first().map(|c| c.role) == Some(Some(Role::Model)) {
            self.contents.insert(
                0,
                Turn {
                    role: Some(Role::User),
                    parts: vec![TurnPart::text("Continue.")],
                },
            );
        }
        if self.contents.is_empty() {
            return Err(TranslateError::invalid(empty, param));
        }
        Ok(self.contents)
    }
}
