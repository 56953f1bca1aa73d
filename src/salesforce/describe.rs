//! What the target org says about an SObject (`GET /sobjects/{T}/describe`), cached.
//!
//! The request builder needs each field's type and whether it may be written on
//! insert or update; the startup check needs to know that the SObject and the custom
//! Id field exist. [`DescribeCache`] keeps one [`SObjectSchema`] per SObject and is
//! refreshed by the writer when Salesforce answers `INVALID_FIELD` (the org's schema
//! changed under us).

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;
use reqwest::Method;
use serde::Deserialize;

use super::client::{ApiRequest, SalesforceClient};
use super::wire::{CallError, Endpoint};

/// A field's Salesforce type (describe `type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// `id`
    Id,
    /// `string`
    String,
    /// `textarea`
    TextArea,
    /// `boolean`
    Boolean,
    /// `int`
    Int,
    /// `long`
    Long,
    /// `double`
    Double,
    /// `currency`
    Currency,
    /// `percent`
    Percent,
    /// `date`
    Date,
    /// `datetime`
    DateTime,
    /// `time`
    Time,
    /// `picklist`
    Picklist,
    /// `multipicklist`
    MultiPicklist,
    /// `combobox`
    Combobox,
    /// `reference` (a lookup to another SObject)
    Reference,
    /// `email`
    Email,
    /// `phone`
    Phone,
    /// `url`
    Url,
    /// `base64`
    Base64,
    /// `encryptedstring`
    EncryptedString,
    /// `address` (compound)
    Address,
    /// `location` (compound geolocation)
    Location,
    /// `anyType`
    AnyType,
    /// A type this code does not know; kept so nothing is lost.
    Other(String),
}

impl FieldType {
    /// Reads describe's `type` value.
    pub fn from_describe(name: &str) -> FieldType {
        match name.to_ascii_lowercase().as_str() {
            "id" => FieldType::Id,
            "string" => FieldType::String,
            "textarea" => FieldType::TextArea,
            "boolean" => FieldType::Boolean,
            "int" => FieldType::Int,
            "long" => FieldType::Long,
            "double" => FieldType::Double,
            "currency" => FieldType::Currency,
            "percent" => FieldType::Percent,
            "date" => FieldType::Date,
            "datetime" => FieldType::DateTime,
            "time" => FieldType::Time,
            "picklist" => FieldType::Picklist,
            "multipicklist" => FieldType::MultiPicklist,
            "combobox" => FieldType::Combobox,
            "reference" => FieldType::Reference,
            "email" => FieldType::Email,
            "phone" => FieldType::Phone,
            "url" => FieldType::Url,
            "base64" => FieldType::Base64,
            "encryptedstring" => FieldType::EncryptedString,
            "address" => FieldType::Address,
            "location" => FieldType::Location,
            "anytype" => FieldType::AnyType,
            _ => FieldType::Other(name.to_string()),
        }
    }

    /// Compound fields (`address`, `location`) are never written as such; their
    /// components are separate fields.
    pub fn is_compound(&self) -> bool {
        matches!(self, FieldType::Address | FieldType::Location)
    }

    /// Types whose JSON value is a string.
    pub fn is_text(&self) -> bool {
        matches!(
            self,
            FieldType::Id
                | FieldType::String
                | FieldType::TextArea
                | FieldType::Picklist
                | FieldType::MultiPicklist
                | FieldType::Combobox
                | FieldType::Reference
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
                | FieldType::Base64
                | FieldType::EncryptedString
        )
    }
}

