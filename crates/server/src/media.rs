//! Fetching the remote images of a chat request, behind an SSRF guard.
//!
//! OpenAI clients may send `{"type": "image_url", "image_url": {"url": "https://..."}}`;
//! Gemini cannot fetch arbitrary URLs, so Pollux downloads each image before translation and
//! hands the bytes to [`pollux_translate::to_gemini`] as a [`MediaSource`], which inlines them
//! as `inlineData`. The list of URLs comes from [`remote_media`] (Gemini-reachable URIs such
//! as the Files API, `gs://` and YouTube are not fetched: they go as `fileData`).
//!
//! This module owns the limits (one timeout per fetch covering every hop and the body, a
//! size cap enforced while the body streams in, a capped number of redirects followed by
//! hand, `image/*` content types only; per request, a cap on the number of images fetched,
//! checked before the first fetch, and on their bytes together, counted while the bodies
//! stream in) and the guard: every hop's host is resolved here and
//! only addresses that pass [`is_forbidden`] (or the allow-list) are ever connected to. IP
//! literals are checked before the request is sent, because actix-tls skips the resolver for
//! them; names go through [`GuardedResolver`], which awc's connector calls for each new
//! connection, so a DNS answer cannot differ between the check and the connect.
//! `docs/media.md` describes the behaviour for users.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_tls::connect::{Resolve, Resolver};
use actix_web::http::header;
use awc::error::{ConnectError, SendRequestError};
use awc::http::Uri;
use awc::{Client, Connector};
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use pollux_translate::chat::{remote_media, RemoteMedia};
use pollux_translate::openai::chat::ChatCompletionRequest;
use pollux_translate::MediaSource;

use crate::config::Config;
use crate::error::ApiError;

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
    pub fn from_config(config: &Config) -> Result<MediaPolicy, String> {
        Ok(MediaPolicy {
            enabled: config.media_fetch,
            timeout: Duration::from_secs(config.media_fetch_timeout_secs),
            max_bytes: config.media_max_bytes,
            max_redirects: config.media_max_redirects,
            max_images: config.max_fetched_images,
            max_total_bytes: config.max_fetched_bytes,
            allow: Arc::new(AllowList::parse(&config.media_allow_hosts)?),
        })
    }
}

/// Hosts and networks that bypass the guard (`--media-allow-hosts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Lowercase host names, without a trailing dot.
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

