//! Google Search grounding (<https://ai.google.dev/gemini-api/docs/google-search>) as
//! citations: which span of the answer text each web source supports, in the character
//! offsets OpenAI's `url_citation` annotations use. Each dialect writes them in its own shape.

use crate::gemini;

/// One web source supporting `start..end` (characters) of the answer text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    pub start: usize,
    pub end: usize,
    pub url: String,
    pub title: String,
}

/// The citations of `grounding` over `text`. Gemini's segments are byte offsets within one
/// part; `part_starts` says where each answer part's text starts in `text` (by the part's
/// index in the candidate), and a part not listed starts at 0.
pub fn citations(
    grounding: &gemini::GroundingMetadata,
    text: &str,
    part_starts: &[(usize, usize)],
) -> Vec<Citation> {
    let char_index = |byte: usize| {
        let byte = byte.min(text.len());
        text.char_indices().take_while(|(i, _)| *i < byte).count()
    };
    let mut out = Vec::new();
    for support in &grounding.grounding_supports {
        let Some(segment) = &support.segment else {
            continue;
        };
        let base = part_starts
            .iter()
            .find(|(index, _)| *index == segment.part_index)
            .map_or(0, |(_, start)| *start);
        let start = char_index(base + segment.start_index);
        let end = char_index(base + segment.end_index);
        for &chunk in &support.grounding_chunk_indices {
            let Some(web) = grounding
                .grounding_chunks
                .get(chunk)
                .and_then(|c| c.web.as_ref())
            else {
                continue;
            };
            out.push(Citation {
                start,
                end,
                url: web.uri.clone(),
                title: web.title.clone(),
            });
        }
    }
    out
}
