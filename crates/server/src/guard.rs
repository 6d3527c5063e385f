//! Browser and network safety, as one actix middleware ([`Guard`]) around the whole app, so
//! every route, present and future, gets it without asking. It runs before routing and before
//! any body is read, and refuses in OpenAI's error shape:
//!
//! - **Host** (421 `host_not_allowed`): a web page can point a DNS name it controls at
//!   127.0.0.1 ("DNS rebinding") and then read Pollux's answers as same-origin. Refusing a
//!   `Host` that is not the listen address, `localhost` (or `*.localhost`), a loopback
//!   literal or a name of `--allowed-hosts` stops that (on `0.0.0.0` or `[::]`, any IP
//!   literal is the listen address: rebinding needs a name). Ports are not compared (a port
//!   forward changes them; the attacker's name is what gives it away). On a non-loopback
//!   listen address the check applies only when `--allowed-hosts` is set: teams reach such a
//!   Pollux by names the server cannot know (load balancers, DNS aliases), and client keys,
//!   which the start-up checks (`keys::check_exposure`) insist on there, already stand between it and a web page.
//! - **Origin** (403 `origin_not_allowed`): browsers send "simple" cross-site requests (a
//!   `text/plain` POST) without asking first, so CORS alone does not stop a page from making
//!   Pollux spend its key. A request carrying an `Origin` that `--cors-origins` does not allow
//!   and that is not the request's own origin (`http(s)://` + its `Host`) is refused.
//!   Preflights of allowed origins never get here: actix-cors, wrapped outside, answers them.
//! - **Content type** (415 `unsupported_media_type`): a body must be declared JSON
//!   (`application/json`, or `application/*+json`; parameters such as `charset` are fine),
//!   which no browser sends cross-site without a preflight. `multipart/form-data` is taken
//!   only by routes that take files, declared by naming their resource with [`takes_files`].
//!   A request with neither a body nor a content type passes (a bare `curl -X POST` probe
//!   gets the route's own answer); a POST, PUT or PATCH declaring another type is refused even
//!   when empty.

use std::future::{ready, Future, Ready};
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN};
use actix_web::http::Method;
use actix_web::Error;

use crate::config::Config;
use crate::error::ApiError;

/// The prefix of resource names that mark a route as taking `multipart/form-data`.
const FILES_PREFIX: &str = "takes-files:";

/// A resource name declaring that its route takes files (`multipart/form-data`) besides
/// JSON: `web::resource("/v1/files").name(&guard::takes_files("files"))`.
pub fn takes_files(name: &str) -> String {
    format!("{FILES_PREFIX}{name}")
}

/// The `Host` names a request may use besides the listen address, `localhost` and loopback
/// literals (`--allowed-hosts`).
#[derive(Debug, Clone, Default)]
pub struct HostRule {
    any: bool,
    /// Exact names, lowercase, without a trailing dot.
    names: Vec<String>,
    /// `*.example.com` entries as `.example.com`.
    suffixes: Vec<String>,
}

impl HostRule {
    /// Reads `--allowed-hosts`: host names or IP literals without scheme, port or path,
    /// `*.example.com` for every subdomain, `*` for any host.
    pub fn parse(entries: &[String]) -> Result<HostRule, String> {
        let mut rule = HostRule::default();
        for entry in entries {
            let written = entry.trim().to_ascii_lowercase();
            let name = written.strip_suffix('.').unwrap_or(&written);
            let bare = name.trim_start_matches('[').trim_end_matches(']');
            if written == "*" {
                rule.any = true;
            } else if let Some(suffix) = name.strip_prefix("*.").filter(|s| valid_name(s)) {
                rule.suffixes.push(format!(".{suffix}"));
            } else if valid_name(name) || bare.parse::<IpAddr>().is_ok() {
                rule.names.push(bare.to_owned());
            } else {
                return Err(format!(
                    "allowed_hosts: '{entry}' is not a host name or IP address (no scheme, port or path; *.example.com or * for wildcards)"
                ));
            }
        }
        Ok(rule)
    }