impl AllowList {
    /// Parses entries that are host names, IP addresses or CIDR networks.
    pub fn parse(entries: &[String]) -> Result<AllowList, String> {
        let mut list = AllowList::default();
        for entry in entries {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            if let Some((addr, prefix)) = entry.split_once('/') {
                let net = IpNet::parse(addr, prefix).ok_or_else(|| {
                    format!("--media-allow-hosts: '{entry}' is not a valid CIDR network")
                })?;
                list.nets.push(net);
            } else if let Some(ip) = parse_ip_host(entry) {
                list.nets.push(IpNet::single(ip));
            } else if entry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            {
                list.hosts
                    .push(entry.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(format!(
                    "--media-allow-hosts: '{entry}' is not a host name, IP address or CIDR network"
                ));
            }
        }
        Ok(list)
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether the guard lets Pollux connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        !is_forbidden(ip) || self.nets.iter().any(|n| n.contains(ip))
    }
}

/// An IP network; v4-mapped IPv6 forms are stored and compared as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    fn single(ip: IpAddr) -> IpNet {
        let ip = ip.to_canonical();
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        IpNet { addr: ip, prefix }
    }

    fn parse(addr: &str, prefix: &str) -> Option<IpNet> {
        let addr = parse_ip_host(addr)?;
        let prefix: u8 = prefix.parse().ok()?;
        match addr {
            IpAddr::V4(_) if prefix <= 32 => Some(IpNet { addr, prefix }),
            IpAddr::V6(v6) if prefix <= 128 => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => Some(IpNet {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                }),
                _ => Some(IpNet { addr, prefix }),
            },
            _ => None,
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IP address written as a URL host or allow-list entry (`[::1]` or `::1`).
fn parse_ip_host(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Addresses a server-side fetch must never reach: loopback, private, link-local (the cloud
/// metadata address 169.254.169.254 among them), unspecified, multicast, broadcast, CGNAT
/// and other special-purpose ranges, in IPv4, IPv6 and IPv4-mapped IPv6 forms.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4_forbidden(v4),
        IpAddr::V6(v6) => v6_forbidden(v6),
    }
}

fn v4_forbidden(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", 0.0.0.0 included
        || ip.is_loopback() // 127/8
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local() // 169.254/16
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || ip.is_multicast() // 224/4
        || a >= 240 // reserved 240/4 and broadcast
}

fn v6_forbidden(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast() // ff00::/8
        || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0 // deprecated site-local fec0::/10
        // Forms that embed an IPv4 address a gateway would reach: IPv4-compatible
        // ::a.b.c.d, NAT64 64:ff9b::/96 and 6to4 2002::/16.
        || (seg[..6] == [0; 6] && v4_forbidden(embedded_v4(seg[6], seg[7])))
        || (seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && v4_forbidden(embedded_v4(seg[6], seg[7])))
        || (seg[0] == 0x2002 && v4_forbidden(embedded_v4(seg[1], seg[2])))
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
}

/// The resolver of the fetch client: resolves with the system resolver, keeps only the
/// addresses the guard permits, and fails when none remain, so the connector only ever
/// connects to checked addresses.
struct GuardedResolver {
    allow: Arc<AllowList>,
}

/// The guard refused every address of a host.
#[derive(Debug, thiserror::Error)]
#[error("'{host}' resolves only to addresses that are not allowed")]
struct Refused {
    host: String,
}

impl Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn StdError>>> {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match parse_ip_host(host) {
                Some(ip) => vec![SocketAddr::new(ip, port)],
                None => tokio::net::lookup_host((host, port)).await?.collect(),
            };
            if self.allow.allows_host(host) {
                return Ok(addrs);
            }
            let kept: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| self.allow.permits(a.ip()))
                .collect();
            if kept.is_empty() {
                return Err(Box::new(Refused {
                    host: host.to_owned(),
                }) as Box<dyn StdError>);
            }
            Ok(kept)
        })
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

    /// Fetches every remote image of the request (at most [`FETCH_CONCURRENCY`] at once).
    /// The first failure ends the others and becomes a 400 naming the part. With fetching
    /// turned off nothing is fetched, and translation refuses the URLs.
    ///
    /// Each image is capped on its own, but a small request can name many images, so the
    /// request as a whole is capped too: more than `max_images` distinct URLs is refused
    /// before anything is fetched, and the fetches share one byte budget, so the sum of
    /// what they download is bounded while it streams in, not only afterwards.
    pub async fn fetch_all(&self, chat: &ChatCompletionRequest) -> Result<Fetched, ApiError> {
        let mut wanted: Vec<RemoteMedia<'_>> = Vec::new();
        if self.policy.enabled {
            for item in remote_media(chat) {
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_internal_addresses_are_forbidden() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.0.0.2",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(is_forbidden(ip(s)), "{s} must be forbidden");
        }
    }

    #[test]
    fn v4_public_addresses_pass() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "142.250.74.46",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.255.255",
            "192.169.0.1",
            "11.0.0.1",
        ] {
            assert!(!is_forbidden(ip(s)), "{s} must be allowed");
        }
    }

    #[test]
    fn v6_internal_addresses_are_forbidden() {
        for s in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff05::2",
            // IPv4-compatible, NAT64 and 6to4 forms of internal IPv4 addresses.
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a00:1::1",
        ] {
            assert!(is_forbidden(ip(s)), "{s} must be forbidden");
        }
    }

    #[test]
    fn v6_public_addresses_pass() {
        for s in [
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_forbidden(ip(s)), "{s} must be allowed");
        }
    }

    #[test]
    fn v4_mapped_v6_is_judged_as_v4() {
        for s in [
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:192.168.0.1",
            "::ffff:100.64.0.1",
            "::ffff:0.0.0.0",
            "::ffff:255.255.255.255",
            "::ffff:7f00:1",
        ] {
            assert!(is_forbidden(ip(s)), "{s} must be forbidden");
        }
        assert!(!is_forbidden(ip("::ffff:8.8.8.8")));
    }

    #[test]
    fn metadata_address_is_forbidden_in_every_form() {
        for s in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "::ffff:a9fe:a9fe",
            "fd00:ec2::254",
        ] {
            assert!(is_forbidden(ip(s)), "{s} must be forbidden");
        }
    }

    #[test]
    fn allow_list_parses_hosts_ips_and_networks() {
        let list = AllowList::parse(&[
            "127.0.0.1".to_owned(),
            " Images.Internal. ".to_owned(),
            "10.1.0.0/16".to_owned(),
            "[::1]".to_owned(),
            "fd00::/8".to_owned(),
            "::ffff:192.168.0.0/112".to_owned(),
            "".to_owned(),
        ])
        .unwrap();
        assert!(list.permits(ip("127.0.0.1")));
        assert!(list.permits(ip("::ffff:127.0.0.1")));
        assert!(!list.permits(ip("127.0.0.2")));
        assert!(list.permits(ip("10.1.200.3")));
        assert!(!list.permits(ip("10.2.0.1")));
        assert!(list.permits(ip("::1")));
        assert!(list.permits(ip("fd12::1")));
        assert!(!list.permits(ip("fc00::1")));
        assert!(list.permits(ip("192.168.44.1")));
        assert!(!list.permits(ip("169.254.169.254")));
        assert!(list.permits(ip("8.8.8.8")));
        assert!(list.allows_host("images.internal"));
        assert!(list.allows_host("IMAGES.internal."));
        assert!(!list.allows_host("other.internal"));
    }

    #[test]
    fn allow_list_rejects_garbage() {
        for bad in ["10.0.0.0/33", "::/129", "x/8", "a b", "http://host/"] {
            assert!(
                AllowList::parse(&[bad.to_owned()]).is_err(),
                "{bad} must be refused"
            );
        }
    }

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
        let policy = MediaPolicy::from_config(&c).unwrap();
        assert!(!policy.enabled);
        assert_eq!(policy.max_redirects, 1);
        assert!(policy.allow.permits(ip("127.0.0.1")));
        for on in ["on", "true", "yes", "1"] {
            let c = Config::try_parse_from(["pollux", "--media-fetch", on]).unwrap();
            assert!(c.media_fetch, "{on}");
        }
        let mut bad = Config::defaults();
        bad.media_allow_hosts = vec!["10.0.0.0/99".to_owned()];
        assert!(MediaPolicy::from_config(&bad).is_err());
    }

    #[test]
    fn ip_hosts_in_brackets_parse() {
        assert_eq!(parse_ip_host("[::1]"), Some(ip("::1")));
        assert_eq!(parse_ip_host("127.0.0.1"), Some(ip("127.0.0.1")));
        assert_eq!(parse_ip_host("localhost"), None);
    }
}
