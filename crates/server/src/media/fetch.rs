//! Fetching the remote images of a chat request ([`MediaFetcher`]): the limits (one timeout
//! per fetch covering every hop and the body, a size cap enforced while the body streams in,
//! a capped number of redirects followed by hand, `image/*` content types only; per request,
//! a cap on the number of images fetched, checked before the first fetch, and on their bytes
//! together, counted while the bodies stream in). Every connection goes through
//! [`super::guard`]: IP literals are checked before the request is sent, because actix-tls
//! skips the resolver for them; names go through its resolver.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_tls::connect::Resolver;
use actix_web::http::header;
use awc::error::{ConnectError, SendRequestError};
use awc::http::Uri;
use awc::{Client, Connector};
use base64::Engine;
use futures_util::{StreamExt, TryStreamExt};
use pollux_translate::chat::RemoteMedia;
use pollux_translate::MediaSource;

use crate::config::Config;
use crate::error::ApiError;

use super::guard::{parse_ip_host, AllowList, GuardedResolver, Refused};

/// Images of one request fetched at once; the rest wait for a free slot.
const FETCH_CONCURRENCY: usize = 4;

/// The fetch settings, parsed once and shared by every worker.
#[derive(Debug, Clone)]
pub struct MediaPolicy {
    pub enabled: bool,
    /// For one image, every hop and the body included.
    pub timeout: Duration,
    pub max_bytes: usize,
    pub max_redirects: usize,
    /// Distinct URLs fetched for one request (`--max-fetched-images`).
    pub max_images: usize,
    /// Bytes fetched for one request, all images together (`--max-fetched-bytes`).
    pub max_total_bytes: usize,
    pub allow: Arc<AllowList>,
}

impl MediaPolicy {
    /// `allow` is `--media-allow-hosts` as [`crate::settings::Settings`] parsed it.
    pub fn from_config(config: &Config, allow: Arc<AllowList>) -> MediaPolicy {
        MediaPolicy {
            enabled: config.media_fetch,
            timeout: Duration::from_secs(config.media_fetch_timeout_secs),
            max_bytes: config.media_max_bytes,
            max_redirects: config.media_max_redirects,
            max_images: config.max_fetched_images,
            max_total_bytes: config.max_fetched_bytes,
            allow,
        }
    }
}

/// Why one image could not be fetched.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("the URL is not a valid http(s) URL")]
    BadUrl,
    #[error("only http and https URLs can be fetched")]
    Scheme,
    #[error("the address {0} is not allowed (loopback, private, link-local, metadata and other internal addresses are refused)")]
    ForbiddenIp(IpAddr),
    #[error(
        "{0} (loopback, private, link-local, metadata and other internal addresses are refused)"
    )]
    ForbiddenHost(Refused),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("a redirect came without a usable Location header")]
    BadRedirect,
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("the server sent content type '{0}', not an image (image/*)")]
    NotImage(String),
    #[error("the image is larger than the {0}-byte limit")]
    TooLarge(usize),
    #[error("the images of this request are larger than the {0}-byte limit for all of them together (--max-fetched-bytes)")]
    TotalTooLarge(usize),
    #[error("the connection failed while reading the image: {0}")]
    Body(String),
    #[error("no complete answer within {0} seconds")]
    Timeout(u64),
}

/// One worker's image fetcher: an awc client whose connector resolves through the guard.
pub struct MediaFetcher {
    policy: MediaPolicy,
    client: Client,
}

