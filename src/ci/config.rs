//! `[drone]`: the Drone server bosun hears from and drives. Secrets come from environment
//! variables the file names.

use crate::config::ConfigError;
use bosun_plugins::ForgeKind;
use secrecy::SecretString;
use serde::Deserialize;

/// `[drone]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DroneConfig {
    /// The Drone server, e.g. `https://drone.example.com`.
    pub url: String,
    /// The forge Drone builds (`github` or `gitlab`).
    pub forge: ForgeKind,
    /// The environment variable holding a Drone API token (to restart and create builds).
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// The environment variable holding `DRONE_WEBHOOK_SECRET`, which signs Drone's webhooks to
    /// bosun's `/hook/drone` (Drone's `DRONE_WEBHOOK_ENDPOINT`).
    #[serde(default = "default_secret_env")]
    pub webhook_secret_env: String,
}

fn default_token_env() -> String {
    "BOSUN_DRONE_TOKEN".into()
}

fn default_secret_env() -> String {
    "BOSUN_DRONE_WEBHOOK_SECRET".into()
}

/// `[drone]` validated.
#[derive(Debug)]
pub struct DroneSettings {
    pub url: String,
    pub forge: ForgeKind,
    pub token: Option<SecretString>,
    /// Unset: every Drone webhook is refused.
    pub webhook_secret: Option<SecretString>,
}

impl DroneConfig {
    /// Checks the URL and reads the secrets; an unset secret is a warning.
    pub fn validate(
        self,
        lookup: &dyn Fn(&str) -> Option<String>,
        errors: &mut Vec<ConfigError>,
        warnings: &mut Vec<ConfigError>,
    ) -> DroneSettings {
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            errors.push(ConfigError {
                key: "drone.url".into(),
                message: "must be an http(s) URL".into(),
            });
        }
        let mut secret = |key: &str, var: &str, missing: &str| {
            let value = lookup(var).filter(|v| !v.is_empty());
            if value.is_none() {
                warnings.push(ConfigError {
                    key: key.into(),
                    message: format!("environment variable {var} is not set; {missing}"),
                });
            }
            value.map(SecretString::from)
        };
        DroneSettings {
            url: self.url.trim_end_matches('/').to_string(),
            forge: self.forge,
            token: secret(
                "drone.token_env",
                &self.token_env,
                "bosun cannot restart or create Drone builds",
            ),
            webhook_secret: secret(
                "drone.webhook_secret_env",
                &self.webhook_secret_env,
                "Drone's webhooks will be refused",
            ),
        }
    }
}
