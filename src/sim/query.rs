//! A minimal SOQL subset for `GET /query?q=`: `SELECT f1, f2 FROM T [WHERE F = 'x' |
//! WHERE F IN ('a', 'b')] [LIMIT n]`, keywords case-insensitive. Enough for a sink to
//! find rows by External ID on a real org or on this one.

use crate::sim::reply::{self, ApiError};
use crate::sim::routes::Call;
use crate::sim::row::RowView;
use crate::sim::rules;
use crate::sim::schema::FieldType;
use crate::sim::store::index_key;
use crate::sim::writes::render_row;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use thiserror::Error;

/// Why a query string is not in the supported subset.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct QueryError(pub String);

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soql {
    /// Selected field names as written.
    pub fields: Vec<String>,
    /// SObject name as written.
    pub sobject: String,
    /// `WHERE field = / IN` filter: the field and the accepted literal values.
    pub filter: Option<(String, Vec<String>)>,
    /// `LIMIT`.
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Literal(String),
    Comma,
    Open,
    Close,
    Equals,
}

fn tokenize(q: &str) -> Result<Vec<Token>, QueryError> {
    let mut out = Vec::new();
    let mut chars = q.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            ',' => {
                chars.next();
                out.push(Token::Comma);
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '=' => {
                chars.next();
                out.push(Token::Equals);
            }
            '\'' => {
                chars.next();
                let mut lit = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(e) = chars.next() {
                                lit.push(e);
                            }
                        }
                        '\'' => {
                            closed = true;
                            break;
                        }
                        other => lit.push(other),
                    }
                }
                if !closed {
                    return Err(QueryError("unterminated string literal".into()));
                }
                out.push(Token::Literal(lit));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, ',' | '(' | ')' | '=' | '\'') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

fn is_kw(t: Option<&Token>, kw: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
}

/// Parses the supported subset.
pub fn parse(q: &str) -> Result<Soql, QueryError> {
    let tokens = tokenize(q)?;
    let mut it = tokens.into_iter().peekable();
    if !is_kw(it.next().as_ref(), "select") {
        return Err(QueryError("expected SELECT".into()));
    }
    let mut fields = Vec::new();
    loop {
        match it.next() {
            Some(Token::Word(w)) if !w.eq_ignore_ascii_case("from") => fields.push(w),
            _ => return Err(QueryError("expected a field name".into())),
        }
        if it.peek() == Some(&Token::Comma) {
            it.next();
            continue;
        }
        break;
    }
    if !is_kw(it.next().as_ref(), "from") {
        return Err(QueryError("expected FROM".into()));
    }
    let sobject = match it.next() {
        Some(Token::Word(w)) => w,
        _ => return Err(QueryError("expected an SObject name".into())),
    };
    let mut filter = None;
    let mut limit = None;
    while let Some(tok) = it.next() {
        if is_kw(Some(&tok), "where") {
            let field = match it.next() {
                Some(Token::Word(w)) => w,
                _ => return Err(QueryError("expected a field after WHERE".into())),
            };
            let values = match it.next() {
                Some(Token::Equals) => match it.next() {
                    Some(Token::Literal(v)) => vec![v],
                    Some(Token::Word(v)) => vec![v],
                    _ => return Err(QueryError("expected a value after =".into())),
                },
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => {
                    if it.next() != Some(Token::Open) {
                        return Err(QueryError("expected ( after IN".into()));
                    }
                    let mut vals = Vec::new();
                    loop {
                        match it.next() {
                            Some(Token::Literal(v)) => vals.push(v),
                            Some(Token::Word(v)) => vals.push(v),
                            Some(Token::Close) if vals.is_empty() => break,
                            _ => return Err(QueryError("expected a value in IN list".into())),
                        }
                        match it.next() {
                            Some(Token::Comma) => continue,
                            Some(Token::Close) => break,
                            _ => return Err(QueryError("expected , or ) in IN list".into())),
                        }
                    }
                    vals
                }
                _ => return Err(QueryError("only = and IN are supported in WHERE".into())),
            };
            filter = Some((field, values));
        } else if is_kw(Some(&tok), "limit") {
            limit = match it.next() {
                Some(Token::Word(n)) => Some(
                    n.parse()
                        .map_err(|_| QueryError("LIMIT needs a number".into()))?,
                ),
                _ => return Err(QueryError("LIMIT needs a number".into())),
            };
        } else {
            return Err(QueryError(format!("unexpected token {tok:?}")));
        }
    }
    Ok(Soql {
        fields,
        sobject,
        filter,
        limit,
    })
}

