//! The simulated org's metadata: SObjects, their fields with every describe attribute,
//! and duplicate rules. Org files (TOML) deserialize straight into these types, and the
//! describe endpoints render them as Salesforce does.

use crate::sim::fast_hash::FastMap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// A field's Salesforce data type (the describe `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// The record Id.
    Id,
    /// Short text.
    String,
    /// Long text.
    Textarea,
    /// true/false.
    Boolean,
    /// 32-bit integer.
    Int,
    /// Floating point number.
    Double,
    /// Money amount.
    Currency,
    /// Percentage.
    Percent,
    /// Calendar date `YYYY-MM-DD`.
    Date,
    /// Instant, ISO-8601.
    Datetime,
    /// One value from a list.
    Picklist,
    /// Lookup to another record.
    Reference,
    /// E-mail address.
    Email,
    /// Phone number.
    Phone,
    /// Web address.
    Url,
    /// Compound address (read-only, made of component fields).
    Address,
}

impl FieldType {
    /// The describe `soapType` of this type.
    pub fn soap_type(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "tns:ID",
            FieldType::Boolean => "xsd:boolean",
            FieldType::Int => "xsd:int",
            FieldType::Double | FieldType::Currency | FieldType::Percent => "xsd:double",
            FieldType::Date => "xsd:date",
            FieldType::Datetime => "xsd:dateTime",
            FieldType::Address => "urn:address",
            _ => "xsd:string",
        }
    }

    /// True for the types whose values are text with a maximum `length`.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::Textarea
                | FieldType::Picklist
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
        )
    }
}

fn yes() -> bool {
    true
}

/// One field of an SObject, with the attributes describe reports.
///
/// In an org file only `name` and `type` are needed; `system = true` marks a field the
/// server maintains (read-only, defaulted) and `required = true` one that must be given
/// on insert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldDef {
    /// API name.
    pub name: String,
    /// Label; defaults to the name.
    #[serde(default)]
    pub label: String,
    /// Data type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Maximum length of text values (0 = the type's default).
    #[serde(default)]
    pub length: u32,
    /// May be set on insert.
    #[serde(default = "yes")]
    pub createable: bool,
    /// May be set on update.
    #[serde(default = "yes")]
    pub updateable: bool,
    /// May be null.
    #[serde(default = "yes")]
    pub nillable: bool,
    /// The server fills it when an insert leaves it out.
    #[serde(default)]
    pub defaulted_on_create: bool,
    /// Usable as an upsert key.
    #[serde(default)]
    pub external_id: bool,
    /// Can identify a record (Id, some Name/Email fields, External IDs).
    #[serde(default)]
    pub id_lookup: bool,
    /// No two rows may share a value.
    #[serde(default)]
    pub unique: bool,
    /// Matching is case-sensitive.
    #[serde(default)]
    pub case_sensitive: bool,
    /// A formula field (read-only).
    #[serde(default)]
    pub calculated: bool,
    /// An auto-number field (read-only).
    #[serde(default)]
    pub auto_number: bool,
    /// SObjects a reference may point to.
    #[serde(default)]
    pub reference_to: Vec<String>,
    /// Relationship name of a reference field.
    #[serde(default)]
    pub relationship_name: Option<String>,
    /// Picklist values.
    #[serde(default)]
    pub picklist_values: Vec<String>,
    /// Only listed picklist values are accepted.
    #[serde(default)]
    pub restricted_picklist: bool,
    /// The compound field this one is a component of (e.g. `Address`).
    #[serde(default)]
    pub compound_field_name: Option<String>,
    /// Shorthand in org files: maintained by the server.
    #[serde(default, skip_serializing)]
    pub system: bool,
    /// Shorthand in org files: must be given on insert.
    #[serde(default, skip_serializing)]
    pub required: bool,
}

impl FieldDef {
    /// A plain writable, nillable field of the given type.
    pub fn new(name: &str, field_type: FieldType) -> FieldDef {
        let mut f = FieldDef {
            name: name.to_string(),
            label: String::new(),
            field_type,
            length: 0,
            createable: true,
            updateable: true,
            nillable: true,
            defaulted_on_create: false,
            external_id: false,
            id_lookup: false,
            unique: false,
            case_sensitive: false,
            calculated: false,
            auto_number: false,
            reference_to: Vec::new(),
            relationship_name: None,
            picklist_values: Vec::new(),
            restricted_picklist: false,
            compound_field_name: None,
            system: false,
            required: false,
        };
        f.resolve();
        f
    }

