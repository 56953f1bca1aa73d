//! Configuration of the simulator: which orgs to serve, where, with which credentials,
//! schema, limits and fault plan. Org files are TOML under `config/sim/`; the default org
//! file is embedded so `salesforce-sim` works with no flags.

use crate::config::secret::Secret;
use crate::sim::faults::FaultPlan;
use crate::sim::schema::OrgSchema;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use thiserror::Error;

/// The embedded default org file.
pub const DEFAULT_ORG_TOML: &str = include_str!("../../config/sim/default-org.toml");

/// The default listen address of the first org.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8484";

/// Default password of every simulated org's integration user.
pub const DEFAULT_PASSWORD: &str = "sim-password";
/// Default security token appended to the password.
pub const DEFAULT_SECURITY_TOKEN: &str = "SIMTOKEN";
/// Default OAuth consumer key.
pub const DEFAULT_CONSUMER_KEY: &str = "sim-consumer-key";
/// Default OAuth consumer secret.
pub const DEFAULT_CONSUMER_SECRET: &str = "sim-consumer-secret";

/// Why a simulator configuration cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The org file is not valid TOML for an org.
    #[error("org file {path}: {source}")]
    OrgFile {
        /// Which file.
        path: String,
        /// The parse error.
        source: toml::de::Error,
    },
    /// The org file could not be read.
    #[error("cannot read org file {path}: {source}")]
    Read {
        /// Which file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Two orgs share a name.
    #[error("org name {0} is used twice; each org needs its own name")]
    DuplicateOrg(String),
    /// A duplicate rule names an unknown SObject or field.
    #[error("duplicate rule {rule}: {problem}")]
    Rule {
        /// Rule name.
        rule: String,
        /// What is wrong.
        problem: String,
    },
}

/// The optional top-level settings of an org file, beside its schema.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct OrgFile {
    /// Login name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// Security token appended to the password.
    pub security_token: Option<Secret>,
    /// OAuth consumer key.
    pub consumer_key: Option<String>,
    /// OAuth consumer secret.
    pub consumer_secret: Option<Secret>,
    /// PEM of the public key that checks JWT bearer assertions.
    pub jwt_public_key_pem: Option<String>,
    /// Daily API allocation.
    pub daily_api_max: Option<u64>,
    /// Lifetime of an access token.
    pub token_ttl_secs: Option<u64>,
    /// Time a Bulk job takes to complete.
    pub bulk_delay_ms: Option<u64>,
    /// Record write history.
    pub history: Option<bool>,
    /// Fault plan.
    pub faults: Option<FaultPlan>,
    /// SObjects.
    #[serde(default)]
    pub sobjects: Vec<crate::sim::schema::SObjectDef>,
    /// Duplicate rules.
    #[serde(default)]
    pub duplicate_rules: Vec<crate::sim::schema::DuplicateRule>,
}

/// Everything about one simulated org.
#[derive(Debug, Clone)]
pub struct OrgConfig {
    /// Short name (`a`, `b`); also the admin API's and `SimHandle::base_url`'s key.
    pub name: String,
    /// Where this org's listener binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Login name of the integration user.
    pub username: String,
    /// Its password.
    pub password: Secret,
    /// Its security token (appended to the password in the password flow).
    pub security_token: Secret,
    /// OAuth consumer key (client id).
    pub consumer_key: String,
    /// OAuth consumer secret.
    pub consumer_secret: Secret,
    /// PEM public key checking JWT bearer assertions; `None` refuses that flow.
    pub jwt_public_key_pem: Option<String>,
    /// Lifetime of access tokens.
    pub token_ttl_secs: u64,
    /// Daily API allocation (the `max` of `Sforce-Limit-Info`).
    pub daily_api_max: u64,
    /// API units already spent when the org starts.
    pub daily_api_used: u64,
    /// How long a Bulk API 2.0 job stays `InProgress`.
    pub bulk_delay_ms: u64,
    /// Whether every write is recorded in the row's history.
    pub history: bool,
    /// Faults injected from the start.
    pub faults: FaultPlan,
    /// SObjects and duplicate rules.
    pub schema: OrgSchema,
}

impl OrgConfig {
    /// The default org schema and credentials for an org named `name` (username
    /// `integration@org-<name>.example`), listening on `listen`.
    pub fn named(name: &str, listen: SocketAddr) -> OrgConfig {
        let mut org = OrgConfig {
            name: name.to_string(),
            listen,
            username: format!("integration@org-{name}.example"),
            password: Secret::new(DEFAULT_PASSWORD),
            security_token: Secret::new(DEFAULT_SECURITY_TOKEN),
            consumer_key: DEFAULT_CONSUMER_KEY.to_string(),
            consumer_secret: Secret::new(DEFAULT_CONSUMER_SECRET),
            jwt_public_key_pem: None,
            token_ttl_secs: 7200,
            daily_api_max: 100_000,
            daily_api_used: 0,
            bulk_delay_ms: 200,
            history: false,
            faults: FaultPlan::default(),
            schema: OrgSchema::default(),
        };
        // The embedded file is part of the build and parsed by a unit test.
        if let Ok(file) = toml::from_str::<OrgFile>(DEFAULT_ORG_TOML) {
            org.apply_file(file);
        }
        org
    }