    fn allows(&self, name: &str) -> bool {
        self.any
            || self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
            || self
                .suffixes
                .iter()
                .any(|s| name.len() > s.len() && ends_with_ignore_case(name, s))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

fn ends_with_ignore_case(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len()
        && text.as_bytes()[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// What the guard checks, built once from the config and shared by every worker.
#[derive(Debug)]
pub struct Rules {
    /// `None`: the `Host` check is off (non-loopback listen address, no `--allowed-hosts`).
    hosts: Option<HostRule>,
    listen: IpAddr,
    any_origin: bool,
    origins: Vec<String>,
}

impl Rules {
    /// `hosts` is `--allowed-hosts` as [`crate::settings::Settings`] parsed it.
    pub fn from_config(config: &Config, hosts: HostRule) -> Rules {
        let enforce = config.listen.ip().is_loopback() || !config.allowed_hosts.is_empty();
        let hosts = enforce.then_some(hosts);
        Rules {
            hosts,
            listen: config.listen.ip(),
            any_origin: config.cors_origins.iter().any(|o| o == "*"),
            origins: config.cors_origins.clone(),
        }
    }

    /// Whether a request may name `host` (a `Host` header value, port included or not).
    pub fn host_allowed(&self, host: &str) -> bool {
        let Some(rule) = &self.hosts else {
            return true;
        };
        let name = host_name(host);
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.eq_ignore_ascii_case("localhost") || ends_with_ignore_case(name, ".localhost") {
            return true;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            // On 0.0.0.0 or [::] the machine's own addresses are not known here (a probe
            // may use the pod's IP); an IP literal cannot be rebound, so any is fine there.
            if ip.to_canonical().is_loopback() || ip == self.listen || self.listen.is_unspecified()
            {
                return true;
            }
        }
        rule.allows(name)
    }

    /// Whether a request from a page at `origin` may be served; `host` is the request's own
    /// `Host`, for same-origin requests.
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        if self.any_origin || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
            return true;
        }
        let own = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        matches!((own, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
    }
}

/// Whether `host` (a `Host` value) is `listen`'s own address or a loopback name
/// (`localhost`, `*.localhost`, a loopback literal), whatever `--allowed-hosts` says: the
/// stricter rule of pages that show prompts (the inspector). On `0.0.0.0` or `[::]` any IP
/// literal is the listen address (an IP literal cannot be rebound).
pub fn own_host(host: &str, listen: IpAddr) -> bool {
    let name = host_name(host);
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.eq_ignore_ascii_case("localhost") || ends_with_ignore_case(name, ".localhost") {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.to_canonical().is_loopback() || ip == listen || listen.is_unspecified(),
        Err(_) => false,
    }
}

/// The host part of a `Host` value: `[::1]:8080` → `::1`, `example.com:80` → `example.com`.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// How a body's declared content type is taken.
#[derive(Debug, PartialEq, Eq)]
enum Declared {
    Json,
    Multipart,
    Other,
}

fn declared(content_type: &str) -> Declared {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let json = essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > "application/+json".len()
            && essence
                .get(.."application/".len())
                .is_some_and(|t| t.eq_ignore_ascii_case("application/"))
            && ends_with_ignore_case(essence, "+json"));
    if json {
        Declared::Json
    } else if essence.eq_ignore_ascii_case("multipart/form-data") {
        Declared::Multipart
    } else {
        Declared::Other
    }
}

/// The three checks on one request, in order: Host, Origin, content type.
fn check(rules: &Rules, req: &ServiceRequest) -> Result<(), ApiError> {
    let headers = req.headers();
    let host = match headers.get(HOST) {
        Some(value) => Some(value.to_str().map_err(|_| host_refused("(not text)"))?),
        None => req.uri().authority().map(|a| a.as_str()),
    };
    // No Host at all (HTTP/1.0): not a browser, which always sends one.
    if let Some(host) = host {
        if !rules.host_allowed(host) {
            return Err(host_refused(host));
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        if !rules.origin_allowed(origin, host) {
            return Err(ApiError::OriginNotAllowed(format!(
                "Requests from the web page origin '{}' are not allowed; list it in --cors-origins (POLLUX_CORS_ORIGINS) to allow it.",
                shown(origin)
            )));
        }
    }
    let empty = headers.get(CONTENT_LENGTH).is_some_and(|v| v == "0");
    let has_body = !empty && !matches!(req.parts().1, Payload::None);
    let writes = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    let content_type = headers.get(CONTENT_TYPE);
    let needs_check = has_body || (writes && content_type.is_some());
    if !needs_check {
        return Ok(());
    }
    let kind = content_type
        .and_then(|v| v.to_str().ok())
        .map_or(Declared::Other, declared);
    match kind {
        Declared::Json => Ok(()),
        Declared::Multipart
            if req
                .match_name()
                .is_some_and(|n| n.starts_with(FILES_PREFIX)) =>
        {
            Ok(())
        }
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "This route takes a JSON body: send it with 'Content-Type: application/json' (got {}).",
            content_type
                .map(|v| format!("'{}'", shown(v.to_str().unwrap_or("(not text)"))))
                .unwrap_or_else(|| "none".to_owned())
        ))),
    }
}

fn host_refused(host: &str) -> ApiError {
    ApiError::HostNotAllowed(format!(
        "This server does not answer for the host '{}'; add the name to --allowed-hosts (POLLUX_ALLOWED_HOSTS) if it is one of its names.",
        shown(host)
    ))
}

/// A client-sent value as quoted back in an error: cut short.
fn shown(value: &str) -> String {
    value.chars().take(100).collect()
}

/// The middleware; register it with `App::wrap`, inside CORS and [`crate::observe::Observe`]
/// (so that refusals are logged and allowed origins can read them).
#[derive(Clone)]
pub struct Guard {
    rules: Arc<Rules>,
}

impl Guard {
    pub fn new(rules: Arc<Rules>) -> Guard {
        Guard { rules }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Guard
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService {
            service: Rc::new(service),
            rules: self.rules.clone(),
        }))
    }
}

