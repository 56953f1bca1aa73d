//! The write engine: create, update, upsert and delete of one record against the org's
//! rows, with the rules that need other rows (references, uniqueness, duplicate rules,
//! Id lookups) and system-field upkeep. Every change is noted in an undo log so that an
//! all-or-none call, or a call that fails as a whole, can be rolled back.

use crate::salesforce::id;
use crate::sim::org::OrgData;
use crate::sim::record::RecordFields;
use crate::sim::relationships;
use crate::sim::row::{RowView, Slot, StoredRow};
use crate::sim::rules::{
    self, check_record, Checked, CheckedFields, JsonParserError, Operation, RecordError,
    GROUP_KEY_PREFIX, RECORD_TYPE_KEY_PREFIX, USER_KEY_PREFIX,
};
use crate::sim::schema::{FieldDef, FieldType, OrgSchema, SObjectDef};
use crate::sim::store::{Table, WriteRecord};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Why one write did not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteError {
    /// The whole request is rejected (400 `JSON_PARSER_ERROR`).
    Request(JsonParserError),
    /// This record is rejected.
    Record(RecordError),
    /// An upsert key matches several rows (300 / `DUPLICATE_EXTERNAL_ID`).
    MultipleMatches(Vec<String>),
}

impl From<RecordError> for WriteError {
    fn from(e: RecordError) -> Self {
        WriteError::Record(e)
    }
}

impl From<JsonParserError> for WriteError {
    fn from(e: JsonParserError) -> Self {
        WriteError::Request(e)
    }
}

/// A successful write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// 18-character Id of the row.
    pub id: String,
    /// True when a row was created.
    pub created: bool,
}

/// Per-call settings of writes.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// `Sforce-Duplicate-Rule-Header: allowSave=true` lets duplicate-rule matches through.
    pub allow_save: bool,
    /// The call's timestamp, formatted as Salesforce does.
    pub now: String,
    /// The `client` of the call's `Sforce-Call-Options` header, kept in the write history.
    pub client: Option<String>,
}

impl WriteOptions {
    /// Options stamped with the current time.
    pub fn now(allow_save: bool) -> WriteOptions {
        WriteOptions {
            allow_save,
            now: rules::format_datetime(chrono::Utc::now()),
            client: None,
        }
    }

    /// The same options, naming the calling client.
    pub fn with_client(mut self, client: Option<String>) -> WriteOptions {
        self.client = client;
        self
    }
}

#[derive(Debug)]
enum Undo {
    Inserted {
        table: String,
        id: String,
    },
    Changed {
        table: String,
        id: String,
        previous: Vec<(Slot, Option<Value>)>,
        was_deleted: bool,
        history_len: usize,
    },
}

/// Changes made so far in one call, newest last.
#[derive(Debug, Default)]
pub struct UndoLog(Vec<Undo>);

impl UndoLog {
    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds the later changes of `other` after these.
    pub fn append(&mut self, mut other: UndoLog) {
        self.0.append(&mut other.0);
    }
}

/// The `NOT_FOUND` error of an Id or key that matches no row.
pub fn not_found(what: &str) -> RecordError {
    RecordError::new(
        "NOT_FOUND",
        format!("Provided external ID field does not exist or is not accessible: {what}"),
        vec![],
    )
}

fn entity_is_deleted() -> RecordError {
    RecordError::new("ENTITY_IS_DELETED", "entity is deleted", vec![])
}

fn malformed_id(text: &str) -> RecordError {
    RecordError::new("MALFORMED_ID", format!("malformed id {text}"), vec![])
}

/// Finds the live row an Id names. `sobject` narrows the type (a different key prefix is
/// `NOT_FOUND`); without it the type comes from the key prefix.
pub fn locate(
    schema: &OrgSchema,
    tables: &HashMap<String, Table>,
    sobject: Option<&str>,
    id_text: &str,
) -> Result<(String, String), RecordError> {
    let id18 = id::normalize(id_text).map_err(|_| malformed_id(id_text))?;
    let prefix = id::key_prefix(&id18).unwrap_or_default();
    let def = match sobject {
        Some(t) => {
            let def = schema.sobject(t).ok_or_else(|| not_found(id_text))?;
            if def.key_prefix != prefix {
                return Err(not_found(id_text));
            }
            def
        }
        None => schema
            .sobject_by_prefix(prefix)
            .ok_or_else(|| not_found(id_text))?,
    };
    let row = tables
        .get(&def.name)
        .and_then(|t| t.view(&id18))
        .ok_or_else(|| not_found(id_text))?;
    if row.deleted() {
        return Err(entity_is_deleted());
    }
    Ok((def.name.clone(), id18))
}

