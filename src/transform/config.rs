//! Reads `transforms`, `transforms.<alias>.*`, `predicates` and `predicates.<alias>.*`
//! into a [`TransformChain`], as Kafka Connect's connector configuration defines them.
//!
//! Everything is checked before any record moves: a class that is not built in, a
//! sub-key the class does not have, a value it cannot use, a duplicate alias, a
//! predicate that is not defined. Every problem names the key, the alias and the
//! class; nothing is skipped.

use std::collections::{BTreeMap, BTreeSet};

use super::chain::{Condition, Stage, Step, TransformChain};
use super::predicate::Predicate;
use super::{
    cast::Cast, extract_field::ExtractField, flatten::Flatten, hoist_field::HoistField,
    insert_field::InsertField, mask_field::MaskField, replace_field::ReplaceField,
    timestamp_converter::TimestampConverter, value_to_key::ValueToKey, Part,
};

/// Package of Kafka's built-in transforms.
pub const TRANSFORMS_PACKAGE: &str = "org.apache.kafka.connect.transforms.";
/// Package of Kafka's built-in predicates.
pub const PREDICATES_PACKAGE: &str = "org.apache.kafka.connect.transforms.predicates.";

/// Transforms built in, each with `$Key` and `$Value` variants.
pub const KEY_VALUE_TRANSFORMS: &[&str] = &[
    "ReplaceField",
    "InsertField",
    "MaskField",
    "Cast",
    "TimestampConverter",
    "ExtractField",
    "HoistField",
    "Flatten",
];
/// Transforms built in without variants.
pub const PLAIN_TRANSFORMS: &[&str] = &["ValueToKey", "Filter"];
/// Predicates built in.
pub const PREDICATES: &[&str] = &["TopicNameMatches", "HasHeaderKey", "RecordIsTombstone"];

/// One problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key that must change.
    pub key: String,
    /// What is wrong and what would be accepted.
    pub message: String,
}

/// True for the keys this module reads (and so validates).
pub fn is_transform_key(key: &str) -> bool {
    key == "transforms"
        || key == "predicates"
        || key.starts_with("transforms.")
        || key.starts_with("predicates.")
}

/// The sub-keys of one transform or predicate alias, read one by one; whatever is
/// left unread at the end is refused as unknown.
pub(crate) struct Settings<'a> {
    map: &'a BTreeMap<String, String>,
    prefix: String,
    who: String,
    asked: Vec<&'static str>,
    problems: Vec<ConfigProblem>,
}

