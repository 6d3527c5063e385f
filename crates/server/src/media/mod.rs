//! Fetching the remote images of a request (chat or Responses), behind an SSRF guard.
//!
//! OpenAI clients may send `{"type": "image_url", "image_url": {"url": "https://..."}}`;
//! Gemini cannot fetch arbitrary URLs, so Pollux downloads each image before translation and
//! hands the bytes to [`pollux_translate::to_gemini`] as a [`pollux_translate::MediaSource`],
//! which inlines them as `inlineData`. The list of URLs comes from each dialect's
//! `remote_media` ([`pollux_translate::chat::remote_media`],
//! [`pollux_translate::responses::remote_media`]); Gemini-reachable URIs such as the Files
//! API, `gs://` and YouTube are not fetched: they go as `fileData`.
//!
//! This module owns the limits (one timeout per fetch covering every hop and the body, a
//! size cap enforced while the body streams in, a capped number of redirects followed by
//! hand, `image/*` content types only; per request, a cap on the number of images fetched,
//! checked before the first fetch, and on their bytes together, counted while the bodies
//! stream in) and the guard: every hop's host is resolved here and
//! only addresses that pass [`is_forbidden`] (or the allow-list) are ever connected to. IP
//! literals are checked before the request is sent, because actix-tls skips the resolver for
//! them; names go through the guard's resolver, which awc's connector calls for each new
//! connection, so a DNS answer cannot differ between the check and the connect.
//! `docs/media.md` describes the behaviour for users.
//!
//! - [`guard`]: which addresses may be reached, and the resolver that enforces it.
//! - [`fetch`]: the fetcher, its limits and its errors.
//! - [`files`]: Gemini's Files API, for uploads above the inline limit.
//! - [`transcode`]: image types of uploads, and re-encoding for the images routes.

pub mod fetch;
pub mod files;
pub mod guard;
pub mod transcode;

pub use fetch::{Fetched, MediaFetcher, MediaPolicy};
pub use guard::{is_forbidden, AllowList};