fn check_references(
    schema: &OrgSchema,
    tables: &HashMap<String, Table>,
    user_id: &str,
    def: &SObjectDef,
    fields: &CheckedFields,
) -> Result<(), RecordError> {
    for (position, field) in def.reference_fields() {
        let Some(Value::String(target)) = fields.value(position) else {
            continue;
        };
        let prefix = id::key_prefix(target).unwrap_or_default();
        let exists = match prefix {
            USER_KEY_PREFIX => target == user_id,
            GROUP_KEY_PREFIX => false,
            // The simulated org keeps no RecordType rows: any well-formed Id of the type is one.
            RECORD_TYPE_KEY_PREFIX => true,
            p => schema
                .sobject_by_prefix(p)
                .and_then(|s| tables.get(&s.name))
                .is_some_and(|t| t.is_live(target)),
        };
        if !exists {
            return Err(RecordError::new(
                "INVALID_CROSS_REFERENCE_KEY",
                format!("invalid cross reference id: {target}"),
                vec![field.name.clone()],
            ));
        }
    }
    Ok(())
}

fn check_unique_and_rules(
    schema: &OrgSchema,
    table: &Table,
    def: &SObjectDef,
    self_id: Option<&str>,
    changes: &CheckedFields,
    opts: &WriteOptions,
) -> Result<(), RecordError> {
    let existing = self_id.and_then(|i| table.view(i));
    for (position, field) in def.unique_fields() {
        let Some(value) = changes.value(position) else {
            continue;
        };
        if let Some(ids) = table.lookup_at(&[position], &[Some(value)]) {
            if let Some(other) = ids.iter().find(|x| Some(x.as_str()) != self_id) {
                return Err(RecordError::new(
                    "DUPLICATE_VALUE",
                    format!(
                        "duplicate value found: {} duplicates value on record with id: {other}",
                        field.name
                    ),
                    vec![field.name.clone()],
                ));
            }
        }
    }
    if opts.allow_save {
        return Ok(());
    }
    for rule in schema.rules_for(&def.name) {
        let positions: Vec<usize> = rule.fields.iter().filter_map(|n| def.position(n)).collect();
        if !positions.iter().any(|p| changes.contains(*p)) {
            continue;
        }
        let values: Vec<Option<&Value>> = positions
            .iter()
            .map(|p| {
                changes
                    .value(*p)
                    .or_else(|| existing.and_then(|r| r.value(*p)))
            })
            .collect();
        if let Some(ids) = table.lookup_at(&positions, &values) {
            if ids.iter().any(|x| Some(x.as_str()) != self_id) {
                return Err(RecordError::new(
                    "DUPLICATES_DETECTED",
                    "Use one of these records?",
                    vec![],
                ));
            }
        }
    }
    Ok(())
}

/// Where a read-only `Name` made of `FirstName` and `LastName` is kept (Lead, Contact).
struct NameSlots {
    name: Slot,
    first: Slot,
    last: Slot,
}

impl NameSlots {
    /// The slots, when `Name` is read-only and made of `FirstName` and `LastName`.
    fn of(def: &SObjectDef, table: &Table) -> Option<NameSlots> {
        let computed =
            def.field("Name").is_some_and(|f| !f.createable) && def.field("LastName").is_some();
        computed.then(|| NameSlots {
            name: table.columns().slot("Name"),
            first: table.columns().slot("FirstName"),
            last: table.columns().slot("LastName"),
        })
    }

    /// Recomputes `Name` from the row's names, returning the former value.
    fn recompute(&self, row: &mut StoredRow) -> Option<Value> {
        let full = [&self.first, &self.last]
            .into_iter()
            .filter_map(|s| row.get(s).and_then(Value::as_str))
            .collect::<Vec<&str>>()
            .join(" ");
        row.replace(&self.name, Some(Value::String(full)))
    }
}

fn get_def<'a>(schema: &'a OrgSchema, sobject: &str) -> Result<&'a SObjectDef, RecordError> {
    schema.sobject(sobject).ok_or_else(|| {
        RecordError::new(
            "INVALID_TYPE",
            format!("sObject type '{sobject}' is not supported."),
            vec![],
        )
    })
}