    /// Applies the org-file shorthands and type defaults, so every attribute is final.
    pub fn resolve(&mut self) {
        if self.label.is_empty() {
            self.label = self.name.trim_end_matches("__c").replace('_', " ");
        }
        if self.system || self.field_type == FieldType::Id {
            self.createable = false;
            self.updateable = false;
            self.nillable = false;
            self.defaulted_on_create = true;
        }
        if self.field_type == FieldType::Id {
            self.id_lookup = true;
            self.length = 18;
        }
        if matches!(self.field_type, FieldType::Address) || self.calculated || self.auto_number {
            self.createable = false;
            self.updateable = false;
        }
        if self.required {
            self.nillable = false;
            self.defaulted_on_create = false;
        }
        if self.field_type == FieldType::Boolean {
            // Booleans are never null in Salesforce: absent means false.
            self.nillable = false;
            self.defaulted_on_create = true;
        }
        if self.external_id {
            self.id_lookup = true;
        }
        if self.length == 0 {
            self.length = match self.field_type {
                FieldType::Reference => 18,
                FieldType::Textarea => 32000,
                FieldType::Email | FieldType::Phone => 80,
                FieldType::String | FieldType::Url | FieldType::Picklist => 255,
                _ => 0,
            };
        }
    }

    /// True when an insert must carry this field.
    pub fn required_on_insert(&self) -> bool {
        self.createable && !self.nillable && !self.defaulted_on_create
    }

    /// True when values are matched case-insensitively (Id-typed values use their 18-char form).
    pub fn folds_case(&self) -> bool {
        !self.case_sensitive && !matches!(self.field_type, FieldType::Id | FieldType::Reference)
    }

    /// The describe JSON of this field.
    pub fn describe(&self) -> Value {
        let picklist: Vec<Value> = self
            .picklist_values
            .iter()
            .map(|v| json!({"active": true, "defaultValue": false, "label": v, "validFor": null, "value": v}))
            .collect();
        let (precision, scale, digits) = match self.field_type {
            FieldType::Currency | FieldType::Double | FieldType::Percent => (18, 2, 0),
            FieldType::Int => (0, 0, 9),
            _ => (0, 0, 0),
        };
        let custom = self.name.ends_with("__c");
        json!({
            "name": self.name,
            "label": self.label,
            "type": self.field_type,
            "soapType": self.field_type.soap_type(),
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": precision,
            "scale": scale,
            "digits": digits,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "defaultedOnCreate": self.defaulted_on_create,
            "externalId": self.external_id,
            "idLookup": self.id_lookup,
            "unique": self.unique,
            "caseSensitive": self.case_sensitive,
            "calculated": self.calculated,
            "calculatedFormula": null,
            "autoNumber": self.auto_number,
            "referenceTo": self.reference_to,
            "relationshipName": self.relationship_name,
            "picklistValues": picklist,
            "restrictedPicklist": self.restricted_picklist,
            "compoundFieldName": self.compound_field_name,
            "custom": custom,
            "filterable": self.field_type != FieldType::Address,
            "sortable": self.field_type != FieldType::Address,
            "groupable": self.field_type != FieldType::Address,
            "nameField": self.name == "Name",
            "permissionable": !self.system && self.nillable,
            "deprecatedAndHidden": false,
            "htmlFormatted": false,
            "encrypted": false,
            "polymorphicForeignKey": self.reference_to.len() > 1,
            "defaultValue": null,
            "inlineHelpText": null,
        })
    }
}

