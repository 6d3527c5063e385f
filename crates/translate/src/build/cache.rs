//! Explicit context caching (<https://ai.google.dev/gemini-api/docs/caching>): a request that
//! names a `cachedContent` may not also set `systemInstruction`, `tools` or `toolConfig`,
//! which live in the cache. Gemini (and Vertex AI) answer 400 `INVALID_ARGUMENT` "Tool
//! config, tools and system instruction should not be set in the request when using cached
//! content". The client's own copies are left out of the upstream body; the tool names
//! still map the answer's calls back, as the cache holds the same declarations.

use crate::gemini::GenerateContentRequest;

/// Leaves out what the cache named by `body.cached_content` already holds.
pub fn omit_cached_fields(body: &mut GenerateContentRequest) {
    if body.cached_content.is_some() {
        body.system_instruction = None;
        body.tools.clear();
        body.tool_config = None;
    }
}