pub struct GuardService<S> {
    service: Rc<S>,
    rules: Arc<Rules>,
}

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if let Err(refused) = check(&self.rules, &req) {
            log::debug!("guard refused {} {}: {refused}", req.method(), req.path());
            let response = req.error_response(refused).map_into_right_body();
            return Box::pin(ready(Ok(response)));
        }
        let service = self.service.clone();
        Box::pin(async move { Ok(service.call(req).await?.map_into_left_body()) })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::test as web_test;
    use actix_web::{web, App, HttpResponse};

    fn rules(listen: &str, allowed: &[&str], origins: &[&str]) -> Rules {
        let mut c = Config::defaults();
        c.listen = listen.parse().unwrap();
        c.allowed_hosts = allowed.iter().map(|s| s.to_string()).collect();
        c.cors_origins = origins.iter().map(|s| s.to_string()).collect();
        Rules::from_config(&c, HostRule::parse(&c.allowed_hosts).unwrap())
    }

    #[test]
    fn hosts_on_loopback() {
        let r = rules(
            "127.0.0.1:8080",
            &["pollux.internal", "*.corp.example"],
            &[],
        );
        for ok in [
            "localhost",
            "LOCALHOST:9999",
            "localhost.",
            "app.localhost:8080",
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]:8080",
            "[::ffff:127.0.0.1]",
            "pollux.internal:443",
            "a.corp.example",
        ] {
            assert!(r.host_allowed(ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "corp.example",
            "10.0.0.1",
            "[::2]",
            "",
            "127.0.0.1.evil.example",
        ] {
            assert!(!r.host_allowed(refused), "{refused}");
        }
        assert!(rules("127.0.0.1:8080", &["*"], &[]).host_allowed("anything"));
    }

    #[test]
    fn hosts_beyond_loopback_only_when_configured() {
        assert!(rules("0.0.0.0:8080", &[], &[]).host_allowed("any.name"));
        let r = rules("10.1.2.3:8080", &["pollux.team"], &[]);
        assert!(r.host_allowed("10.1.2.3:8080"));
        assert!(r.host_allowed("pollux.team"));
        assert!(r.host_allowed("localhost"));
        assert!(!r.host_allowed("other.team"));
        assert!(!r.host_allowed("10.9.9.9"));
        let any_address = rules("0.0.0.0:8080", &["pollux.team"], &[]);
        assert!(any_address.host_allowed("10.9.9.9:8080"));
        assert!(any_address.host_allowed("[fd00::1]:8080"));
        assert!(!any_address.host_allowed("other.team"));
    }

    #[test]
    fn allowed_hosts_entries_are_checked() {
        assert!(HostRule::parse(&["a.b".into(), "[::1]".into(), "10.0.0.1".into()]).is_ok());
        for bad in ["http://a.b", "a.b:80", "a/b", "", "*.", "a b"] {
            assert!(HostRule::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins() {
        let r = rules("127.0.0.1:8080", &[], &["https://app.example.com"]);
        assert!(r.origin_allowed("https://app.example.com", Some("localhost:8080")));
        assert!(r.origin_allowed("http://localhost:8080", Some("localhost:8080")));
        assert!(!r.origin_allowed("http://localhost:3000", Some("localhost:8080")));
        assert!(!r.origin_allowed("https://evil.example", Some("localhost:8080")));
        assert!(!r.origin_allowed("null", Some("localhost:8080")));
        assert!(!r.origin_allowed("http://localhost:8080", None));
        assert!(rules("127.0.0.1:8080", &[], &["*"]).origin_allowed("null", None));
    }

    #[test]
    fn content_types() {
        assert_eq!(declared("application/json"), Declared::Json);
        assert_eq!(declared("Application/JSON; charset=utf-8"), Declared::Json);
        assert_eq!(declared("application/merge-patch+json"), Declared::Json);
        assert_eq!(declared("application/+json"), Declared::Other);
        assert_eq!(declared("text/plain"), Declared::Other);
        assert_eq!(declared("text/plain; x=application/json"), Declared::Other);
        assert_eq!(declared("text/x+json"), Declared::Other);
        assert_eq!(
            declared("application/x-www-form-urlencoded"),
            Declared::Other
        );
        assert_eq!(
            declared("multipart/form-data; boundary=x"),
            Declared::Multipart
        );
    }

    #[actix_rt::test]
    async fn multipart_only_where_a_route_takes_files() {
        let app = web_test::init_service(
            App::new()
                .wrap(Guard::new(Arc::new(rules("127.0.0.1:0", &[], &[]))))
                .service(
                    web::resource("/upload")
                        .name(&takes_files("upload"))
                        .route(web::post().to(HttpResponse::Ok)),
                )
                .route("/json", web::post().to(HttpResponse::Ok)),
        )
        .await;
        let post = |path: &str, content_type: &str| {
            web_test::TestRequest::post()
                .uri(path)
                .insert_header(("host", "localhost"))
                .insert_header(("content-type", content_type))
                .set_payload("--x--")
                .to_request()
        };
        let form = "multipart/form-data; boundary=x";
        let status = |r: ServiceResponse<_>| r.status().as_u16();
        assert_eq!(
            status(web_test::call_service(&app, post("/upload", form)).await),
            200
        );
        assert_eq!(
            status(web_test::call_service(&app, post("/json", form)).await),
            415
        );
        let json = "application/json";
        assert_eq!(
            status(web_test::call_service(&app, post("/upload", json)).await),
            200
        );
        let text = "text/plain";
        assert_eq!(
            status(web_test::call_service(&app, post("/upload", text)).await),
            415
        );
        // No body and no content type: the route answers.
        let bare = web_test::TestRequest::post()
            .uri("/json")
            .insert_header(("host", "localhost"))
            .insert_header(("content-length", "0"))
            .to_request();
        assert_eq!(status(web_test::call_service(&app, bare).await), 200);
    }
}
