//! One simulated org's live state: its metadata and rows (`OrgData`, behind one mutex
//! that is never held across an await), its tokens, fault state, call counters, daily
//! API allocation and Bulk jobs.

use crate::salesforce::id;
use crate::sim::auth::TokenStore;
use crate::sim::bulk::BulkJob;
use crate::sim::config::OrgConfig;
use crate::sim::faults::{FaultPlan, FaultState};
use crate::sim::schema::{DuplicateRule, FieldDef, OrgSchema};
use crate::sim::store::Table;
use chrono::{DateTime, Duration as ChronoDuration, SubsecRound, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// Why a schema change was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SchemaChangeError {
    /// No such SObject.
    #[error("SObject {0} does not exist")]
    UnknownSObject(String),
    /// No such field.
    #[error("field {field} does not exist on {sobject}")]
    UnknownField {
        /// SObject.
        sobject: String,
        /// Field.
        field: String,
    },
}

/// Changes to a field's describe flags (admin API); absent members stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FieldPatch {
    /// New `createable`.
    pub createable: Option<bool>,
    /// New `updateable`.
    pub updateable: Option<bool>,
    /// New `nillable`.
    pub nillable: Option<bool>,
    /// New `length`.
    pub length: Option<u32>,
    /// New `unique`.
    pub unique: Option<bool>,
    /// New `externalId`.
    pub external_id: Option<bool>,
    /// New `restrictedPicklist`.
    pub restricted_picklist: Option<bool>,
    /// New picklist values.
    pub picklist_values: Option<Vec<String>>,
}

/// The daily API allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// Units spent.
    pub used: u64,
    /// Daily maximum.
    pub max: u64,
}

impl Allocation {
    /// Spends one unit, or answers `None` when the allocation is spent.
    pub fn spend(&mut self) -> Option<Allocation> {
        if self.used >= self.max {
            return None;
        }
        self.used += 1;
        Some(*self)
    }

    /// The `Sforce-Limit-Info` header value.
    pub fn header(&self) -> String {
        format!("api-usage={}/{}", self.used, self.max)
    }
}

/// Metadata and rows of an org.
#[derive(Debug)]
pub struct OrgData {
    /// SObjects and duplicate rules.
    pub schema: OrgSchema,
    /// Rows per SObject, keyed by canonical SObject name.
    pub tables: HashMap<String, Table>,
    /// Whether writes are recorded in row history.
    pub history: bool,
    /// When the metadata last changed (whole seconds), for `If-Modified-Since`.
    pub schema_modified: DateTime<Utc>,
    /// Id of the integration user (owner and author of every write).
    pub user_id: String,
    pub(crate) next_id: u64,
    pub(crate) write_seq: u64,
}

impl OrgData {
    /// Empty tables for every SObject of `schema`.
    pub fn new(schema: OrgSchema, user_id: String, history: bool) -> OrgData {
        let mut data = OrgData {
            schema,
            tables: HashMap::new(),
            history,
            schema_modified: Utc::now().trunc_subsecs(0),
            user_id,
            next_id: 0x3_0000,
            write_seq: 0,
        };
        data.rebuild_tables();
        data
    }

    fn rebuild_tables(&mut self) {
        for s in &self.schema.sobjects {
            let rules: Vec<&DuplicateRule> = self.schema.rules_for(&s.name).collect();
            match self.tables.get_mut(&s.name) {
                Some(t) => t.reindex(s, &rules),
                None => {
                    self.tables.insert(s.name.clone(), Table::new(s, &rules));
                }
            }
        }
    }

    /// Drops every row.
    pub fn clear_rows(&mut self) {
        for t in self.tables.values_mut() {
            t.clear();
        }
    }

