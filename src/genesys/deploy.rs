//! `genesys deploy`: bring the integration's actions in line with the bridges.
//!
//! - no action of that name: create a draft and publish it;
//! - same config and contract: touch nothing;
//! - changed config: a draft from the action, patched and published, each call carrying the
//!   version Genesys last returned (optimistic concurrency);
//! - changed contract: Genesys cannot edit a published contract. Refused, unless `--replace`:
//!   then the old action is renamed aside (flows that call it keep working) and a new one is
//!   created under the bridge's name; its new id must be put into the flows.

use http::Method;
use serde_json::{Value, json};

use crate::bridge::Bridge;
use crate::genesys::api::{ApiError, Platform};
use crate::genesys::export;

#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub base_url: String,
    pub integration_id: String,
    pub category: String,
    pub dry_run: bool,
    pub replace: bool,
}

/// What deploying one bridge came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created {
        id: String,
    },
    Unchanged {
        id: String,
    },
    Updated {
        id: String,
    },
    /// Refused: the contract changed and `--replace` was not given.
    ContractChanged {
        id: String,
    },
    Replaced {
        old: String,
        new: String,
    },
    /// `--dry-run`: the calls that would have been made.
    Planned(Vec<String>),
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::ContractChanged { .. })
    }

    pub fn describe(&self, name: &str) -> String {
        match self {
            Outcome::Created { id } => format!("{name}: created and published action {id}"),
            Outcome::Unchanged { id } => format!("{name}: unchanged (action {id})"),
            Outcome::Updated { id } => {
                format!("{name}: config updated and published (action {id})")
            }
            Outcome::ContractChanged { id } => format!(
                "{name}: the input or output contract changed, and Genesys cannot edit the contract of a published action ({id}). Re-run with --replace to create a new action; flows must then be repointed to it"
            ),
            Outcome::Replaced { old, new } => format!(
                "{name}: contract changed; created and published action {new}. Flows that call {old} must be repointed to {new} (the old action was renamed and still works until then)"
            ),
            Outcome::Planned(calls) => {
                let mut text = format!("{name}: dry run, would call:");
                for call in calls {
                    text.push_str("\n  ");
                    text.push_str(call);
                }
                text
            }
        }
    }
}

const ACTIONS: &str = "/api/v2/integrations/actions";

/// Deploys one bridge. Reads (token, lookups) happen even in a dry run; writes do not.
pub async fn deploy(
    platform: &Platform,
    bridge: &Bridge,
    options: &DeployOptions,
) -> Result<Outcome, ApiError> {
    let config = export::config(bridge, &options.base_url);
    let contract = export::contract(bridge);
    let existing = platform
        .find_action(&bridge.name, Some(&options.integration_id))
        .await?;
    let mut calls = Calls::new(platform, options.dry_run);
    let Some(action) = existing else {
        let id = create(&mut calls, bridge, options, &config, &contract).await?;
        return Ok(calls.finish(Outcome::Created { id }));
    };
    let id = action["id"].as_str().unwrap_or_default().to_owned();
    let same_contract =
        same(&action["contract"], &contract, CONTRACT_KEYS) && action["secure"] != true;
    let same_config = same(&action["config"], &config, CONFIG_KEYS);
    let outcome = match (same_contract, same_config) {
        (true, true) => Outcome::Unchanged { id },
        (true, false) => {
            let draft = calls
                .send(Method::POST, &format!("{ACTIONS}/{id}/draft"), None)
                .await?;
            let body = json!({ "config": config, "version": draft["version"] });
            let patched = calls
                .send(Method::PATCH, &format!("{ACTIONS}/{id}/draft"), Some(body))
                .await?;
            publish(&mut calls, &id, &patched).await?;
            Outcome::Updated { id }
        }
        (false, _) if !options.replace => Outcome::ContractChanged { id },
        (false, _) => {
            let aside = format!(
                "{} (replaced {})",
                bridge.name,
                humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            );
            let rename = json!({ "name": aside, "version": action["version"] });
            calls
                .send(Method::PATCH, &format!("{ACTIONS}/{id}"), Some(rename))
                .await?;
            let new = create(&mut calls, bridge, options, &config, &contract).await?;
            Outcome::Replaced { old: id, new }
        }
    };
    Ok(calls.finish(outcome))
}

async fn create(
    calls: &mut Calls<'_>,
    bridge: &Bridge,
    options: &DeployOptions,
    config: &Value,
    contract: &Value,
) -> Result<String, ApiError> {
    let body = json!({
        "category": options.category,
        "name": bridge.name,
        "integrationId": options.integration_id,
        "config": config,
        "contract": contract,
        "secure": false,
    });
    let draft = calls
        .send(Method::POST, &format!("{ACTIONS}/drafts"), Some(body))
        .await?;
    let id = draft["id"].as_str().unwrap_or("<new id>").to_owned();
    publish(calls, &id, &draft).await?;
    Ok(id)
}

/// Publishes the action's draft, naming the version Genesys gave the draft.
async fn publish(calls: &mut Calls<'_>, id: &str, draft: &Value) -> Result<(), ApiError> {
    let body = json!({ "version": draft["version"] });
    calls
        .send(
            Method::POST,
            &format!("{ACTIONS}/{id}/draft/publish"),
            Some(body),
        )
        .await
        .map(drop)
}

/// The keys this tool sets; anything else Genesys adds is not a difference.
const CONTRACT_KEYS: &[&str] = &["input.inputSchema", "output.successSchema"];
const CONFIG_KEYS: &[&str] = &[
    "request.requestUrlTemplate",
    "request.requestType",
    "request.headers",
    "request.requestTemplate",
    "response.translationMap",
    "response.translationMapDefaults",
    "response.successTemplate",
    "timeoutSeconds",
];

fn same(theirs: &Value, ours: &Value, keys: &[&str]) -> bool {
    let at = |v: &Value, key: &str| key.split('.').fold(v.clone(), |v, k| v[k].clone());
    keys.iter().all(|k| at(theirs, k) == at(ours, k))
}

/// Sends the writes, or in a dry run writes them down instead.
struct Calls<'a> {
    platform: &'a Platform,
    dry_run: bool,
    planned: Vec<String>,
}

impl<'a> Calls<'a> {
    fn new(platform: &'a Platform, dry_run: bool) -> Self {
        Calls {
            platform,
            dry_run,
            planned: Vec::new(),
        }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        if self.dry_run {
            let summary = body.as_ref().map(summarise).unwrap_or_default();
            self.planned.push(format!("{method} {path}{summary}"));
            return Ok(Value::Null);
        }
        self.platform.call(method, path, body.as_ref()).await
    }

    fn finish(self, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::Unchanged { .. } | Outcome::ContractChanged { .. } => outcome,
            _ if self.dry_run => Outcome::Planned(self.planned),
            _ => outcome,
        }
    }
}

/// The top-level keys of a request body, for a dry run's listing (the body itself holds no secret,
/// but the listing stays short).
fn summarise(body: &Value) -> String {
    let keys: Vec<&str> = body
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    format!(" {{{}}}", keys.join(", "))
}