/// One SObject type of the org.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SObjectDef {
    /// API name (`Lead`, `Foo__c`).
    pub name: String,
    /// Label; defaults to the name.
    #[serde(default)]
    pub label: String,
    /// Plural label; defaults to the label + "s".
    #[serde(default)]
    pub label_plural: String,
    /// Three-character Id prefix.
    pub key_prefix: String,
    /// Fields, in describe order.
    pub fields: Vec<FieldDef>,
    /// Field lookup by exact name, then by lower-cased name (built by `resolve`).
    #[serde(skip)]
    index: FastMap<String, usize>,
    /// Positions of reference fields (built by `resolve`).
    #[serde(skip)]
    reference_positions: Vec<usize>,
    /// Positions of unique fields (built by `resolve`).
    #[serde(skip)]
    unique_positions: Vec<usize>,
}

impl SObjectDef {
    /// Resolves every field and builds the name lookup. Call after deserializing.
    pub fn resolve(&mut self) {
        if self.label.is_empty() {
            self.label = self.name.trim_end_matches("__c").replace('_', " ");
        }
        if self.label_plural.is_empty() {
            self.label_plural = format!("{}s", self.label);
        }
        for f in &mut self.fields {
            f.resolve();
        }
        self.reindex();
    }

    fn reindex(&mut self) {
        self.index.clear();
        self.reference_positions.clear();
        self.unique_positions.clear();
        for (i, f) in self.fields.iter().enumerate() {
            self.index.insert(f.name.clone(), i);
            self.index.insert(f.name.to_ascii_lowercase(), i);
            if f.field_type == FieldType::Reference {
                self.reference_positions.push(i);
            }
            if f.unique {
                self.unique_positions.push(i);
            }
        }
    }

    /// The reference fields with their positions, so per-record checks need not look at
    /// every field.
    pub fn reference_fields(&self) -> impl Iterator<Item = (usize, &FieldDef)> + '_ {
        self.reference_positions
            .iter()
            .filter_map(|i| Some((*i, self.fields.get(*i)?)))
    }

    /// The unique fields with their positions.
    pub fn unique_fields(&self) -> impl Iterator<Item = (usize, &FieldDef)> + '_ {
        self.unique_positions
            .iter()
            .filter_map(|i| Some((*i, self.fields.get(*i)?)))
    }

    /// The position of a field in `fields`, by API name, case-insensitively.
    pub fn position(&self, name: &str) -> Option<usize> {
        match self.index.get(name) {
            Some(i) => Some(*i),
            None => self.index.get(&name.to_ascii_lowercase()).copied(),
        }
    }

    /// Finds a field by API name, case-insensitively.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.get(self.position(name)?)
    }

    /// Finds a field for changing it.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut FieldDef> {
        let i = *self.index.get(&name.to_ascii_lowercase())?;
        self.fields.get_mut(i)
    }

    /// Adds (or replaces) a field.
    pub fn add_field(&mut self, mut field: FieldDef) {
        field.resolve();
        match self
            .fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(&field.name))
        {
            Some(i) => {
                if let Some(slot) = self.fields.get_mut(i) {
                    *slot = field;
                }
            }
            None => self.fields.push(field),
        }
        self.reindex();
    }

    /// The `urls` block of describe results.
    pub fn urls(&self, version: &str) -> Value {
        let base = format!("/services/data/v{version}/sobjects/{}", self.name);
        json!({
            "sobject": base,
            "describe": format!("{base}/describe"),
            "rowTemplate": format!("{base}/{{ID}}"),
        })
    }

    /// The describe-global entry of this SObject.
    pub fn describe_global_entry(&self, version: &str) -> Value {
        let mut m = Map::new();
        self.put_global_attributes(&mut m, version);
        Value::Object(m)
    }

    fn put_global_attributes(&self, m: &mut Map<String, Value>, version: &str) {
        let custom = self.name.ends_with("__c");
        let pairs = [
            ("activateable", json!(false)),
            ("createable", json!(true)),
            ("custom", json!(custom)),
            ("customSetting", json!(false)),
            ("deepCloneable", json!(false)),
            ("deletable", json!(true)),
            ("deprecatedAndHidden", json!(false)),
            ("feedEnabled", json!(false)),
            ("hasSubtypes", json!(false)),
            ("isInterface", json!(false)),
            ("isSubtype", json!(false)),
            ("keyPrefix", json!(self.key_prefix)),
            ("label", json!(self.label)),
            ("labelPlural", json!(self.label_plural)),
            ("layoutable", json!(true)),
            ("mergeable", json!(false)),
            ("mruEnabled", json!(true)),
            ("name", json!(self.name)),
            ("queryable", json!(true)),
            ("replicateable", json!(true)),
            ("retrieveable", json!(true)),
            ("searchable", json!(true)),
            ("triggerable", json!(true)),
            ("undeletable", json!(true)),
            ("updateable", json!(true)),
            ("urls", self.urls(version)),
        ];
        for (k, v) in pairs {
            m.insert(k.to_string(), v);
        }
    }

    /// The full describe of this SObject.
    pub fn describe(&self, version: &str) -> Value {
        let mut m = Map::new();
        self.put_global_attributes(&mut m, version);
        m.insert(
            "fields".into(),
            Value::Array(self.fields.iter().map(FieldDef::describe).collect()),
        );
        m.insert("childRelationships".into(), json!([]));
        m.insert("recordTypeInfos".into(), json!([]));
        m.insert("actionOverrides".into(), json!([]));
        m.insert("compactLayoutable".into(), json!(true));
        m.insert("listviewable".into(), json!(true));
        m.insert("lookupLayoutable".into(), json!(true));
        m.insert("searchLayoutable".into(), json!(true));
        m.insert("namedLayoutInfos".into(), json!([]));
        m.insert("networkScopeFieldName".into(), Value::Null);
        m.insert("supportedScopes".into(), json!([]));
        Value::Object(m)
    }
}