impl<'a> Settings<'a> {
    pub(crate) fn new(map: &'a BTreeMap<String, String>, prefix: String, who: String) -> Self {
        Settings {
            map,
            prefix,
            who,
            asked: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// The value of sub-key `name` as given.
    pub(crate) fn raw(&mut self, name: &'static str) -> Option<&'a str> {
        if !self.asked.contains(&name) {
            self.asked.push(name);
        }
        self.map
            .get(&format!("{}{name}", self.prefix))
            .map(String::as_str)
    }

    /// The trimmed value, `None` when absent or blank.
    pub(crate) fn string(&mut self, name: &'static str) -> Option<String> {
        self.raw(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// Like [`Settings::string`], recording an error when absent.
    pub(crate) fn required(&mut self, name: &'static str) -> Option<String> {
        let v = self.string(name);
        if v.is_none() {
            self.error(name, "is required");
        }
        v
    }

    /// A comma-separated list, trimmed, blanks dropped.
    pub(crate) fn list(&mut self, name: &'static str) -> Vec<String> {
        self.raw(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A `true`/`false` value (any case).
    pub(crate) fn bool(&mut self, name: &'static str, default: bool) -> bool {
        match self.string(name) {
            None => default,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(_) => {
                self.error(name, "must be true or false");
                default
            }
        }
    }

    /// `replace.null.with.default`: the converter has already put schema defaults in
    /// place of nulls, which is what `true` (Connect's default) asks; `false` cannot
    /// be honoured and is refused.
    pub(crate) fn replace_null_with_default(&mut self) {
        if !self.bool("replace.null.with.default", true) {
            self.error(
                "replace.null.with.default",
                "false is not supported: the converter already replaces a null with the field's schema default before transforms run",
            );
        }
    }

    /// Records a problem with sub-key `name`.
    pub(crate) fn error(&mut self, name: &str, message: impl AsRef<str>) {
        self.problems.push(ConfigProblem {
            key: format!("{}{name}", self.prefix),
            message: format!("{}: {}", self.who, message.as_ref()),
        });
    }

    /// True when a problem was recorded.
    pub(crate) fn failed(&self) -> bool {
        !self.problems.is_empty()
    }

    /// Refuses every sub-key that was not read, then hands the problems over.
    pub(crate) fn finish(mut self, fixed: &[&'static str], out: &mut Vec<ConfigProblem>) {
        let known: Vec<&str> = fixed.iter().chain(self.asked.iter()).copied().collect();
        let unknown: Vec<String> = self
            .map
            .range(self.prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&self.prefix))
            .map(|(k, _)| k[self.prefix.len()..].to_string())
            .filter(|sub| !known.contains(&sub.as_str()))
            .collect();
        for sub in unknown {
            let mut accepted: Vec<&str> = known.clone();
            accepted.sort_unstable();
            self.error(
                &sub,
                format!(
                    "is not a key of this class; its keys are {}",
                    accepted.join(", ")
                ),
            );
        }
        out.append(&mut self.problems);
    }
}

/// How messages name a transform or predicate: `transform rename (its.Class)`.
fn who(kind: &str, alias: &str, class: &str) -> String {
    if class.is_empty() {
        format!("{kind} {alias}")
    } else {
        format!("{kind} {alias} ({class})")
    }
}

/// The aliases of `key` (`transforms` or `predicates`), refusing duplicates.
fn aliases(
    map: &BTreeMap<String, String>,
    key: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for alias in map
        .get(key)
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()))
        .into_iter()
        .flatten()
    {
        if seen.insert(alias) {
            out.push(alias.to_string());
        } else {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message: format!("alias {alias} is listed twice; aliases must be unique"),
            });
        }
    }
    out
}

/// The supported class names, for messages.
fn supported_transforms() -> String {
    let mut names: Vec<String> = KEY_VALUE_TRANSFORMS
        .iter()
        .flat_map(|t| [format!("{t}$Key"), format!("{t}$Value")])
        .chain(PLAIN_TRANSFORMS.iter().map(|t| t.to_string()))
        .collect();
    names.sort();
    format!("{TRANSFORMS_PACKAGE}{{{}}}", names.join(", "))
}

/// Builds the transform named by `class`, or says why it cannot.
fn build_step(class: &str, s: &mut Settings<'_>) -> Result<Option<Step>, String> {
    let Some(short) = class.strip_prefix(TRANSFORMS_PACKAGE) else {
        return Err(format!(
            "{class} is not a transform built into sobject-sink (no plugins are loaded); the built-in transforms are {}",
            supported_transforms()
        ));
    };
    let (family, variant) = match short.split_once('$') {
        Some((f, v)) => (f, Some(v)),
        None => (short, None),
    };
    let part = match variant {
        Some("Key") => Some(Part::Key),
        Some("Value") => Some(Part::Value),
        Some(_) => None,
        None => None,
    };
    if KEY_VALUE_TRANSFORMS.contains(&family) {
        let Some(part) = part else {
            return Err(format!(
                "{class} is not a transform class; use {TRANSFORMS_PACKAGE}{family}$Key or {TRANSFORMS_PACKAGE}{family}$Value"
            ));
        };
        return Ok(match family {
            "ReplaceField" => ReplaceField::configure(s).map(|t| Step::ReplaceField(part, t)),
            "InsertField" => InsertField::configure(s).map(|t| Step::InsertField(part, t)),
            "MaskField" => MaskField::configure(s).map(|t| Step::MaskField(part, t)),
            "Cast" => Cast::configure(s).map(|t| Step::Cast(part, t)),
            "TimestampConverter" => {
                TimestampConverter::configure(s).map(|t| Step::TimestampConverter(part, t))
            }
            "ExtractField" => ExtractField::configure(s).map(|t| Step::ExtractField(part, t)),
            "HoistField" => HoistField::configure(s).map(|t| Step::HoistField(part, t)),
            _ => Flatten::configure(s).map(|t| Step::Flatten(part, t)),
        });
    }
    match (family, variant) {
        ("ValueToKey", None) => Ok(ValueToKey::configure(s).map(Step::ValueToKey)),
        ("Filter", None) => Ok(Some(Step::Filter)),
        _ => Err(format!(
            "{class} is not a transform built into sobject-sink; the built-in transforms are {}",
            supported_transforms()
        )),
    }
}

/// Reads every predicate alias into its predicate (`None` for one with problems).
fn read_predicates(
    map: &BTreeMap<String, String>,
    problems: &mut Vec<ConfigProblem>,
) -> BTreeMap<String, Option<Predicate>> {
    let mut out = BTreeMap::new();
    for alias in aliases(map, "predicates", problems) {
        let prefix = format!("predicates.{alias}.");
        let type_key = format!("{prefix}type");
        let class = map.get(&type_key).map(|v| v.trim()).unwrap_or_default();
        let mut s = Settings::new(map, prefix, who("predicate", &alias, class));
        let predicate = if class.is_empty() {
            s.error("type", "is required: the predicate's class name");
            None
        } else {
            match Predicate::configure(class, &mut s) {
                Ok(p) => p.filter(|_| !s.failed()),
                Err(message) => {
                    s.error("type", message);
                    None
                }
            }
        };
        s.finish(&["type"], problems);
        out.insert(alias, predicate);
    }
    out
}

/// Keys under `prefix` that belong to no alias in `aliases` are refused: an alias
/// that is configured but not listed would otherwise be silently unused.
fn refuse_unlisted(
    map: &BTreeMap<String, String>,
    root: &str,
    aliases: &[String],
    problems: &mut Vec<ConfigProblem>,
) {
    let prefix = format!("{root}.");
    for key in map.keys().filter(|k| k.starts_with(&prefix)) {
        let rest = &key[prefix.len()..];
        let listed = aliases.iter().any(|a| {
            rest.len() > a.len() && rest.starts_with(a.as_str()) && rest[a.len()..].starts_with('.')
        });
        if !listed {
            problems.push(ConfigProblem {
                key: key.clone(),
                message: format!(
                    "belongs to no alias listed in {root}; add the alias to {root} or remove the key"
                ),
            });
        }
    }
}

/// Reads the transform chain of a connector configuration.
pub fn read(map: &BTreeMap<String, String>) -> Result<TransformChain, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let predicates = read_predicates(map, &mut problems);
    let predicate_aliases: Vec<String> = predicates.keys().cloned().collect();
    refuse_unlisted(map, "predicates", &predicate_aliases, &mut problems);

    let transform_aliases = aliases(map, "transforms", &mut problems);
    refuse_unlisted(map, "transforms", &transform_aliases, &mut problems);
    let mut stages = Vec::with_capacity(transform_aliases.len());
    for alias in &transform_aliases {
        let prefix = format!("transforms.{alias}.");
        let class = map
            .get(&format!("{prefix}type"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default();
        let mut s = Settings::new(map, prefix, who("transform", alias, &class));
        let condition = match s.string("predicate") {
            Some(name) => {
                let negate = s.bool("negate", false);
                match predicates.get(&name) {
                    Some(Some(predicate)) => Some(Condition {
                        predicate: predicate.clone(),
                        negate,
                    }),
                    // Its own problems are already reported.
                    Some(None) => None,
                    None => {
                        s.error(
                            "predicate",
                            format!("predicate {name} is not listed in predicates"),
                        );
                        None
                    }
                }
            }
            None => {
                if s.raw("negate").is_some() {
                    s.error(
                        "negate",
                        "is set, but there is no predicate to negate (set transforms.<alias>.predicate)",
                    );
                }
                None
            }
        };
        let step = if class.is_empty() {
            s.error("type", "is required: the transform's class name");
            None
        } else {
            match build_step(&class, &mut s) {
                Ok(step) => step,
                Err(message) => {
                    s.error("type", message);
                    None
                }
            }
        };
        let failed = s.failed();
        s.finish(&["type", "predicate", "negate"], &mut problems);
        if let (Some(step), false) = (step, failed) {
            stages.push(Stage {
                alias: alias.clone(),
                class,
                step,
                condition,
            });
        }
    }
    if problems.is_empty() {
        Ok(TransformChain::new(stages))
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::string_map as map;

    fn problems(pairs: &[(&str, &str)]) -> Vec<ConfigProblem> {
        read(&map(pairs)).expect_err("should be refused")
    }

    fn messages_for<'p>(p: &'p [ConfigProblem], key: &str) -> Vec<&'p str> {
        p.iter()
            .filter(|e| e.key == key)
            .map(|e| e.message.as_str())
            .collect()
    }

    #[test]
    fn no_transforms_is_an_empty_chain() {
        let chain = read(&map(&[("name", "x")])).unwrap();
        assert!(chain.is_empty());
        assert!(!chain.reads_key() && !chain.needs_header_keys());
    }

    #[test]
    fn a_full_chain_reads_in_order() {
        let chain = read(&map(&[
            ("transforms", "rename, drop ,stamp"),
            (
                "transforms.rename.type",
                "org.apache.kafka.connect.transforms.ReplaceField$Value",
            ),
            ("transforms.rename.renames", "a:b"),
            (
                "transforms.drop.type",
                "org.apache.kafka.connect.transforms.Filter",
            ),
            ("transforms.drop.predicate", "hdr"),
            ("transforms.drop.negate", "true"),
            (
                "transforms.stamp.type",
                "org.apache.kafka.connect.transforms.InsertField$Key",
            ),
            ("transforms.stamp.topic.field", "t"),
            ("predicates", "hdr"),
            (
                "predicates.hdr.type",
                "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
            ),
            ("predicates.hdr.name", "keep"),
        ]))
        .unwrap();
        assert_eq!(chain.aliases(), ["rename", "drop", "stamp"]);
        assert!(chain.reads_key());
        assert!(chain.needs_header_keys());
    }

    #[test]
    fn a_class_that_is_not_built_in_is_refused_naming_alias_and_class() {
        for class in [
            "io.debezium.transforms.ExtractNewRecordState",
            "org.apache.kafka.connect.transforms.RegexRouter",
            "org.apache.kafka.connect.transforms.ValueToKey$Value",
        ] {
            let p = problems(&[("transforms", "unwrap"), ("transforms.unwrap.type", class)]);
            let m = messages_for(&p, "transforms.unwrap.type");
            assert_eq!(m.len(), 1, "{p:?}");
            assert!(
                m[0].contains("transform unwrap") && m[0].contains(class),
                "{m:?}"
            );
            assert!(
                m[0].contains("ReplaceField$Value"),
                "lists what is supported: {m:?}"
            );
        }
        let p = problems(&[
            ("transforms", "r"),
            (
                "transforms.r.type",
                "org.apache.kafka.connect.transforms.ReplaceField",
            ),
        ]);
        assert!(messages_for(&p, "transforms.r.type")[0].contains("ReplaceField$Key or"));
    }

    #[test]
    fn a_missing_type_and_unlisted_keys_are_refused() {
        let p = problems(&[("transforms", "a"), ("transforms.b.type", "x")]);
        assert_eq!(
            messages_for(&p, "transforms.a.type"),
            ["transform a: is required: the transform's class name"]
        );
        assert!(messages_for(&p, "transforms.b.type")[0].contains("belongs to no alias"));
    }

    #[test]
    fn unknown_sub_keys_are_refused_with_the_class_keys() {
        let p = problems(&[
            ("transforms", "m"),
            (
                "transforms.m.type",
                "org.apache.kafka.connect.transforms.MaskField$Value",
            ),
            ("transforms.m.fields", "a"),
            ("transforms.m.replacment", "x"),
        ]);
        let m = messages_for(&p, "transforms.m.replacment");
        assert_eq!(m.len(), 1, "{p:?}");
        assert!(
            m[0].contains("MaskField$Value") && m[0].contains("replacement"),
            "{m:?}"
        );
    }

    #[test]
    fn predicates_must_exist_and_negate_needs_one() {
        let p = problems(&[
            ("transforms", "f"),
            (
                "transforms.f.type",
                "org.apache.kafka.connect.transforms.Filter",
            ),
            ("transforms.f.predicate", "nope"),
        ]);
        assert!(messages_for(&p, "transforms.f.predicate")[0].contains("nope is not listed"));
        let p = problems(&[
            ("transforms", "f"),
            (
                "transforms.f.type",
                "org.apache.kafka.connect.transforms.Filter",
            ),
            ("transforms.f.negate", "true"),
        ]);
        assert!(messages_for(&p, "transforms.f.negate")[0].contains("no predicate"));
        let p = problems(&[
            ("predicates", "p"),
            (
                "predicates.p.type",
                "org.apache.kafka.connect.transforms.predicates.Nope",
            ),
        ]);
        let m = messages_for(&p, "predicates.p.type");
        assert!(
            m[0].contains("predicate p") && m[0].contains("Nope"),
            "{m:?}"
        );
        let p = problems(&[
            ("predicates", "p"),
            (
                "predicates.p.type",
                "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            ),
            ("predicates.p.pattern", "(unclosed"),
        ]);
        assert!(messages_for(&p, "predicates.p.pattern")[0].contains("regular expression"));
    }

    #[test]
    fn duplicate_aliases_are_refused() {
        let p = problems(&[
            ("transforms", "f,f"),
            (
                "transforms.f.type",
                "org.apache.kafka.connect.transforms.Filter",
            ),
        ]);
        assert!(messages_for(&p, "transforms")[0].contains("listed twice"));
    }

    #[test]
    fn replace_null_with_default_false_is_refused() {
        let p = problems(&[
            ("transforms", "c"),
            (
                "transforms.c.type",
                "org.apache.kafka.connect.transforms.Cast$Value",
            ),
            ("transforms.c.spec", "a:int32"),
            ("transforms.c.replace.null.with.default", "false"),
        ]);
        assert_eq!(
            messages_for(&p, "transforms.c.replace.null.with.default").len(),
            1
        );
        let ok = read(&map(&[
            ("transforms", "c"),
            (
                "transforms.c.type",
                "org.apache.kafka.connect.transforms.Cast$Value",
            ),
            ("transforms.c.spec", "a:int32"),
            ("transforms.c.replace.null.with.default", "true"),
        ]));
        assert!(ok.is_ok(), "{ok:?}");
    }
}
