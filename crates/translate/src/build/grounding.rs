//! Grounding as citations: which span of the answer text each source supports, in the
//! character offsets OpenAI's annotations use. Sources are web pages (Google Search,
//! <https://ai.google.dev/gemini-api/docs/google-search>, and URL context), places (Google
//! Maps) and documents of a File Search store
//! (<https://ai.google.dev/gemini-api/docs/file-search>). Each dialect writes them in its own
//! shape.

use crate::gemini;

/// One source supporting `start..end` (characters) of the answer text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    pub start: usize,
    pub end: usize,
    pub url: String,
    pub title: String,
    pub source: Source,
}

/// What kind of thing a citation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A web page or a place: `url` is its address.
    Web,
    /// A document of a File Search store: `url` is its name or URI, `title` its display name.
    Document,
}

/// A document File Search retrieved, with the passage it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retrieved {
    pub uri: String,
    pub title: String,
    pub text: String,
}

/// The documents of `grounding`'s File Search chunks, in Gemini's order.
pub fn retrieved(grounding: &gemini::GroundingMetadata) -> Vec<Retrieved> {
    grounding
        .grounding_chunks
        .iter()
        .filter_map(|c| c.retrieved_context.as_ref())
        .map(|r| Retrieved {
            uri: r.uri.clone(),
            title: r.title.clone(),
            text: r.text.clone(),
        })
        .collect()
}

/// Pages the URL-context tool read successfully that no grounding support already cites,
/// each as a citation of the whole answer `text` (Gemini says which pages it read, not which
/// sentence each one backs).
pub fn fetched_pages(
    metadata: &gemini::UrlContextMetadata,
    text: &str,
    cited: &[Citation],
) -> Vec<Citation> {
    let end = text.chars().count();
    let mut out: Vec<Citation> = Vec::new();
    for page in &metadata.url_metadata {
        let url = &page.retrieved_url;
        let read = page.url_retrieval_status == "URL_RETRIEVAL_STATUS_SUCCESS";
        let known = cited.iter().chain(out.iter()).any(|c| &c.url == url);
        if read && !url.is_empty() && !known {
            out.push(Citation {
                start: 0,
                end,
                url: url.clone(),
                title: url.clone(),
                source: Source::Web,
            });
        }
    }
    out
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
            let Some(chunk) = grounding.grounding_chunks.get(chunk) else {
                continue;
            };
            let (url, title, source) = if let Some(web) = chunk.web.as_ref().or(chunk.maps.as_ref())
            {
                (&web.uri, &web.title, Source::Web)
            } else if let Some(doc) = &chunk.retrieved_context {
                (&doc.uri, &doc.title, Source::Document)
            } else {
                continue;
            };
            out.push(Citation {
                start,
                end,
                url: url.clone(),
                title: title.clone(),
                source,
            });
        }
    }
    out
}