/// The value a field gets on insert when the record leaves it out, if any.
fn default_value(field: &FieldDef, now: &str, user: &str) -> Option<Value> {
    let value = match field.name.as_str() {
        "CreatedDate" | "LastModifiedDate" | "SystemModstamp"
            if field.field_type == FieldType::Datetime =>
        {
            Value::String(now.to_string())
        }
        "CreatedById" | "LastModifiedById" | "OwnerId" => Value::String(user.to_string()),
        _ if field.field_type == FieldType::Boolean => Value::Bool(false),
        _ if field.field_type == FieldType::Picklist && field.defaulted_on_create => field
            .picklist_values
            .first()
            .map(|v| Value::String(v.clone()))
            .unwrap_or(Value::Null),
        _ => return None,
    };
    Some(value)
}

impl OrgData {
    /// Inserts one record.
    pub fn create(
        &mut self,
        sobject: &str,
        input: impl Into<RecordFields>,
        opts: &WriteOptions,
        undo: &mut UndoLog,
    ) -> Result<Saved, WriteError> {
        let def = get_def(&self.schema, sobject)?;
        let input = relationships::resolve(&self.schema, &self.tables, def, input.into())?;
        let checked = match check_record(&self.schema, def, Operation::Insert, input)? {
            Checked::Accepted(m) => m,
            Checked::Rejected(e) => return Err(e.into()),
        };
        check_references(&self.schema, &self.tables, &self.user_id, def, &checked)?;
        let table = self
            .tables
            .get(&def.name)
            .ok_or_else(|| not_found(sobject))?;
        check_unique_and_rules(&self.schema, table, def, None, &checked, opts)?;

        let history = self.history.then(|| checked.to_map());
        let id_slot = table.columns().slot("Id");
        let name_slots = NameSlots::of(def, table);
        let mut values = checked.into_values();
        for (value, field) in values.iter_mut().zip(&def.fields) {
            if value.is_none() {
                *value = default_value(field, &opts.now, &self.user_id);
            }
        }
        let table_name = def.name.clone();
        let prefix = def.key_prefix.clone();
        let id = self.mint_id(&prefix);
        let seq = self.next_seq();
        let mut row = StoredRow::new(id.clone(), seq, values);
        if let Some(slots) = name_slots {
            slots.recompute(&mut row);
        }
        row.replace(&id_slot, Some(Value::String(id.clone())));
        if let Some(fields) = history {
            row.history.push(WriteRecord {
                seq,
                operation: "create".into(),
                fields,
                client: opts.client.clone(),
            });
        }
        if let Some(t) = self.tables.get_mut(&table_name) {
            t.insert_stored(row);
        }
        undo.0.push(Undo::Inserted {
            table: table_name,
            id: id.clone(),
        });
        Ok(Saved { id, created: true })
    }

    /// Updates one row named by Id.
    pub fn update(
        &mut self,
        sobject: Option<&str>,
        id_text: &str,
        input: impl Into<RecordFields>,
        opts: &WriteOptions,
        undo: &mut UndoLog,
    ) -> Result<Saved, WriteError> {
        let (table_name, id) = locate(&self.schema, &self.tables, sobject, id_text)?;
        self.update_located(&table_name, &id, input.into(), opts, undo, "update")
    }

