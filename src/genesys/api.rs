//! A small client for the Genesys Cloud Platform API: the OAuth client-credentials token and
//! the integration action endpoints (genesys.md §7). Errors carry Genesys' own message, never
//! the client secret or the token.

use std::time::Duration;

use base64::Engine;
use http::Method;
use serde_json::Value;

/// Where the Platform API lives and how to log in to it.
#[derive(Clone)]
pub struct PlatformConfig {
    pub api_base: String,
    pub login_base: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for PlatformConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformConfig")
            .field("api_base", &self.api_base)
            .field("login_base", &self.login_base)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The region domains of the official SDKs (genesys.md §7.4).
const REGIONS: [(&str, &str); 17] = [
    ("us_east_1", "mypurecloud.com"),
    ("us_east_2", "use2.us-gov-pure.cloud"),
    ("us_west_2", "usw2.pure.cloud"),
    ("ca_central_1", "cac1.pure.cloud"),
    ("sa_east_1", "sae1.pure.cloud"),
    ("mx_central_1", "mxc1.pure.cloud"),
    ("eu_west_1", "mypurecloud.ie"),
    ("eu_west_2", "euw2.pure.cloud"),
    ("eu_central_1", "mypurecloud.de"),
    ("eu_central_2", "euc2.pure.cloud"),
    ("me_central_1", "mec1.pure.cloud"),
    ("ap_south_1", "aps1.pure.cloud"),
    ("ap_northeast_1", "mypurecloud.jp"),
    ("ap_northeast_2", "apne2.pure.cloud"),
    ("ap_northeast_3", "apne3.pure.cloud"),
    ("ap_southeast_1", "apse1.pure.cloud"),
    ("ap_southeast_2", "mypurecloud.com.au"),
];

/// A region as a domain (`mypurecloud.ie`) or a name (`eu_west_1`, `eu-west-1`) → its domain.
pub fn region_domain(region: &str) -> Result<String, String> {
    let region = region.trim();
    if region.contains('.') {
        return Ok(region
            .trim_start_matches("api.")
            .trim_start_matches("login.")
            .to_owned());
    }
    let name = region.to_ascii_lowercase().replace('-', "_");
    REGIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| (*d).to_owned())
        .ok_or_else(|| {
            let known: Vec<&str> = REGIONS.iter().map(|(n, _)| *n).collect();
            format!("unknown Genesys Cloud region `{region}`: give a domain such as mypurecloud.ie or one of {}", known.join(", "))
        })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("Genesys Cloud login failed ({status}): {message}")]
    Login { status: u16, message: String },
    #[error("{method} {path} failed ({status}): {message}")]
    Status {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("cannot reach {0}")]
    Unreachable(String),
    #[error("{0} answered something that is not JSON")]
    NotJson(String),
}

/// A logged-in Platform API session.
pub struct Platform {
    client: reqwest::Client,
    api_base: String,
    token: String,
}

impl Platform {
    /// Logs in with client credentials: Basic `client_id:client_secret`,
    /// `grant_type=client_credentials` (genesys.md §7.4).
    pub async fn login(config: &PlatformConfig) -> Result<Self, ApiError> {
        crate::stages::fetch::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|_| ApiError::Unreachable(config.login_base.clone()))?;
        let url = format!("{}/oauth/token", config.login_base.trim_end_matches('/'));
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", config.client_id, config.client_secret));
        let response = client
            .post(&url)
            .header(http::header::AUTHORIZATION, format!("Basic {basic}"))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(|_| ApiError::Unreachable(config.login_base.clone()))?;
        let status = response.status().as_u16();
        let body: Value = read_json(response, &url).await?;
        match body["access_token"].as_str() {
            Some(token) if status == 200 => Ok(Platform {
                client,
                api_base: config.api_base.trim_end_matches('/').to_owned(),
                token: token.to_owned(),
            }),
            _ => Err(ApiError::Login {
                status,
                message: error_message(&body),
            }),
        }
    }

    /// One API call; `path` starts with `/api/v2/`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.api_base);
        let mut request = self
            .client
            .request(method.clone(), &url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(body).unwrap_or_default());
        }
        let response = request
            .send()
            .await
            .map_err(|_| ApiError::Unreachable(self.api_base.clone()))?;
        let status = response.status();
        let body = read_json(response, path).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(ApiError::Status {
                method: method.to_string(),
                path: path.split('?').next().unwrap_or(path).to_owned(),
                status: status.as_u16(),
                message: error_message(&body),
            })
        }
    }

    /// The published action of this name in this integration, with its contract and config.
    pub async fn find_action(
        &self,
        name: &str,
        integration_id: Option<&str>,
    ) -> Result<Option<Value>, ApiError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("name", name)
            .append_pair("pageSize", "100")
            .finish();
        let list = self
            .call(
                Method::GET,
                &format!("/api/v2/integrations/actions?{query}"),
                None,
            )
            .await?;
        let found = list["entities"].as_array().into_iter().flatten().find(|a| {
            a["name"] == name && integration_id.is_none_or(|id| a["integrationId"] == id)
        });
        let Some(id) = found.and_then(|a| a["id"].as_str()) else {
            return Ok(None);
        };
        let path = format!("/api/v2/integrations/actions/{id}?expand=contract&includeConfig=true");
        self.call(Method::GET, &path, None).await.map(Some)
    }
}

async fn read_json(response: reqwest::Response, what: &str) -> Result<Value, ApiError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|_| ApiError::Unreachable(what.to_owned()))?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|_| ApiError::NotJson(what.to_owned()))
}

/// Genesys error bodies say what went wrong in `message` (API) or `error_description` (login).
fn error_message(body: &Value) -> String {
    ["message", "error_description", "error"]
        .iter()
        .find_map(|k| body[*k].as_str())
        .unwrap_or("no message")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_by_domain_or_name() {
        assert_eq!(region_domain("mypurecloud.ie").unwrap(), "mypurecloud.ie");
        assert_eq!(
            region_domain("api.mypurecloud.de").unwrap(),
            "mypurecloud.de"
        );
        assert_eq!(region_domain("eu_west_1").unwrap(), "mypurecloud.ie");
        assert_eq!(
            region_domain("ap-southeast-2").unwrap(),
            "mypurecloud.com.au"
        );
        assert_eq!(region_domain("US_EAST_1").unwrap(), "mypurecloud.com");
        assert!(
            region_domain("euw1")
                .unwrap_err()
                .contains("unknown Genesys Cloud region")
        );
    }
}