    /// A fresh 18-character Id with the given key prefix.
    pub fn mint_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        let body = format!("{prefix}5e0{}", id::base62(self.next_id, 9));
        id::to_18(&body).unwrap_or(body)
    }

    /// The next write sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.write_seq += 1;
        self.write_seq
    }

    fn touch_schema(&mut self) {
        // Strictly later than before, so a client holding the old Last-Modified sees a change
        // even when two changes fall in the same second.
        let now = Utc::now().trunc_subsecs(0);
        self.schema_modified = if now > self.schema_modified {
            now
        } else {
            self.schema_modified + ChronoDuration::seconds(1)
        };
        self.rebuild_tables();
    }

    /// Adds (or replaces) a field.
    pub fn add_field(&mut self, sobject: &str, field: FieldDef) -> Result<(), SchemaChangeError> {
        let s = self
            .schema
            .sobject_mut(sobject)
            .ok_or_else(|| SchemaChangeError::UnknownSObject(sobject.to_string()))?;
        s.add_field(field);
        self.touch_schema();
        Ok(())
    }

    /// Changes a field's flags.
    pub fn patch_field(
        &mut self,
        sobject: &str,
        field: &str,
        patch: &FieldPatch,
    ) -> Result<(), SchemaChangeError> {
        let s = self
            .schema
            .sobject_mut(sobject)
            .ok_or_else(|| SchemaChangeError::UnknownSObject(sobject.to_string()))?;
        let f = s
            .field_mut(field)
            .ok_or_else(|| SchemaChangeError::UnknownField {
                sobject: sobject.to_string(),
                field: field.to_string(),
            })?;
        if let Some(v) = patch.createable {
            f.createable = v;
        }
        if let Some(v) = patch.updateable {
            f.updateable = v;
        }
        if let Some(v) = patch.nillable {
            f.nillable = v;
        }
        if let Some(v) = patch.length {
            f.length = v;
        }
        if let Some(v) = patch.unique {
            f.unique = v;
        }
        if let Some(v) = patch.external_id {
            f.external_id = v;
            f.id_lookup = f.id_lookup || v;
        }
        if let Some(v) = patch.restricted_picklist {
            f.restricted_picklist = v;
        }
        if let Some(v) = &patch.picklist_values {
            f.picklist_values = v.clone();
        }
        self.touch_schema();
        Ok(())
    }

    /// Adds a duplicate rule.
    pub fn add_duplicate_rule(&mut self, rule: DuplicateRule) -> Result<(), SchemaChangeError> {
        let s = self
            .schema
            .sobject(&rule.sobject)
            .ok_or_else(|| SchemaChangeError::UnknownSObject(rule.sobject.clone()))?;
        for f in &rule.fields {
            if s.field(f).is_none() {
                return Err(SchemaChangeError::UnknownField {
                    sobject: rule.sobject.clone(),
                    field: f.clone(),
                });
            }
        }
        self.schema.duplicate_rules.retain(|r| r.name != rule.name);
        self.schema.duplicate_rules.push(rule);
        self.touch_schema();
        Ok(())
    }
}

/// One org being served.
#[derive(Debug)]
pub struct Org {
    /// Configuration it was started with (credentials, TTLs).
    pub config: OrgConfig,
    /// `http://host:port` of its listener.
    pub base_url: String,
    /// 18-character organization Id.
    pub org_id: String,
    /// 18-character Id of the integration user.
    pub user_id: String,
    /// Metadata and rows.
    pub data: Mutex<OrgData>,
    /// Fault plan and its RNG.
    pub faults: Mutex<FaultState>,
    /// Issued access tokens.
    pub tokens: Mutex<TokenStore>,
    /// Calls per endpoint key (`collections.upsert`, `oauth.token`, ...).
    pub counters: Mutex<BTreeMap<String, u64>>,
    /// Daily API allocation.
    pub allocation: Mutex<Allocation>,
    /// Bulk API 2.0 ingest jobs.
    pub jobs: Mutex<HashMap<String, BulkJob>>,
    /// Cancelled at shutdown: ends stalls and Bulk workers.
    pub cancel: CancellationToken,
}

/// A stable pseudo-random number from a name, so an org's Ids are the same every run.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Org {
    /// Builds an org's state; `base_url` is known once its listener is bound.
    pub fn new(config: OrgConfig, base_url: String, cancel: CancellationToken) -> Org {
        let h = name_hash(&config.name);
        let org15 = format!("00D5e{}", id::base62(h % 62u64.pow(10), 10));
        let user15 = format!("0055e{}", id::base62((h / 7) % 62u64.pow(10), 10));
        let org_id = id::to_18(&org15).unwrap_or(org15);
        let user_id = id::to_18(&user15).unwrap_or(user15);
        let data = OrgData::new(config.schema.clone(), user_id.clone(), config.history);
        let faults = FaultState::new(config.faults.clone());
        let allocation = Allocation {
            used: config.daily_api_used,
            max: config.daily_api_max,
        };
        Org {
            base_url,
            org_id,
            user_id,
            data: Mutex::new(data),
            faults: Mutex::new(faults),
            tokens: Mutex::new(TokenStore::default()),
            counters: Mutex::new(BTreeMap::new()),
            allocation: Mutex::new(allocation),
            jobs: Mutex::new(HashMap::new()),
            cancel,
            config,
        }
    }

    /// Counts one call of an endpoint.
    pub fn count_call(&self, key: &str) {
        let mut c = self.counters.lock();
        match c.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                c.insert(key.to_string(), 1);
            }
        }
    }

    /// Installs a new fault plan.
    pub fn set_faults(&self, plan: FaultPlan) {
        *self.faults.lock() = FaultState::new(plan);
    }

    /// Back to the start: no rows, no jobs, zeroed counters and allocation, the configured
    /// fault plan. Tokens and schema stay.
    pub fn reset(&self) {
        self.data.lock().clear_rows();
        self.jobs.lock().clear();
        self.counters.lock().clear();
        self.allocation.lock().used = 0;
        self.set_faults(self.config.faults.clone());
    }
}
