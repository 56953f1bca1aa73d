//! `ReplaceField$Key` / `$Value`: keep or drop top-level fields and rename them.
//!
//! Keys: `exclude` (takes precedence), `include` (when set, only these are kept), the
//! older names `blacklist` and `whitelist` for the same lists, `renames`
//! (`old:new,...`), `replace.null.with.default`. A null key or value passes unchanged.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::config::Settings;
use super::{require_object, Part, RecordError};

/// A configured `ReplaceField`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplaceField {
    exclude: BTreeSet<String>,
    include: BTreeSet<String>,
    renames: HashMap<String, String>,
}

/// A list under its current name, or under its older name when only that is set.
fn list_with_legacy(
    s: &mut Settings<'_>,
    name: &'static str,
    legacy: &'static str,
) -> BTreeSet<String> {
    let current = s.raw(name).is_some().then(|| s.list(name));
    let old = s.raw(legacy).is_some().then(|| s.list(legacy));
    match (current, old) {
        (Some(c), Some(o)) if c != o => {
            s.error(
                legacy,
                format!(
                    "is the older name of {name}, which is also set to something else; keep one"
                ),
            );
            c.into_iter().collect()
        }
        (Some(c), _) => c.into_iter().collect(),
        (None, Some(o)) => o.into_iter().collect(),
        (None, None) => BTreeSet::new(),
    }
}

impl ReplaceField {
    /// Reads the sub-keys; `None` when one was refused.
    pub(crate) fn configure(s: &mut Settings<'_>) -> Option<Self> {
        let exclude = list_with_legacy(s, "exclude", "blacklist");
        let include = list_with_legacy(s, "include", "whitelist");
        let mut renames = HashMap::new();
        for mapping in s.list("renames") {
            match mapping.split(':').collect::<Vec<_>>()[..] {
                [from, to] if !from.trim().is_empty() && !to.trim().is_empty() => {
                    renames.insert(from.trim().to_string(), to.trim().to_string());
                }
                _ => s.error(
                    "renames",
                    format!("invalid rename mapping {mapping:?}: expected old:new pairs such as foo:bar,abc:xyz"),
                ),
            }
        }
        s.replace_null_with_default();
        (!s.failed()).then_some(ReplaceField {
            exclude,
            include,
            renames,
        })
    }

    fn keeps(&self, name: &str) -> bool {
        !self.exclude.contains(name) && (self.include.is_empty() || self.include.contains(name))
    }

    /// Applies the field rules to `target` (the key or value).
    pub fn apply(&self, target: &mut Value, part: Part) -> Result<(), RecordError> {
        if target.is_null() {
            return Ok(());
        }
        let map = require_object(target, part, "field replacement")?;
        let old = std::mem::take(map);
        let mut out = Map::with_capacity(old.len());
        for (name, value) in old {
            if self.keeps(&name) {
                let name = self.renames.get(&name).cloned().unwrap_or(name);
                out.insert(name, value);
            }
        }
        *map = out;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::configure;
    use serde_json::json;

    fn rf(pairs: &[(&str, &str)]) -> ReplaceField {
        configure(pairs, ReplaceField::configure).unwrap()
    }

    #[test]
    fn exclude_wins_over_include_and_renames_apply_to_kept_fields() {
        let t = rf(&[
            ("include", "a,b,c"),
            ("exclude", "b"),
            ("renames", "a:x, c:y"),
        ]);
        let mut v = json!({"a": 1, "b": 2, "c": 3, "d": 4});
        t.apply(&mut v, Part::Value).unwrap();
        assert_eq!(v, json!({"x": 1, "y": 3}));
    }

    #[test]
    fn legacy_names_work_and_conflicts_are_refused() {
        let t = rf(&[("blacklist", "secret")]);
        let mut v = json!({"secret": 1, "ok": 2});
        t.apply(&mut v, Part::Value).unwrap();
        assert_eq!(v, json!({"ok": 2}));
        let t = rf(&[("whitelist", "ok")]);
        let mut v = json!({"secret": 1, "ok": 2});
        t.apply(&mut v, Part::Value).unwrap();
        assert_eq!(v, json!({"ok": 2}));
        let e = configure(
            &[("exclude", "a"), ("blacklist", "b")],
            ReplaceField::configure,
        )
        .unwrap_err();
        assert!(e[0].0.ends_with("blacklist"), "{e:?}");
    }

    #[test]
    fn bad_rename_mappings_are_refused() {
        for bad in ["a", "a:b:c", ":b"] {
            let e = configure(&[("renames", bad)], ReplaceField::configure).unwrap_err();
            assert!(
                e[0].0.ends_with("renames") && e[0].1.contains("invalid rename"),
                "{e:?}"
            );
        }
    }

    #[test]
    fn null_passes_and_non_objects_fail() {
        let t = rf(&[("exclude", "a")]);
        let mut v = Value::Null;
        t.apply(&mut v, Part::Value).unwrap();
        assert_eq!(v, Value::Null);
        let e = t.apply(&mut json!("text"), Part::Key).unwrap_err();
        assert!(
            e.to_string().contains("record key must be a JSON object"),
            "{e}"
        );
    }
}