/// One field of an SObject, as far as the sink cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    /// API name in canonical case.
    pub name: String,
    /// Salesforce type.
    pub field_type: FieldType,
    /// May be set on insert.
    pub createable: bool,
    /// May be set on update.
    pub updateable: bool,
    /// May be null.
    pub nillable: bool,
    /// Is an External ID (usable as an upsert key).
    pub external_id: bool,
    /// Values must be unique.
    pub unique: bool,
    /// For a reference field, the name of its relationship (`Account` for `AccountId`).
    pub relationship_name: Option<String>,
    /// For a reference field, the SObjects it may point to.
    pub reference_to: Vec<String>,
    /// Maximum length in characters (0 when not a text field).
    pub length: u32,
    /// A picklist that refuses values outside its list.
    pub restricted_picklist: bool,
    /// The compound field this one is a component of (`BillingAddress` for
    /// `BillingStreet`, `Name` for `FirstName`).
    pub compound_field_name: Option<String>,
}

/// The wire shape of a describe field entry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    field_type: String,
    #[serde(default)]
    createable: bool,
    #[serde(default)]
    updateable: bool,
    #[serde(default)]
    nillable: bool,
    #[serde(default)]
    external_id: bool,
    #[serde(default)]
    unique: bool,
    #[serde(default)]
    relationship_name: Option<String>,
    #[serde(default)]
    reference_to: Option<Vec<String>>,
    #[serde(default)]
    length: Option<u32>,
    #[serde(default)]
    restricted_picklist: bool,
    #[serde(default)]
    compound_field_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescribe {
    name: String,
    #[serde(default)]
    key_prefix: Option<String>,
    #[serde(default)]
    fields: Vec<RawField>,
}

/// A map keyed by field name, looked up for every field of every record written:
/// hashed with foldhash, which is several times cheaper than the standard SipHash on
/// short names (the names come from the org's describe, not from an attacker).
pub type FieldMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// What the target org says about one SObject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SObjectSchema {
    /// API name in canonical case, e.g. `Lead`.
    pub name: String,
    /// The 3-character Id prefix, when the SObject has one.
    pub key_prefix: Option<String>,
    /// Fields by canonical API name.
    pub fields: FieldMap<FieldInfo>,
    /// Lower-cased name → canonical name: Salesforce names are case-insensitive.
    by_lower: FieldMap<String>,
    /// Lower-cased relationship name → the reference field that carries it.
    relationships: FieldMap<String>,
}

impl SObjectSchema {
    /// Builds a schema from its fields.
    pub fn new(
        name: impl Into<String>,
        key_prefix: Option<String>,
        fields: impl IntoIterator<Item = FieldInfo>,
    ) -> Self {
        let fields: FieldMap<FieldInfo> = fields.into_iter().map(|f| (f.name.clone(), f)).collect();
        let by_lower = fields
            .keys()
            .map(|k| (k.to_lowercase(), k.clone()))
            .collect();
        let relationships = fields
            .values()
            .filter_map(|f| {
                f.relationship_name
                    .as_ref()
                    .map(|r| (r.to_lowercase(), f.name.clone()))
            })
            .collect();
        SObjectSchema {
            name: name.into(),
            key_prefix,
            fields,
            by_lower,
            relationships,
        }
    }