    /// Replaces this org's schema and settings with what an org file declares.
    pub fn apply_file(&mut self, file: OrgFile) {
        if let Some(v) = file.username {
            self.username = v;
        }
        if let Some(v) = file.password {
            self.password = v;
        }
        if let Some(v) = file.security_token {
            self.security_token = v;
        }
        if let Some(v) = file.consumer_key {
            self.consumer_key = v;
        }
        if let Some(v) = file.consumer_secret {
            self.consumer_secret = v;
        }
        if file.jwt_public_key_pem.is_some() {
            self.jwt_public_key_pem = file.jwt_public_key_pem;
        }
        if let Some(v) = file.daily_api_max {
            self.daily_api_max = v;
        }
        if let Some(v) = file.token_ttl_secs {
            self.token_ttl_secs = v;
        }
        if let Some(v) = file.bulk_delay_ms {
            self.bulk_delay_ms = v;
        }
        if let Some(v) = file.history {
            self.history = v;
        }
        if let Some(v) = file.faults {
            self.faults = v;
        }
        let mut schema = OrgSchema {
            sobjects: file.sobjects,
            duplicate_rules: file.duplicate_rules,
        };
        schema.resolve();
        self.schema = schema;
    }

    /// Loads an org file from disk onto this org.
    pub fn load_file(&mut self, path: &std::path::Path) -> Result<(), ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let file: OrgFile = toml::from_str(&text).map_err(|source| ConfigError::OrgFile {
            path: shown,
            source,
        })?;
        self.apply_file(file);
        Ok(())
    }

    /// Checks cross-references inside the org (duplicate rules name real fields).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for rule in &self.schema.duplicate_rules {
            let sobject = self
                .schema
                .sobject(&rule.sobject)
                .ok_or_else(|| ConfigError::Rule {
                    rule: rule.name.clone(),
                    problem: format!("SObject {} does not exist", rule.sobject),
                })?;
            for f in &rule.fields {
                if sobject.field(f).is_none() {
                    return Err(ConfigError::Rule {
                        rule: rule.name.clone(),
                        problem: format!("field {f} does not exist on {}", rule.sobject),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The whole simulator: one or more orgs, and an optional snapshot file.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The orgs to serve, each on its own listener.
    pub orgs: Vec<OrgConfig>,
    /// Rows are loaded from this file at start (if it exists) and written at shutdown.
    pub snapshot: Option<PathBuf>,
}

impl SimConfig {
    /// One org named `b` (username `integration@org-b.example`) on 127.0.0.1:8484.
    pub fn default_org() -> SimConfig {
        let listen = DEFAULT_LISTEN
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8484)));
        SimConfig::single(OrgConfig::named("b", listen))
    }

    /// One org.
    pub fn single(org: OrgConfig) -> SimConfig {
        SimConfig {
            orgs: vec![org],
            snapshot: None,
        }
    }

    /// Several default orgs, each with its name and listen address.
    pub fn several(orgs: &[(&str, SocketAddr)]) -> SimConfig {
        SimConfig {
            orgs: orgs.iter().map(|(n, a)| OrgConfig::named(n, *a)).collect(),
            snapshot: None,
        }
    }

    /// Checks the whole configuration before anything binds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for org in &self.orgs {
            if !seen.insert(org.name.clone()) {
                return Err(ConfigError::DuplicateOrg(org.name.clone()));
            }
            org.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_org_has_lead_account_contact_opportunity_task() {
        let file: OrgFile = toml::from_str(DEFAULT_ORG_TOML).unwrap();
        assert_eq!(file.sobjects.len(), 5);
        let org = OrgConfig::named("b", "127.0.0.1:0".parse().unwrap());
        for name in ["Lead", "Account", "Contact", "Opportunity", "Task"] {
            let s = org.schema.sobject(name).unwrap();
            assert!(s.field("CustomId__c").unwrap().external_id);
        }
        assert_eq!(org.username, "integration@org-b.example");
        org.validate().unwrap();
    }

    #[test]
    fn an_org_file_replaces_schema_credentials_and_faults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.toml");
        let text = r#"
username = "ops@custom.example"
daily_api_max = 500

[faults]
server_unavailable_rate = 0.25
scripts = [{ endpoint = "collections", nth = 2, fault = "stall" }]

[[sobjects]]
name = "Invoice__c"
key_prefix = "a01"
fields = [
  { name = "Id", type = "id" },
  { name = "Number__c", type = "string", length = 20, required = true, external_id = true, unique = true },
]
"#;
        std::fs::write(&path, text).unwrap();
        let mut org = OrgConfig::named("x", "127.0.0.1:0".parse().unwrap());
        org.load_file(&path).unwrap();
        assert_eq!(org.username, "ops@custom.example");
        assert_eq!(org.daily_api_max, 500);
        assert_eq!(org.faults.server_unavailable_rate, 0.25);
        assert_eq!(org.faults.scripts.len(), 1);
        let invoice = org.schema.sobject("invoice__c").unwrap();
        assert!(invoice.field("Number__c").unwrap().required_on_insert());
        assert!(org.schema.sobject("Lead").is_none());
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "sobjects = 3").unwrap();
        assert!(matches!(
            org.load_file(&bad),
            Err(ConfigError::OrgFile { .. })
        ));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let org = OrgConfig::named("a", "127.0.0.1:0".parse().unwrap());
        let shown = format!("{org:?}");
        assert!(!shown.contains("sim-password"));
        assert!(!shown.contains("SIMTOKEN"));
        assert!(!shown.contains("sim-consumer-secret"));
    }
}
