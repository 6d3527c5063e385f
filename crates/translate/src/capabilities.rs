//! What each Gemini model family accepts. Decisions that depend on the model (signatures,
//! thinking controls, candidate counts) ask here instead of matching names in place.

/// The model generations whose request rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Gemini 3.x: thought signatures are validated, `thinkingLevel`, no `candidateCount > 1`.
    Gemini3,
    /// Gemini 2.5: `thinkingBudget`.
    Gemini25,
    /// Everything else (older or unknown models): no thinking controls.
    Other,
}

impl Family {
    /// Classifies a model id (without the `models/` prefix).
    pub fn of(model: &str) -> Family {
        let id = model.rsplit('/').next().unwrap_or(model);
        if id.starts_with("gemini-3") {
            Family::Gemini3
        } else if id.starts_with("gemini-2.5") {
            Family::Gemini25
        } else {
            Family::Other
        }
    }

    /// Gemini 3 answers 400 when the first function call of a step lacks its signature.
    pub fn requires_thought_signatures(self) -> bool {
        self == Family::Gemini3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_by_name() {
        assert_eq!(Family::of("gemini-3-pro-preview"), Family::Gemini3);
        assert_eq!(Family::of("models/gemini-3-flash"), Family::Gemini3);
        assert_eq!(Family::of("gemini-2.5-flash"), Family::Gemini25);
        assert_eq!(Family::of("gemini-2.0-flash"), Family::Other);
        assert!(Family::Gemini3.requires_thought_signatures());
        assert!(!Family::Gemini25.requires_thought_signatures());
    }
}