    /// Reads a describe response body.
    pub fn from_describe_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        let raw: RawDescribe = serde_json::from_slice(body)?;
        let fields = raw.fields.into_iter().map(|f| FieldInfo {
            field_type: FieldType::from_describe(&f.field_type),
            name: f.name,
            createable: f.createable,
            updateable: f.updateable,
            nillable: f.nillable,
            external_id: f.external_id,
            unique: f.unique,
            relationship_name: f.relationship_name.filter(|r| !r.is_empty()),
            reference_to: f.reference_to.unwrap_or_default(),
            length: f.length.unwrap_or(0),
            restricted_picklist: f.restricted_picklist,
            compound_field_name: f.compound_field_name.filter(|c| !c.is_empty()),
        });
        Ok(SObjectSchema::new(
            raw.name,
            raw.key_prefix.filter(|p| !p.is_empty()),
            fields,
        ))
    }

    /// A field by name, any case.
    pub fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.fields.get(name).or_else(|| {
            self.by_lower
                .get(&name.to_lowercase())
                .and_then(|canonical| self.fields.get(canonical))
        })
    }

    /// The field a compound component's dotted name stands for, as Change Data Capture
    /// names them: `BillingAddress.Street` → `BillingStreet`, `Name.FirstName` →
    /// `FirstName`, `Loc__c.Latitude` → `Loc__Latitude__s`. Read from describe's
    /// `compoundFieldName`; a person name's parts (`Name.*`) are also found by their
    /// own name when the org does not link them to `Name`.
    pub fn component(&self, dotted: &str) -> Option<&FieldInfo> {
        let (compound, part) = dotted.split_once('.')?;
        let mut parts: Vec<&FieldInfo> = self
            .fields
            .values()
            .filter(|f| {
                f.compound_field_name
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(compound))
            })
            .collect();
        parts.sort_by(|a, b| a.name.cmp(&b.name));
        let named = |wanted: &str| {
            parts
                .iter()
                .copied()
                .find(|f| f.name.eq_ignore_ascii_case(wanted))
        };
        let address_prefix = compound
            .len()
            .checked_sub("Address".len())
            .filter(|&at| compound[at..].eq_ignore_ascii_case("Address"))
            .map(|at| &compound[..at]);
        let geolocation_base = compound
            .len()
            .checked_sub("c".len())
            .filter(|&at| compound.ends_with("__c") && at > 0)
            .map(|at| &compound[..at]);
        named(part)
            .or_else(|| address_prefix.and_then(|p| named(&format!("{p}{part}"))))
            .or_else(|| geolocation_base.and_then(|b| named(&format!("{b}{part}__s"))))
            .or_else(|| {
                if compound.eq_ignore_ascii_case("Name") {
                    self.field(part)
                        .filter(|f| !f.field_type.is_compound() && f.compound_field_name.is_none())
                } else {
                    None
                }
            })
    }

    /// The reference field whose relationship is called `name` (any case).
    pub fn relationship(&self, name: &str) -> Option<&FieldInfo> {
        self.relationships
            .get(&name.to_lowercase())
            .and_then(|f| self.fields.get(f))
    }
}

/// Why a describe failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DescribeError {
    /// The org has no such SObject (or the user cannot see it).
    #[error(
        "SObject {sobject} does not exist in the target org or is not accessible to the \
         connector's user ({code}: {message}); check salesforce.object"
    )]
    UnknownSObject {
        /// The name asked for.
        sobject: String,
        /// `NOT_FOUND` or `INVALID_TYPE`.
        code: String,
        /// Salesforce's message.
        message: String,
    },
    /// The call failed otherwise.
    #[error("cannot describe SObject {sobject}: {source}")]
    Call {
        /// The name asked for.
        sobject: String,
        /// The failure.
        source: CallError,
    },
}

/// Why the startup check refuses the configuration.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StartupError {
    /// Describe failed (including an SObject that does not exist).
    #[error(transparent)]
    Describe(#[from] DescribeError),
    /// `salesforce.custom.id.field.name` names a field the SObject does not have.
    #[error(
        "salesforce.custom.id.field.name={field}: SObject {sobject} has no such field; create it as \
         an External ID field in the target org or fix the name"
    )]
    MissingCustomIdField {
        /// The SObject.
        sobject: String,
        /// The configured field.
        field: String,
    },
    /// The field exists but is not an External ID.
    #[error(
        "salesforce.custom.id.field.name={field}: field {field} of SObject {sobject} is not an \
         External ID; mark it as External ID (and Unique) in the target org"
    )]
    NotExternalId {
        /// The SObject.
        sobject: String,
        /// The configured field.
        field: String,
    },
}

/// Checks what must hold before the first write: the custom Id field exists and is an
/// External ID. (That the SObject exists is known once its describe succeeded.)
pub fn check_startup(
    schema: &SObjectSchema,
    custom_id_field: Option<&str>,
) -> Result<(), StartupError> {
    let Some(field) = custom_id_field else {
        return Ok(());
    };
    match schema.field(field) {
        None => Err(StartupError::MissingCustomIdField {
            sobject: schema.name.clone(),
            field: field.to_string(),
        }),
        Some(f) if !f.external_id => Err(StartupError::NotExternalId {
            sobject: schema.name.clone(),
            field: f.name.clone(),
        }),
        Some(_) => Ok(()),
    }
}