/// `GET /query?q=...`.
pub fn handle(call: &Call<'_>) -> Result<Response, ApiError> {
    let q = call.param("q").unwrap_or_default();
    let soql =
        parse(q).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", e.0))?;
    let data = call.data();
    let def = data.schema.sobject(&soql.sobject).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_TYPE",
            format!("sObject type '{}' is not supported.", soql.sobject),
        )
    })?;
    let invalid = |name: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            format!("No such column '{name}' on entity '{}'", def.name),
        )
    };
    let mut fields = Vec::new();
    for f in &soql.fields {
        fields.push(def.field(f).ok_or_else(|| invalid(f))?.name.clone());
    }
    let table = data
        .tables
        .get(&def.name)
        .ok_or_else(ApiError::no_resource)?;
    let mut rows: Vec<RowView<'_>> = match &soql.filter {
        None => table
            .rows_in_order()
            .into_iter()
            .filter(|r| !r.deleted())
            .collect(),
        Some((name, values)) => {
            let field = def.field(name).ok_or_else(|| invalid(name))?;
            if field.field_type == FieldType::Id {
                let mut rows: Vec<_> = values
                    .iter()
                    .filter_map(|v| crate::salesforce::id::normalize(v).ok())
                    .filter_map(|id| table.view(&id))
                    .filter(|r| !r.deleted())
                    .collect();
                rows.dedup_by(|a, b| a.id() == b.id());
                rows
            } else {
                let wanted: Vec<String> = values
                    .iter()
                    .filter_map(|v| rules::coerce(field, Value::String(v.clone())).ok())
                    .filter_map(|v| index_key(std::iter::once(Some(&v)), field.folds_case()))
                    .collect();
                table
                    .rows_in_order()
                    .into_iter()
                    .filter(|r| !r.deleted())
                    .filter(|r| {
                        index_key(std::iter::once(r.get(&field.name)), field.folds_case())
                            .is_some_and(|k| wanted.contains(&k))
                    })
                    .collect()
            }
        }
    };
    if let Some(n) = soql.limit {
        rows.truncate(n);
    }
    let records: Vec<Value> = rows
        .iter()
        .map(|r| render_row(def, *r, Some(&fields), call.version))
        .collect();
    Ok(reply::json(
        StatusCode::OK,
        &json!({"totalSize": records.len(), "done": true, "records": records}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_list_and_equals_parse_case_insensitively() {
        let q =
            parse("select Id, CustomId__c from Lead where CustomId__c in ('a', 'b\\'c') limit 5")
                .unwrap();
        assert_eq!(q.fields, vec!["Id", "CustomId__c"]);
        assert_eq!(q.sobject, "Lead");
        assert_eq!(
            q.filter,
            Some(("CustomId__c".into(), vec!["a".into(), "b'c".into()]))
        );
        assert_eq!(q.limit, Some(5));
        let q = parse("SELECT Id FROM Account WHERE Name = 'Acme'").unwrap();
        assert_eq!(q.filter, Some(("Name".into(), vec!["Acme".into()])));
    }

    #[test]
    fn unsupported_shapes_are_rejected() {
        assert!(parse("SELECT FROM Lead").is_err());
        assert!(parse("SELECT Id FROM Lead WHERE Name LIKE 'a%'").is_err());
        assert!(parse("DELETE Lead").is_err());
    }
}