    fn update_located(
        &mut self,
        table_name: &str,
        id: &str,
        mut input: RecordFields,
        opts: &WriteOptions,
        undo: &mut UndoLog,
        operation: &str,
    ) -> Result<Saved, WriteError> {
        let def = get_def(&self.schema, table_name)?;
        // Clients may repeat the row's own Id in the body; Salesforce ignores it.
        let same = input
            .get_ignore_case("id")
            .and_then(Value::as_str)
            .and_then(|s| id::normalize(s).ok())
            .is_some_and(|s| s == id);
        if same {
            input.remove_ignore_case("id");
        }
        let input = relationships::resolve(&self.schema, &self.tables, def, input)?;
        let checked = match check_record(&self.schema, def, Operation::Update, input)? {
            Checked::Accepted(m) => m,
            Checked::Rejected(e) => return Err(e.into()),
        };
        check_references(&self.schema, &self.tables, &self.user_id, def, &checked)?;
        let table = self.tables.get(table_name).ok_or_else(|| not_found(id))?;
        check_unique_and_rules(&self.schema, table, def, Some(id), &checked, opts)?;
        let name_slots = NameSlots::of(def, table);
        let stamps = [
            ("LastModifiedDate", &opts.now),
            ("SystemModstamp", &opts.now),
            ("LastModifiedById", &self.user_id),
        ]
        .map(|(name, value)| (table.columns().slot(name), Value::String(value.clone())));
        let seq = if self.history { self.next_seq() } else { 0 };
        let history = self.history.then(|| WriteRecord {
            seq,
            operation: operation.to_string(),
            fields: checked.to_map(),
            client: opts.client.clone(),
        });
        let table = self
            .tables
            .get_mut(table_name)
            .ok_or_else(|| not_found(id))?;
        let undo_entry = table.modify(id, move |row| {
            let mut previous = Vec::with_capacity(checked.len() + 4);
            let was_deleted = row.deleted;
            let history_len = row.history.len();
            row.history.extend(history);
            for (position, value) in checked.into_changes() {
                let slot = Slot::Column(position);
                let prev = row.replace(&slot, Some(value));
                previous.push((slot, prev));
            }
            for (slot, value) in stamps {
                let prev = row.replace(&slot, Some(value));
                previous.push((slot, prev));
            }
            if let Some(slots) = name_slots {
                let prev = slots.recompute(row);
                previous.push((slots.name, prev));
            }
            (previous, was_deleted, history_len)
        });
        if let Some((previous, was_deleted, history_len)) = undo_entry {
            undo.0.push(Undo::Changed {
                table: table_name.to_string(),
                id: id.to_string(),
                previous,
                was_deleted,
                history_len,
            });
        }
        Ok(Saved {
            id: id.to_string(),
            created: false,
        })
    }

    /// Inserts or updates the row whose `ext_field` equals `ext_value`.
    #[allow(clippy::too_many_arguments)]
    pub fn upsert(
        &mut self,
        sobject: &str,
        ext_field: &str,
        ext_value: Value,
        input: impl Into<RecordFields>,
        update_only: bool,
        opts: &WriteOptions,
        undo: &mut UndoLog,
    ) -> Result<Saved, WriteError> {
        let mut input: RecordFields = input.into();
        let def = get_def(&self.schema, sobject)?;
        let (position, field) = def
            .position(ext_field)
            .and_then(|i| Some((i, def.fields.get(i)?)))
            .filter(|(_, f)| f.external_id || f.id_lookup)
            .ok_or_else(|| not_found(ext_field))?;
        let table_name = def.name.clone();
        if field.field_type == FieldType::Id {
            let text = ext_value.as_str().unwrap_or_default().to_string();
            if text.is_empty() {
                if update_only {
                    return Err(not_found(&text).into());
                }
                return self.create(&table_name, input, opts, undo);
            }
            let (t, id) = locate(&self.schema, &self.tables, Some(&table_name), &text)?;
            return self.update_located(&t, &id, input, opts, undo, "upsert");
        }
        let field_name = field.name.clone();
        let value = rules::coerce(field, ext_value)?;
        if value.is_null() || value.as_str() == Some("") {
            return Err(RecordError::new(
                "MISSING_ARGUMENT",
                format!("{field_name} not specified"),
                vec![field_name],
            )
            .into());
        }
        let table = self
            .tables
            .get(&table_name)
            .ok_or_else(|| not_found(sobject))?;
        let matched = match table.lookup_at(&[position], &[Some(&value)]) {
            None | Some([]) => None,
            Some([one]) => Some(one.clone()),
            Some(many) => return Err(WriteError::MultipleMatches(many.to_vec())),
        };
        match matched {
            Some(id) => self.update_located(&table_name, &id, input, opts, undo, "upsert"),
            None => {
                if update_only {
                    return Err(not_found(
                        &value
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| value.to_string()),
                    )
                    .into());
                }
                input.remove_ignore_case(&field_name);
                input.insert(field_name, value);
                self.create(&table_name, input, opts, undo)
            }
        }
    }

    /// Moves one row to the Recycle Bin.
    pub fn delete(
        &mut self,
        sobject: Option<&str>,
        id_text: &str,
        opts: &WriteOptions,
        undo: &mut UndoLog,
    ) -> Result<String, WriteError> {
        let (table_name, id) = locate(&self.schema, &self.tables, sobject, id_text)?;
        let history = self.history;
        let seq = if history { self.next_seq() } else { 0 };
        let now = opts.now.clone();
        let client = opts.client.clone();
        let table = self
            .tables
            .get_mut(&table_name)
            .ok_or_else(|| not_found(id_text))?;
        let is_deleted = table.columns().slot("IsDeleted");
        let modstamp = table.columns().slot("SystemModstamp");
        let entry = table.modify(&id, |row| {
            let history_len = row.history.len();
            let was_deleted = row.deleted;
            row.deleted = true;
            let p1 = row.replace(&is_deleted, Some(Value::Bool(true)));
            let p2 = row.replace(&modstamp, Some(Value::String(now)));
            if history {
                row.history.push(WriteRecord {
                    seq,
                    operation: "delete".into(),
                    fields: Map::new(),
                    client,
                });
            }
            (
                vec![(is_deleted, p1), (modstamp, p2)],
                was_deleted,
                history_len,
            )
        });
        if let Some((previous, was_deleted, history_len)) = entry {
            undo.0.push(Undo::Changed {
                table: table_name,
                id: id.clone(),
                previous,
                was_deleted,
                history_len,
            });
        }
        Ok(id)
    }

    /// Undoes every change of the log, newest first.
    pub fn rollback(&mut self, undo: UndoLog) {
        for entry in undo.0.into_iter().rev() {
            match entry {
                Undo::Inserted { table, id } => {
                    if let Some(t) = self.tables.get_mut(&table) {
                        t.remove(&id);
                    }
                }
                Undo::Changed {
                    table,
                    id,
                    previous,
                    was_deleted,
                    history_len,
                } => {
                    if let Some(t) = self.tables.get_mut(&table) {
                        t.modify(&id, |row| {
                            for (slot, prev) in previous.into_iter().rev() {
                                row.replace(&slot, prev);
                            }
                            row.deleted = was_deleted;
                            row.history.truncate(history_len);
                        });
                    }
                }
            }
        }
    }
}