/// SObject schemas by name, shared by every writer of the process.
#[derive(Debug, Default)]
pub struct DescribeCache {
    schemas: DashMap<String, Arc<SObjectSchema>>,
}

impl DescribeCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached schema, if any.
    pub fn get(&self, sobject: &str) -> Option<Arc<SObjectSchema>> {
        self.schemas
            .get(&sobject.to_lowercase())
            .map(|s| s.value().clone())
    }

    /// Puts a schema in the cache (tests, or a schema obtained elsewhere).
    pub fn insert(&self, schema: SObjectSchema) -> Arc<SObjectSchema> {
        let schema = Arc::new(schema);
        self.schemas
            .insert(schema.name.to_lowercase(), schema.clone());
        schema
    }

    /// The cached schema, or a fresh describe when there is none.
    pub async fn get_or_fetch(
        &self,
        client: &SalesforceClient,
        sobject: &str,
    ) -> Result<Arc<SObjectSchema>, DescribeError> {
        if let Some(schema) = self.get(sobject) {
            return Ok(schema);
        }
        self.refresh(client, sobject).await
    }

    /// The startup check in one step: describes `sobject` (an unknown SObject is a
    /// [`StartupError::Describe`] naming it) and runs [`check_startup`] on the result.
    pub async fn load_for_startup(
        &self,
        client: &SalesforceClient,
        sobject: &str,
        custom_id_field: Option<&str>,
    ) -> Result<Arc<SObjectSchema>, StartupError> {
        let schema = self.refresh(client, sobject).await?;
        check_startup(&schema, custom_id_field)?;
        Ok(schema)
    }

    /// Describes again and replaces the cached schema.
    pub async fn refresh(
        &self,
        client: &SalesforceClient,
        sobject: &str,
    ) -> Result<Arc<SObjectSchema>, DescribeError> {
        let schema = client.describe(sobject).await?;
        let schema = Arc::new(schema);
        // Keyed by the name asked for as well as the canonical one, so a differently
        // cased configuration value still hits the cache.
        self.schemas.insert(sobject.to_lowercase(), schema.clone());
        self.schemas
            .insert(schema.name.to_lowercase(), schema.clone());
        Ok(schema)
    }
}