impl MediaFetcher {
    pub fn new(policy: MediaPolicy) -> MediaFetcher {
        let tcp = actix_tls::connect::Connector::new(Resolver::custom(GuardedResolver {
            allow: policy.allow.clone(),
        }))
        .service();
        let connector = Connector::new()
            .connector(tcp)
            .timeout(policy.timeout)
            .limit(64);
        let client = Client::builder()
            .connector(connector)
            .timeout(policy.timeout)
            .disable_redirects()
            .add_default_header((header::ACCEPT, "image/*"))
            .add_default_header((
                header::USER_AGENT,
                concat!("pollux/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        MediaFetcher { policy, client }
    }

    /// Fetches every remote image of a request (its dialect's `remote_media` lists them) (at most `FETCH_CONCURRENCY` at once).
    /// The first failure ends the others and becomes a 400 naming the part. With fetching
    /// turned off nothing is fetched, and translation refuses the URLs.
    ///
    /// Each image is capped on its own, but a small request can name many images, so the
    /// request as a whole is capped too: more than `max_images` distinct URLs is refused
    /// before anything is fetched, and the fetches share one byte budget, so the sum of
    /// what they download is bounded while it streams in, not only afterwards.
    pub async fn fetch_all(&self, remote: Vec<RemoteMedia<'_>>) -> Result<Fetched, ApiError> {
        let mut wanted: Vec<RemoteMedia<'_>> = Vec::new();
        if self.policy.enabled {
            for item in remote {
                if wanted.iter().any(|w| w.url == item.url) {
                    continue;
                }
                if wanted.len() == self.policy.max_images {
                    return Err(too_many_images(&item, self.policy.max_images));
                }
                wanted.push(item);
            }
        }
        let budget = AtomicUsize::new(0);
        let budget = &budget;
        let by_url = futures_util::stream::iter(wanted)
            .map(|item| async move {
                match self.fetch(item.url, budget).await {
                    Ok(image) => Ok((item.url.to_owned(), image)),
                    Err(e) => Err(fetch_failed(&item, &e)),
                }
            })
            .buffer_unordered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(Fetched { by_url })
    }

    /// One image under the per-fetch timeout; `budget` counts the bytes of every image of
    /// the request.
    async fn fetch(&self, url: &str, budget: &AtomicUsize) -> Result<Image, FetchError> {
        let secs = self.policy.timeout.as_secs();
        let started = std::time::Instant::now();
        let image = actix_web::rt::time::timeout(self.policy.timeout, self.fetch_hops(url, budget))
            .await
            .map_err(|_| FetchError::Timeout(secs))??;
        log::debug!(
            "fetched a {} image of {} bytes (base64) in {} ms",
            image.mime,
            image.data.len(),
            started.elapsed().as_millis()
        );
        Ok(image)
    }

    /// Follows redirects by hand so that every hop's address goes through the guard.
    async fn fetch_hops(&self, url: &str, budget: &AtomicUsize) -> Result<Image, FetchError> {
        let mut target: Uri = url.parse().map_err(|_| FetchError::BadUrl)?;
        let mut redirects = 0;
        loop {
            self.check_target(&target)?;
            let response = self
                .client
                .get(target.clone())
                .send()
                .await
                .map_err(|e| send_error(e, self.policy.timeout))?;
            let status = response.status();
            if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                if redirects == self.policy.max_redirects {
                    return Err(FetchError::TooManyRedirects(redirects));
                }
                redirects += 1;
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or(FetchError::BadRedirect)?;
                target = join(&target, location).ok_or(FetchError::BadRedirect)?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            return self.read_image(response, budget).await;
        }
    }

    /// Scheme and IP-literal checks before a hop is sent; host names are checked when the
    /// connector resolves them.
    fn check_target(&self, target: &Uri) -> Result<(), FetchError> {
        if !matches!(target.scheme_str(), Some("http" | "https")) {
            return Err(FetchError::Scheme);
        }
        let host = target.host().ok_or(FetchError::BadUrl)?;
        if let Some(ip) = parse_ip_host(host) {
            if !self.policy.allow.permits(ip) {
                return Err(FetchError::ForbiddenIp(ip));
            }
        }
        Ok(())
    }

    /// Checks the content type and reads the body, never holding more than the cap, and
    /// adds every chunk to the request's `budget`.
    async fn read_image<S>(
        &self,
        mut response: awc::ClientResponse<S>,
        budget: &AtomicUsize,
    ) -> Result<Image, FetchError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    {
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let is_image = mime
            .strip_prefix("image/")
            .is_some_and(|sub| !sub.is_empty() && !sub.contains(|c: char| c.is_whitespace()));
        if !is_image {
            let shown = if content_type.is_empty() {
                "none"
            } else {
                content_type
            };
            return Err(FetchError::NotImage(shown.chars().take(100).collect()));
        }
        let max = self.policy.max_bytes;
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(FetchError::TooLarge(max));
        }
        let total = self.policy.max_total_bytes;
        // What the other images already took never shrinks, so a declared length over what
        // is left cannot fit: refuse it without reading.
        let left = total.saturating_sub(budget.load(Ordering::Relaxed));
        if declared.is_some_and(|n| n > left as u64) {
            return Err(FetchError::TotalTooLarge(total));
        }
        let capacity = declared.map_or(64 * 1024, |n| n as usize).min(max);
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = response.next().await {
            let chunk = chunk.map_err(|e| FetchError::Body(e.to_string()))?;
            if body.len() + chunk.len() > max {
                return Err(FetchError::TooLarge(max));
            }
            let taken = budget.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len();
            if taken > total {
                return Err(FetchError::TotalTooLarge(total));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Image {
            mime,
            data: base64::engine::general_purpose::STANDARD.encode(&body),
        })
    }
}

fn send_error(err: SendRequestError, timeout: Duration) -> FetchError {
    if let SendRequestError::Connect(ConnectError::Resolver(inner)) = &err {
        if let Some(refused) = inner.downcast_ref::<Refused>() {
            return FetchError::ForbiddenHost(Refused {
                host: refused.host.clone(),
            });
        }
    }
    match err {
        SendRequestError::Url(_) => FetchError::BadUrl,
        SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
            FetchError::Timeout(timeout.as_secs())
        }
        other => FetchError::Connect(other.to_string()),
    }
}

/// The 400 for a failed fetch, naming the part and the host (not the whole URL, whose query
/// may hold a signed token).
fn fetch_failed(item: &RemoteMedia<'_>, err: &FetchError) -> ApiError {
    let host = item
        .url
        .parse::<Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
        .unwrap_or_else(|| "the given URL".to_owned());
    log::info!("image fetch for {} from {host} failed: {err}", item.param);
    let code = match err {
        FetchError::TotalTooLarge(_) => "images_too_large",
        _ => "image_fetch_failed",
    };
    ApiError::InvalidRequest {
        message: format!(
            "{}: could not fetch the image from {host}: {err}.",
            item.param
        ),
        param: Some(item.param.clone()),
        code: Some(code.to_owned()),
    }
}

/// The 400 for a request naming more images to fetch than `--max-fetched-images`, pointing
/// at the first one over the limit.
fn too_many_images(first_over: &RemoteMedia<'_>, limit: usize) -> ApiError {
    ApiError::InvalidRequest {
        message: format!(
            "{}: this request names more than {limit} image URLs for Pollux to fetch, the limit \
             per request (--max-fetched-images); send fewer, or send them inline as data: URLs.",
            first_over.param
        ),
        param: Some(first_over.param.clone()),
        code: Some("too_many_images".to_owned()),
    }
}

/// Resolves a redirect's `Location` against the URL that answered it.
fn join(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    let scheme = base.scheme_str()?;
    let has_scheme = location.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    });
    let absolute = if has_scheme {
        location.to_owned()
    } else if location.starts_with("//") {
        format!("{scheme}:{location}")
    } else {
        let authority = base.authority()?;
        if location.starts_with('/') {
            format!("{scheme}://{authority}{location}")
        } else {
            let path = base.path();
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            let dir = if dir.is_empty() { "/" } else { dir };
            format!("{scheme}://{authority}{dir}{location}")
        }
    };
    absolute.parse().ok()
}

