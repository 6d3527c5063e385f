//! Gemini's code-execution tool on the way back
//! (<https://ai.google.dev/gemini-api/docs/code-execution>): the `executableCode` and
//! `codeExecutionResult` parts of an answer, written for a client whose SDK keeps only what
//! its wire knows. Chat Completions has no item for code the server ran, so the code and its
//! output go into the message text as fenced blocks (what a person reading the answer sees)
//! and, structured, into `extra_content.google.code_execution` (what a program reads).

use crate::gemini;
use crate::openai::CodeExecutionStep;

/// The code as a fenced block (`python` unless Gemini named another language).
pub(crate) fn fenced_code(code: &gemini::ExecutableCode) -> String {
    let language = code
        .language
        .as_deref()
        .filter(|l| !l.is_empty() && *l != "LANGUAGE_UNSPECIFIED")
        .unwrap_or("PYTHON")
        .to_ascii_lowercase();
    fence(&language, &code.code)
}

/// The run's output as a fenced `output` block.
pub(crate) fn fenced_output(result: &gemini::CodeExecutionResult) -> String {
    fence("output", result.output.as_deref().unwrap_or(""))
}

fn fence(info: &str, body: &str) -> String {
    let newline = if body.is_empty() || body.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    format!("```{info}\n{body}{newline}```\n")
}

/// Text to put before a block so that it starts on a line of its own.
pub(crate) fn separator(text_so_far_ends_line: bool) -> &'static str {
    if text_so_far_ends_line {
        ""
    } else {
        "\n"
    }
}

pub(crate) fn code_step(code: &gemini::ExecutableCode) -> CodeExecutionStep {
    CodeExecutionStep::ExecutableCode {
        language: code.language.clone().unwrap_or_else(|| "PYTHON".to_owned()),
        code: code.code.clone(),
    }
}

pub(crate) fn result_step(result: &gemini::CodeExecutionResult) -> CodeExecutionStep {
    CodeExecutionStep::CodeExecutionResult {
        outcome: result
            .outcome
            .clone()
            .unwrap_or_else(|| "OUTCOME_OK".to_owned()),
        output: result.output.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_fenced_and_end_their_line() {
        let code = gemini::ExecutableCode {
            language: Some("PYTHON".to_owned()),
            code: "print(1 + 1)".to_owned(),
        };
        assert_eq!(fenced_code(&code), "```python\nprint(1 + 1)\n```\n");
        let result = gemini::CodeExecutionResult {
            outcome: Some("OUTCOME_OK".to_owned()),
            output: Some("2\n".to_owned()),
        };
        assert_eq!(fenced_output(&result), "```output\n2\n```\n");
        assert_eq!(
            fenced_output(&gemini::CodeExecutionResult::default()),
            "```output\n```\n"
        );
        assert_eq!(separator(false), "\n");
    }
}