impl SalesforceClient {
    /// `GET /sobjects/{sobject}/describe`, uncached (use [`DescribeCache`]).
    pub async fn describe(&self, sobject: &str) -> Result<SObjectSchema, DescribeError> {
        let call_err = |source| DescribeError::Call {
            sobject: sobject.to_string(),
            source,
        };
        if sobject.is_empty()
            || !sobject
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(DescribeError::UnknownSObject {
                sobject: sobject.to_string(),
                code: "INVALID_TYPE".into(),
                message: "not a valid SObject API name".into(),
            });
        }
        let request = ApiRequest::new(
            Endpoint::Describe,
            Method::GET,
            format!("/sobjects/{sobject}/describe"),
        );
        let response = match self.execute(&request).await {
            Ok(r) => r,
            Err(e) => {
                let missing = e
                    .api_errors()
                    .first()
                    .filter(|a| a.status_code == "NOT_FOUND" || a.status_code == "INVALID_TYPE")
                    .filter(|_| matches!(e.status(), Some(400 | 404)))
                    .map(|a| (a.status_code.clone(), a.message.clone()));
                return Err(match missing {
                    Some((code, message)) => DescribeError::UnknownSObject {
                        sobject: sobject.to_string(),
                        code,
                        message,
                    },
                    None => call_err(e),
                });
            }
        };
        SObjectSchema::from_describe_json(&response.body)
            .map_err(|e| call_err(CallError::decode(Endpoint::Describe, e)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::salesforce::test_org::TestOrg;
    use axum::extract::Path;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A Lead describe body close to a real org's, trimmed to the fields tests use.
    pub(crate) fn lead_describe() -> serde_json::Value {
        serde_json::json!({
            "name": "Lead", "keyPrefix": "00Q",
            "fields": [
                {"name": "Id", "type": "id", "createable": false, "updateable": false, "nillable": false, "length": 18},
                {"name": "LastName", "type": "string", "createable": true, "updateable": true, "nillable": false, "length": 80},
                {"name": "FirstName", "type": "string", "createable": true, "updateable": true, "nillable": true, "length": 40},
                {"name": "Name", "type": "string", "createable": false, "updateable": false, "nillable": false, "length": 121},
                {"name": "Company", "type": "string", "createable": true, "updateable": true, "nillable": false, "length": 255},
                {"name": "Street", "type": "textarea", "createable": true, "updateable": true, "nillable": true, "length": 255},
                {"name": "City", "type": "string", "createable": true, "updateable": true, "nillable": true, "length": 40},
                {"name": "Address", "type": "address", "createable": false, "updateable": false, "nillable": true},
                {"name": "Status", "type": "picklist", "createable": true, "updateable": true, "restrictedPicklist": true, "length": 40},
                {"name": "OwnerId", "type": "reference", "createable": true, "updateable": true, "referenceTo": ["User", "Group"], "relationshipName": "Owner", "length": 18},
                {"name": "ConvertedAccountId", "type": "reference", "createable": false, "updateable": false, "nillable": true, "referenceTo": ["Account"], "relationshipName": "ConvertedAccount", "length": 18},
                {"name": "CreatedDate", "type": "datetime", "createable": false, "updateable": false, "nillable": false},
                {"name": "HasOptedOutOfEmail", "type": "boolean", "createable": true, "updateable": true, "nillable": false},
                {"name": "NumberOfEmployees", "type": "int", "createable": true, "updateable": true, "nillable": true},
                {"name": "AnnualRevenue", "type": "currency", "createable": true, "updateable": true, "nillable": true},
                {"name": "LastTransferDate", "type": "date", "createable": true, "updateable": true, "nillable": true},
                {"name": "EmailBouncedDate", "type": "datetime", "createable": true, "updateable": true, "nillable": true},
                {"name": "Phone", "type": "phone", "createable": true, "updateable": true, "nillable": true, "length": 40},
                {"name": "Email", "type": "email", "createable": true, "updateable": true, "nillable": true, "length": 80},
                {"name": "Interests__c", "type": "multipicklist", "createable": true, "updateable": true, "nillable": true},
                {"name": "CustomId__c", "type": "string", "createable": true, "updateable": true, "nillable": true, "externalId": true, "unique": true, "length": 18},
                {"name": "Notes__c", "type": "string", "createable": true, "updateable": false, "nillable": true, "length": 255}
            ]
        })
    }

    pub(crate) fn lead_schema() -> SObjectSchema {
        SObjectSchema::from_describe_json(lead_describe().to_string().as_bytes()).unwrap()
    }

    #[test]
    fn describe_body_becomes_a_schema_with_case_insensitive_lookup() {
        let s = lead_schema();
        assert_eq!(s.key_prefix.as_deref(), Some("00Q"));
        let owner = s.field("ownerid").unwrap();
        assert_eq!(owner.field_type, FieldType::Reference);
        assert_eq!(owner.reference_to, ["User", "Group"]);
        assert_eq!(s.relationship("owner").unwrap().name, "OwnerId");
        assert!(s.field("Address").unwrap().field_type.is_compound());
        assert!(s.field("Status").unwrap().restricted_picklist);
        assert!(s.field("Nope__c").is_none());
    }

    /// An Account-like schema with a billing address, a geolocation and name parts.
    pub(crate) fn compound_schema() -> SObjectSchema {
        let field = |name: &str, compound: Option<&str>| {
            serde_json::json!({"name": name, "type": "string", "createable": true, "updateable": true,
                   "compoundFieldName": compound})
        };
        let body = serde_json::json!({"name": "Account", "keyPrefix": "001", "fields": [
            field("BillingStreet", Some("BillingAddress")),
            field("BillingCity", Some("BillingAddress")),
            field("BillingStateCode", Some("BillingAddress")),
            field("BillingState", Some("BillingAddress")),
            {"name": "BillingAddress", "type": "address"},
            field("Loc__Latitude__s", Some("Loc__c")),
            field("FirstName", None),
            field("Salutation", Some("Name")),
            field("City", None),
        ]});
        SObjectSchema::from_describe_json(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn dotted_compound_names_find_their_component_fields() {
        let s = compound_schema();
        let name = |dotted: &str| s.component(dotted).map(|f| f.name.as_str());
        assert_eq!(name("BillingAddress.Street"), Some("BillingStreet"));
        assert_eq!(name("billingaddress.state"), Some("BillingState"));
        assert_eq!(name("Loc__c.Latitude"), Some("Loc__Latitude__s"));
        assert_eq!(name("Name.Salutation"), Some("Salutation"));
        // A person name's part the org does not link to Name.
        assert_eq!(name("Name.FirstName"), Some("FirstName"));
        // A plain field of the same name is no component of an address.
        assert_eq!(name("ShippingAddress.City"), None);
        assert_eq!(name("BillingAddress.Planet"), None);
        assert_eq!(name("NoDot"), None);
    }

    #[test]
    fn startup_check_requires_an_existing_external_id_field() {
        let s = lead_schema();
        assert!(check_startup(&s, None).is_ok());
        assert!(check_startup(&s, Some("CustomId__c")).is_ok());
        assert!(check_startup(&s, Some("customid__c")).is_ok());
        let missing = check_startup(&s, Some("Missing__c")).unwrap_err();
        assert!(matches!(missing, StartupError::MissingCustomIdField { .. }));
        assert!(missing.to_string().contains("Missing__c"));
        let not_ext = check_startup(&s, Some("Email")).unwrap_err();
        assert!(
            matches!(not_ext, StartupError::NotExternalId { .. }),
            "{not_ext}"
        );
    }

    #[tokio::test]
    async fn cache_fetches_once_refreshes_on_demand_and_names_unknown_sobjects() {
        let hits = Arc::new(AtomicU32::new(0));
        let h = hits.clone();
        let router = axum::Router::new().route(
            "/services/data/v61.0/sobjects/{sobject}/describe",
            get(move |Path(sobject): Path<String>| {
                let h = h.clone();
                async move {
                    if sobject != "Lead" {
                        return (
                            StatusCode::NOT_FOUND,
                            r#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#,
                        )
                            .into_response();
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    axum::Json(lead_describe()).into_response()
                }
            }),
        );
        let org = TestOrg::start(router).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let cache = DescribeCache::new();
        let a = cache.get_or_fetch(&client, "Lead").await.unwrap();
        let b = cache.get_or_fetch(&client, "lead").await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        cache.refresh(&client, "Lead").await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert!(
            !Arc::ptr_eq(&a, &cache.get("Lead").unwrap()),
            "refresh replaces the schema"
        );
        let startup = cache
            .load_for_startup(&client, "Lead", Some("Email"))
            .await
            .unwrap_err();
        assert!(
            matches!(startup, StartupError::NotExternalId { .. }),
            "{startup}"
        );
        let startup = cache
            .load_for_startup(&client, "Foo__c", None)
            .await
            .unwrap_err();
        assert!(
            startup
                .to_string()
                .contains("SObject Foo__c does not exist"),
            "{startup}"
        );
        let err = cache.get_or_fetch(&client, "Foo__c").await.unwrap_err();
        assert!(
            matches!(err, DescribeError::UnknownSObject { ref code, .. } if code == "NOT_FOUND")
        );
        assert!(err.to_string().contains("Foo__c"));
    }
}
