//! Where model calls go: the URL shapes of the two upstreams Pollux speaks to.
//!
//! - AI Studio (the Gemini API): `{base}/v1beta/models/{model}:{method}`.
//! - Vertex AI with a project ([docs](https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent)):
//!   `{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}`,
//!   where `{base}` is `https://{location}-aiplatform.googleapis.com`, or
//!   `https://aiplatform.googleapis.com` for the `global` location.
//! - Vertex AI express mode (an API key, no project):
//!   `{base}/v1/publishers/google/models/{model}:{method}` on `https://aiplatform.googleapis.com`.
//!
//! - Model lists: AI Studio's `{base}/v1beta/models`; Vertex AI's Model Garden publisher list
//!   `{base}/v1beta1/publishers/google/models`
//!   ([docs](https://cloud.google.com/vertex-ai/docs/reference/rest/v1beta1/publishers.models/list)),
//!   the same for every project and location.
//!
//! Every base may be overridden (with a path prefix) for gateways and tests.

use pollux_translate::Dialect;

use crate::config::Config;

/// The upstream's base URL and the path of its model resources.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    base: String,
    /// The path from the base to a model id, with its trailing `/`.
    models: String,
    dialect: Dialect,
}

impl Endpoint {
    pub fn from_config(config: &Config) -> Endpoint {
        if !config.is_vertex() {
            return Endpoint {
                base: config.upstream_base().to_owned(),
                models: "/v1beta/models/".to_owned(),
                dialect: Dialect::Gemini,
            };
        }
        let models = match &config.vertex_project {
            Some(project) => format!(
                "/v1/projects/{project}/locations/{}/publishers/google/models/",
                config.vertex_location.trim()
            ),
            None => "/v1/publishers/google/models/".to_owned(),
        };
        Endpoint {
            base: config.vertex_base(),
            models,
            dialect: Dialect::Vertex,
        }
    }

    /// `{base}{models}{model}:{method}`.
    pub fn model_url(&self, model: &str, method: &str) -> String {
        format!("{}{}{model}:{method}", self.base, self.models)
    }

    /// The URL of the upstream's model list (without a query).
    pub fn models_list_url(&self) -> String {
        match self.dialect {
            Dialect::Gemini => format!("{}/v1beta/models", self.base),
            Dialect::Vertex => format!("{}/v1beta1/publishers/google/models", self.base),
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Which wire dialect the upstream speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

/// Checks the Vertex settings that become part of a URL: a project id or location with
/// other characters would change the path.
pub fn check(config: &Config) -> Result<(), String> {
    if !config.is_vertex() {
        return Ok(());
    }
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    };
    if let Some(project) = &config.vertex_project {
        if !plain(project) || project.contains("..") {
            return Err(format!(
                "--vertex-project / GOOGLE_CLOUD_PROJECT must be a project id (letters, digits, '-'), got '{project}'"
            ));
        }
    }
    if !plain(config.vertex_location.trim()) || config.vertex_location.contains("..") {
        return Err(format!(
            "--vertex-location / GOOGLE_CLOUD_LOCATION must be a location such as us-central1 or global, got '{}'",
            config.vertex_location
        ));
    }
    if let Some(base) = &config.vertex_base_url {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "--vertex-base-url / VERTEX_BASE_URL must be an http:// or https:// URL, got '{base}'"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vertex(project: Option<&str>, location: &str) -> Config {
        let mut c = Config::defaults();
        c.upstream = "vertex".to_owned();
        c.vertex_project = project.map(str::to_owned);
        c.vertex_location = location.to_owned();
        c
    }

    #[test]
    fn ai_studio_urls_are_unchanged() {
        let mut c = Config::defaults();
        c.upstream = "https://gw.example/prefix/".to_owned();
        let e = Endpoint::from_config(&c);
        assert_eq!(
            e.model_url("gemini-2.5-flash", "generateContent"),
            "https://gw.example/prefix/v1beta/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(e.dialect(), Dialect::Gemini);
        assert_eq!(
            e.models_list_url(),
            "https://gw.example/prefix/v1beta/models"
        );
    }

    #[test]
    fn vertex_regional_global_and_express_urls() {
        let e = Endpoint::from_config(&vertex(Some("my-proj"), "europe-west4"));
        assert_eq!(
            e.model_url("gemini-2.5-flash", "streamGenerateContent"),
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent"
        );
        assert_eq!(e.dialect(), Dialect::Vertex);
        assert_eq!(
            e.models_list_url(),
            "https://europe-west4-aiplatform.googleapis.com/v1beta1/publishers/google/models"
        );
        let e = Endpoint::from_config(&vertex(Some("my-proj"), "global"));
        assert_eq!(
            e.model_url("gemini-2.5-pro", "countTokens"),
            "https://aiplatform.googleapis.com/v1/projects/my-proj/locations/global/publishers/google/models/gemini-2.5-pro:countTokens"
        );
        let e = Endpoint::from_config(&vertex(None, "us-central1"));
        assert_eq!(
            e.model_url("gemini-2.5-flash", "generateContent"),
            "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        let mut c = vertex(Some("p"), "us-central1");
        c.vertex_base_url = Some("http://127.0.0.1:9/gw/".to_owned());
        assert_eq!(
            Endpoint::from_config(&c).model_url("m", "generateContent"),
            "http://127.0.0.1:9/gw/v1/projects/p/locations/us-central1/publishers/google/models/m:generateContent"
        );
    }

    #[test]
    fn project_and_location_cannot_change_the_path() {
        assert!(check(&vertex(Some("my-proj-1"), "us-central1")).is_ok());
        assert!(check(&vertex(Some("a/b"), "us-central1"))
            .unwrap_err()
            .contains("--vertex-project"));
        assert!(check(&vertex(Some("p"), "us?x"))
            .unwrap_err()
            .contains("--vertex-location"));
        assert!(check(&vertex(Some(".."), "global")).is_err());
    }
}