/// A duplicate rule: a new or changed row that matches another live row on all `fields`
/// (case-insensitively) is refused with `DUPLICATES_DETECTED`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DuplicateRule {
    /// Developer name of the rule.
    pub name: String,
    /// The SObject it guards.
    pub sobject: String,
    /// Fields that must all be equal for a match.
    pub fields: Vec<String>,
}

/// All metadata of one org.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct OrgSchema {
    /// SObject types.
    #[serde(default)]
    pub sobjects: Vec<SObjectDef>,
    /// Duplicate rules.
    #[serde(default)]
    pub duplicate_rules: Vec<DuplicateRule>,
}

impl OrgSchema {
    /// Resolves every SObject (call after deserializing).
    pub fn resolve(&mut self) {
        for s in &mut self.sobjects {
            s.resolve();
        }
    }

    /// Finds an SObject by name, case-insensitively.
    pub fn sobject(&self, name: &str) -> Option<&SObjectDef> {
        self.sobjects
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Finds an SObject for changing it.
    pub fn sobject_mut(&mut self, name: &str) -> Option<&mut SObjectDef> {
        self.sobjects
            .iter_mut()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Finds the SObject whose Ids start with `prefix`.
    pub fn sobject_by_prefix(&self, prefix: &str) -> Option<&SObjectDef> {
        self.sobjects.iter().find(|s| s.key_prefix == prefix)
    }

    /// Duplicate rules guarding one SObject.
    pub fn rules_for<'a>(
        &'a self,
        sobject: &'a str,
    ) -> impl Iterator<Item = &'a DuplicateRule> + 'a {
        self.duplicate_rules
            .iter()
            .filter(move |r| r.sobject.eq_ignore_ascii_case(sobject))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_fields_resolve_read_only_and_defaulted() {
        let mut f = FieldDef::new("CreatedDate", FieldType::Datetime);
        f.system = true;
        f.resolve();
        assert!(!f.createable && !f.updateable && f.defaulted_on_create && !f.nillable);
        assert!(!f.required_on_insert());
    }

    #[test]
    fn required_fields_must_be_given_on_insert() {
        let mut f = FieldDef::new("LastName", FieldType::String);
        f.required = true;
        f.resolve();
        assert!(f.required_on_insert());
    }

    #[test]
    fn field_lookup_ignores_case() {
        let mut s = SObjectDef {
            name: "Lead".into(),
            label: String::new(),
            label_plural: String::new(),
            key_prefix: "00Q".into(),
            fields: vec![FieldDef::new("Email", FieldType::Email)],
            index: FastMap::default(),
            reference_positions: Vec::new(),
            unique_positions: Vec::new(),
        };
        s.resolve();
        assert_eq!(s.field("email").map(|f| f.name.as_str()), Some("Email"));
        assert!(s.field("Nope").is_none());
    }
}