/// One fetched image: its media type and the body in base64.
#[derive(Debug, Clone)]
struct Image {
    mime: String,
    data: String,
}

/// The images fetched for one request, by URL, handed to translation.
#[derive(Debug, Default)]
pub struct Fetched {
    by_url: HashMap<String, Image>,
}

impl MediaSource for Fetched {
    fn fetched(&self, url: &str) -> Option<(&str, &str)> {
        self.by_url
            .get(url)
            .map(|i| (i.mime.as_str(), i.data.as_str()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations_resolve_against_the_base() {
        let base: Uri = "http://a.example:8080/img/cat.png?x=1".parse().unwrap();
        let cases = [
            ("http://b.example/x.png", "http://b.example/x.png"),
            ("https://b.example/x.png", "https://b.example/x.png"),
            ("//c.example/y.png", "http://c.example/y.png"),
            ("/root.png", "http://a.example:8080/root.png"),
            ("dog.png", "http://a.example:8080/img/dog.png"),
            ("gopher://h/", "gopher://h/"),
        ];
        for (location, want) in cases {
            assert_eq!(
                join(&base, location).unwrap().to_string(),
                want,
                "{location}"
            );
        }
    }

    #[test]
    fn flags_parse_and_match_the_defaults() {
        use clap::Parser;
        let parsed = Config::try_parse_from(["pollux"]).unwrap();
        let defaults = Config::defaults();
        assert_eq!(parsed.media_fetch, defaults.media_fetch);
        assert_eq!(
            parsed.media_fetch_timeout_secs,
            defaults.media_fetch_timeout_secs
        );
        assert_eq!(parsed.media_max_bytes, defaults.media_max_bytes);
        assert_eq!(parsed.media_max_redirects, defaults.media_max_redirects);
        assert_eq!(parsed.max_fetched_images, defaults.max_fetched_images);
        assert_eq!(parsed.max_fetched_bytes, defaults.max_fetched_bytes);
        assert_eq!(parsed.media_allow_hosts, defaults.media_allow_hosts);
        assert!(defaults.media_fetch);

        let c = Config::try_parse_from([
            "pollux",
            "--media-fetch",
            "off",
            "--media-allow-hosts",
            "127.0.0.1,images.internal",
            "--media-max-redirects=1",
        ])
        .unwrap();
        assert!(!c.media_fetch);
        assert_eq!(c.media_allow_hosts, ["127.0.0.1", "images.internal"]);
        let allow = Arc::new(AllowList::parse(&c.media_allow_hosts).unwrap());
        let policy = MediaPolicy::from_config(&c, allow);
        assert!(!policy.enabled);
        assert_eq!(policy.max_redirects, 1);
        assert!(policy.allow.permits(IpAddr::from([127, 0, 0, 1])));
        for on in ["on", "true", "yes", "1"] {
            let c = Config::try_parse_from(["pollux", "--media-fetch", on]).unwrap();
            assert!(c.media_fetch, "{on}");
        }
        let mut bad = Config::defaults();
        bad.media_allow_hosts = vec!["10.0.0.0/99".to_owned()];
        assert!(AllowList::parse(&bad.media_allow_hosts).is_err());
    }
}
