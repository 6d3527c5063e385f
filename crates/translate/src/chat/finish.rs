//! A chat answer's `finish_reason`, for plain answers and streams alike: Gemini's reason as
//! decided by [`build::finish`](crate::build::finish), then the two overrides only Chat
//! Completions has, in the order they apply.

use crate::build::finish::Ending;
use crate::openai::chat::FinishReason;

/// What the choice did besides Gemini's reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    /// The choice returned tool calls (Gemini says `STOP` after calling functions).
    pub tool_calls: bool,
    /// One of the client's stop sequences beyond Gemini's five cut the answer.
    pub stopped: bool,
    /// The client used the legacy `functions` API.
    pub legacy_functions: bool,
}

pub fn finish_reason(ending: Ending, overrides: Overrides) -> FinishReason {
    // Output after a stop sequence never happened, calls included: the answer just stopped.
    if overrides.stopped {
        return FinishReason::Stop;
    }
    match ending {
        Ending::Length => FinishReason::Length,
        Ending::ContentFilter => FinishReason::ContentFilter,
        Ending::Stop if !overrides.tool_calls => FinishReason::Stop,
        Ending::Stop if overrides.legacy_functions => FinishReason::FunctionCall,
        Ending::Stop => FinishReason::ToolCalls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_in_order() {
        let calls = Overrides {
            tool_calls: true,
            ..Overrides::default()
        };
        let legacy = Overrides {
            legacy_functions: true,
            ..calls
        };
        let stopped = Overrides {
            stopped: true,
            ..legacy
        };
        assert_eq!(
            finish_reason(Ending::Stop, Overrides::default()),
            FinishReason::Stop
        );
        assert_eq!(finish_reason(Ending::Stop, calls), FinishReason::ToolCalls);
        assert_eq!(
            finish_reason(Ending::Stop, legacy),
            FinishReason::FunctionCall
        );
        // A cut by the output limit or a filter says so even when calls came first.
        assert_eq!(finish_reason(Ending::Length, legacy), FinishReason::Length);
        assert_eq!(
            finish_reason(Ending::ContentFilter, calls),
            FinishReason::ContentFilter
        );
        for ending in [Ending::Stop, Ending::Length, Ending::ContentFilter] {
            assert_eq!(
                finish_reason(ending, stopped),
                FinishReason::Stop,
                "{ending:?}"
            );
        }
    }
}