/// Renders a row as the REST API answers it: `attributes`, then the requested fields (all
/// when `fields` is `None`) in describe order, compound addresses assembled.
pub fn render_row(
    def: &SObjectDef,
    row: RowView<'_>,
    fields: Option<&[String]>,
    version: &str,
) -> Value {
    let mut m = Map::new();
    m.insert(
        "attributes".into(),
        json!({"type": def.name, "url": format!("/services/data/v{version}/sobjects/{}/{}", def.name, row.id())}),
    );
    let selected: Vec<&FieldDef> = match fields {
        Some(names) => names.iter().filter_map(|n| def.field(n)).collect(),
        None => def.fields.iter().collect(),
    };
    for f in selected {
        let value = if f.field_type == FieldType::Address {
            address_value(def, &f.name, row)
        } else {
            row.get(&f.name).cloned().unwrap_or(Value::Null)
        };
        m.insert(f.name.clone(), value);
    }
    Value::Object(m)
}

fn address_value(def: &SObjectDef, compound: &str, row: RowView<'_>) -> Value {
    let prefix = compound.strip_suffix("Address").unwrap_or_default();
    let mut m = Map::new();
    let mut any = false;
    for c in def
        .fields
        .iter()
        .filter(|c| c.compound_field_name.as_deref() == Some(compound))
    {
        let key = c.name.strip_prefix(prefix).unwrap_or(&c.name).to_string();
        let v = row.get(&c.name).cloned().unwrap_or(Value::Null);
        any |= !v.is_null();
        m.insert(key, v);
    }
    if any {
        Value::Object(m)
    } else {
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::OrgConfig;

    fn data() -> OrgData {
        let cfg = OrgConfig::named("b", "127.0.0.1:0".parse().unwrap());
        OrgData::new(cfg.schema, "005000000000001AAA".into(), true)
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn code(r: Result<Saved, WriteError>) -> String {
        match r {
            Ok(_) => "OK".into(),
            Err(WriteError::Record(e)) => e.code,
            Err(WriteError::Request(_)) => "JSON_PARSER_ERROR".into(),
            Err(WriteError::MultipleMatches(_)) => "MULTIPLE".into(),
        }
    }

    #[test]
    fn create_sets_system_fields_and_an_18_char_id() {
        let mut d = data();
        let opts = WriteOptions::now(false);
        let mut undo = UndoLog::default();
        let saved = d
            .create(
                "Lead",
                obj(json!({"LastName": "Okafor", "FirstName": "Ada", "Company": "N"})),
                &opts,
                &mut undo,
            )
            .unwrap();
        assert_eq!(saved.id.len(), 18);
        assert!(saved.id.starts_with("00Q"));
        assert_eq!(id::normalize(&saved.id).unwrap(), saved.id);
        let row = d.tables["Lead"].get(&saved.id).unwrap();
        assert_eq!(row.fields["Name"], json!("Ada Okafor"));
        assert_eq!(row.fields["Status"], json!("Open - Not Contacted"));
        assert_eq!(row.fields["IsDeleted"], json!(false));
        assert!(row.fields["CreatedDate"]
            .as_str()
            .unwrap()
            .ends_with("+0000"));
    }

    #[test]
    fn unique_values_and_duplicate_rules_are_enforced() {
        let mut d = data();
        let opts = WriteOptions::now(false);
        let mut undo = UndoLog::default();
        d.create("Lead", obj(json!({"LastName": "A", "Company": "C", "CustomId__c": "x1", "Email": "a@x.example"})), &opts, &mut undo).unwrap();
        assert_eq!(
            code(d.create(
                "Lead",
                obj(json!({"LastName": "B", "Company": "C", "CustomId__c": "X1"})),
                &opts,
                &mut undo
            )),
            "DUPLICATE_VALUE"
        );
        assert_eq!(
            code(d.create(
                "Lead",
                obj(json!({"LastName": "B", "Company": "C", "Email": "A@x.example"})),
                &opts,
                &mut undo
            )),
            "DUPLICATES_DETECTED"
        );
        let allow = WriteOptions::now(true);
        assert_eq!(
            code(d.create(
                "Lead",
                obj(json!({"LastName": "B", "Company": "C", "Email": "A@x.example"})),
                &allow,
                &mut undo
            )),
            "OK"
        );
    }

    #[test]
    fn rollback_restores_rows_and_indexes() {
        let mut d = data();
        let opts = WriteOptions::now(false);
        let mut first = UndoLog::default();
        let a = d
            .create(
                "Lead",
                obj(json!({"LastName": "A", "Company": "C", "CustomId__c": "k"})),
                &opts,
                &mut first,
            )
            .unwrap();
        let mut undo = UndoLog::default();
        d.upsert(
            "Lead",
            "CustomId__c",
            json!("k"),
            obj(json!({"LastName": "Changed"})),
            false,
            &opts,
            &mut undo,
        )
        .unwrap();
        d.create(
            "Lead",
            obj(json!({"LastName": "B", "Company": "C", "CustomId__c": "k2"})),
            &opts,
            &mut undo,
        )
        .unwrap();
        d.delete(None, &a.id, &opts, &mut undo).unwrap();
        d.rollback(undo);
        let t = &d.tables["Lead"];
        assert_eq!(t.len(), 1);
        let row = t.get(&a.id).unwrap();
        assert!(!row.deleted);
        assert_eq!(row.fields["LastName"], json!("A"));
        assert_eq!(row.history.len(), 1);
        assert_eq!(
            t.lookup(&["CustomId__c".to_string()], &[Some(&json!("K"))])
                .unwrap(),
            vec![a.id.clone()]
        );
    }

    #[test]
    fn ids_that_do_not_fit_are_malformed_missing_or_deleted() {
        let mut d = data();
        let opts = WriteOptions::now(false);
        let mut undo = UndoLog::default();
        let a = d
            .create("Account", obj(json!({"Name": "Acme"})), &opts, &mut undo)
            .unwrap();
        assert_eq!(
            code(d.update(Some("Lead"), &a.id, Map::new(), &opts, &mut undo)),
            "NOT_FOUND"
        );
        assert_eq!(
            code(d.update(
                Some("Account"),
                "001D000000IqhSLAAA",
                Map::new(),
                &opts,
                &mut undo
            )),
            "MALFORMED_ID"
        );
        assert_eq!(
            code(d.update(
                Some("Account"),
                "001D000000IqhSL",
                Map::new(),
                &opts,
                &mut undo
            )),
            "NOT_FOUND"
        );
        d.delete(None, &a.id, &opts, &mut undo).unwrap();
        assert_eq!(
            code(d.update(Some("Account"), &a.id, Map::new(), &opts, &mut undo)),
            "ENTITY_IS_DELETED"
        );
        let contact = json!({"LastName": "C", "AccountId": a.id});
        assert_eq!(
            code(d.create("Contact", obj(contact), &opts, &mut undo)),
            "INVALID_CROSS_REFERENCE_KEY"
        );
    }
}
