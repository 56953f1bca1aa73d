//! Config providers, as Kafka has them: connector values may hold placeholders such as
//! `${file:/etc/sink/secrets.properties:sf.password}`, `${dir:/run/secrets:sf-secret}`
//! or `${env:SF_PASSWORD}`, resolved only when a task starts. The config topic, the
//! REST answers and the logs keep the placeholder, so the secret itself is stored
//! nowhere but where the operator put it.
//!
//! The worker file names the providers with Kafka's keys and class names:
//! `config.providers=file,dir,env`, `config.providers.<alias>.class=` one of
//! `org.apache.kafka.common.config.provider.FileConfigProvider`, `DirectoryConfigProvider`
//! or `EnvVarConfigProvider`, and their parameters
//! `config.providers.<alias>.param.allowed.paths` (file and directory) and
//! `config.providers.<alias>.param.allowlist.pattern` (environment). A placeholder is
//! `${<alias>:<path>:<key>}`, or `${<alias>:<key>}` without a path (environment).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::connector::{is_password_key, shown_value};

/// Kafka's class of the properties-file provider.
pub const FILE_PROVIDER_CLASS: &str = "org.apache.kafka.common.config.provider.FileConfigProvider";
/// Kafka's class of the directory-of-files provider.
pub const DIRECTORY_PROVIDER_CLASS: &str =
    "org.apache.kafka.common.config.provider.DirectoryConfigProvider";
/// Kafka's class of the environment-variable provider.
pub const ENV_PROVIDER_CLASS: &str = "org.apache.kafka.common.config.provider.EnvVarConfigProvider";

/// Why a placeholder could not be resolved. Messages name the connector key and the
/// placeholder, never a resolved value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The placeholder names a provider alias the worker file does not configure.
    #[error("{key}: {placeholder} names config provider '{alias}', which the worker does not configure (config.providers)")]
    UnknownProvider {
        /// Connector key.
        key: String,
        /// The placeholder text.
        placeholder: String,
        /// The alias.
        alias: String,
    },
    /// The file, directory entry or variable cannot be read, or lacks the key.
    #[error("{key}: {placeholder} cannot be resolved: {reason}")]
    Unresolved {
        /// Connector key.
        key: String,
        /// The placeholder text.
        placeholder: String,
        /// What is missing or refused.
        reason: String,
    },
}

/// One configured provider.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Provider {
    /// Values are keys of a `.properties` file (the placeholder's path).
    File { allowed: Option<Vec<PathBuf>> },
    /// Values are whole files of a directory (the path), named by the key.
    Directory { allowed: Option<Vec<PathBuf>> },
    /// Values are environment variables whose names match the allowlist.
    Env { allowlist: String },
}

/// The providers a worker file configures, by alias.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigProviders {
    providers: BTreeMap<String, Provider>,
}

/// A placeholder found in a value: its byte range and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placeholder<'a> {
    start: usize,
    end: usize,
    alias: &'a str,
    path: Option<&'a str>,
    key: &'a str,
}

/// The placeholders of `value`, in order: `${alias:key}` or `${alias:path:key}`, where
/// no part contains `}` and the alias no `:`.
fn placeholders(value: &str) -> Vec<Placeholder<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(rel) = value[from..].find("${") {
        let start = from + rel;
        let Some(close_rel) = value[start + 2..].find('}') else {
            break;
        };
        let end = start + 2 + close_rel + 1;
        let body = &value[start + 2..end - 1];
        from = start + 2;
        let Some((alias, rest)) = body.split_once(':') else {
            continue;
        };
        if alias.is_empty() {
            continue;
        }
        let (path, key) = match rest.rsplit_once(':') {
            Some((p, k)) => (Some(p), k),
            None => (None, rest),
        };
        out.push(Placeholder {
            start,
            end,
            alias,
            path,
            key,
        });
        from = end;
    }
    out
}

/// True when `value` holds at least one placeholder.
pub fn has_placeholder(value: &str) -> bool {
    !placeholders(value).is_empty()
}

/// The map as REST answers show it: credentials hidden, except a value made only of
/// placeholders, which is shown as written (it holds no secret, and an operator
/// editing the configuration needs to see where the secret comes from).
pub fn redacted_map(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| {
            let shown = if is_password_key(k) && only_placeholders(v) {
                v.clone()
            } else {
                shown_value(k, v)
            };
            (k.clone(), shown)
        })
        .collect()
}

fn only_placeholders(value: &str) -> bool {
    let found = placeholders(value);
    if found.is_empty() {
        return false;
    }
    let mut at = 0;
    for p in &found {
        if !value[at..p.start].trim().is_empty() {
            return false;
        }
        at = p.end;
    }
    value[at..].trim().is_empty()
}

/// Removes `.` and resolves `..` without touching the file system (as Java's
/// `Path.normalize` does).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn read_allowed(
    map: &BTreeMap<String, String>,
    key: &str,
    errors: &mut Vec<(String, String)>,
) -> Option<Vec<PathBuf>> {
    let raw = map.get(key)?;
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let p = Path::new(item);
        if !p.is_absolute() {
            errors.push((key.to_string(), format!("{item} is not an absolute path")));
        }
        out.push(normalize(p));
    }
    Some(out)
}

impl ConfigProviders {
    /// Reads `config.providers` and the `config.providers.*` keys of a worker map.
    /// Returns the problems as `(key, message)` pairs.
    pub fn from_worker(map: &BTreeMap<String, String>) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let aliases: Vec<String> = map
            .get("config.providers")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut providers = BTreeMap::new();
        for alias in &aliases {
            let class_key = format!("config.providers.{alias}.class");
            let param = |name: &str| format!("config.providers.{alias}.param.{name}");
            let provider = match map.get(&class_key).map(|c| c.trim()) {
                Some(FILE_PROVIDER_CLASS) => Provider::File {
                    allowed: read_allowed(map, &param("allowed.paths"), &mut errors),
                },
                Some(DIRECTORY_PROVIDER_CLASS) => Provider::Directory {
                    allowed: read_allowed(map, &param("allowed.paths"), &mut errors),
                },
                Some(ENV_PROVIDER_CLASS) => {
                    let key = param("allowlist.pattern");
                    let pattern = map.get(&key).cloned().unwrap_or_else(|| ".*".into());
                    if let Err(e) = regex::Regex::new(&format!("^(?:{pattern})$")) {
                        errors.push((key, format!("is not a regular expression: {e}")));
                    }
                    Provider::Env { allowlist: pattern }
                }
                Some(other) => {
                    errors.push((
                        class_key,
                        format!("{other} is not a built-in config provider; use {FILE_PROVIDER_CLASS}, {DIRECTORY_PROVIDER_CLASS} or {ENV_PROVIDER_CLASS}"),
                    ));
                    continue;
                }
                None => {
                    errors.push((
                        class_key,
                        format!("is required: config.providers lists {alias}"),
                    ));
                    continue;
                }
            };
            providers.insert(alias.clone(), provider);
        }
        // Every other config.providers.* key must belong to a listed provider and be
        // a parameter that provider has.
        for key in map.keys().filter(|k| k.starts_with("config.providers.")) {
            let rest = &key["config.providers.".len()..];
            let known = aliases.iter().any(|alias| {
                let Some(after) = rest.strip_prefix(alias.as_str()) else {
                    return false;
                };
                matches!(
                    (after, providers.get(alias)),
                    (".class", _)
                        | (
                            ".param.allowed.paths",
                            Some(Provider::File { .. } | Provider::Directory { .. })
                        )
                        | (".param.allowlist.pattern", Some(Provider::Env { .. }))
                )
            });
            if !known {
                errors.push((
                    key.clone(),
                    "unknown key: not the class or a parameter of a provider listed in config.providers (FileConfigProvider and DirectoryConfigProvider take param.allowed.paths, EnvVarConfigProvider param.allowlist.pattern)".to_string(),
                ));
            }
        }
        if errors.is_empty() {
            Ok(ConfigProviders { providers })
        } else {
            Err(errors)
        }
    }

    /// Replaces every placeholder of every value; fails on the first one that cannot
    /// be resolved.
    pub fn resolve(
        &self,
        map: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        let mut files: BTreeMap<PathBuf, BTreeMap<String, String>> = BTreeMap::new();
        let mut out = BTreeMap::new();
        for (key, value) in map {
            let found = placeholders(value);
            if found.is_empty() {
                out.insert(key.clone(), value.clone());
                continue;
            }
            let mut resolved = String::with_capacity(value.len());
            let mut at = 0;
            for p in found {
                resolved.push_str(&value[at..p.start]);
                resolved.push_str(&self.lookup(key, value, &p, &mut files)?);
                at = p.end;
            }
            resolved.push_str(&value[at..]);
            out.insert(key.clone(), resolved);
        }
        Ok(out)
    }

    /// Like [`Self::resolve`], but a value whose placeholder cannot be resolved is
    /// kept as written: for validating a configuration whose secrets may exist only
    /// on the workers that run its tasks.
    pub fn resolve_where_possible(
        &self,
        map: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        map.iter()
            .map(|(k, v)| {
                let one: BTreeMap<String, String> = [(k.clone(), v.clone())].into_iter().collect();
                let shown = self
                    .resolve(&one)
                    .ok()
                    .and_then(|mut m| m.remove(k))
                    .unwrap_or_else(|| v.clone());
                (k.clone(), shown)
            })
            .collect()
    }

    fn lookup(
        &self,
        key: &str,
        value: &str,
        p: &Placeholder<'_>,
        files: &mut BTreeMap<PathBuf, BTreeMap<String, String>>,
    ) -> Result<String, ProviderError> {
        let placeholder = value[p.start..p.end].to_string();
        let unresolved = |reason: String| ProviderError::Unresolved {
            key: key.to_string(),
            placeholder: placeholder.clone(),
            reason,
        };
        let provider =
            self.providers
                .get(p.alias)
                .ok_or_else(|| ProviderError::UnknownProvider {
                    key: key.to_string(),
                    placeholder: placeholder.clone(),
                    alias: p.alias.to_string(),
                })?;
        match provider {
            Provider::File { allowed } => {
                let path = p.path.filter(|s| !s.is_empty()).ok_or_else(|| {
                    unresolved("the file provider needs ${alias:PATH:KEY}".into())
                })?;
                let path =
                    check_allowed(Path::new(path), allowed.as_deref()).map_err(unresolved)?;
                if !files.contains_key(&path) {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| unresolved(format!("cannot read {}: {e}", path.display())))?;
                    let parsed = super::properties::parse_map(&text).map_err(|e| {
                        unresolved(format!("{} is not a properties file: {e}", path.display()))
                    })?;
                    files.insert(path.clone(), parsed);
                }
                files
                    .get(&path)
                    .and_then(|m| m.get(p.key))
                    .cloned()
                    .ok_or_else(|| unresolved(format!("{} has no key {}", path.display(), p.key)))
            }
            Provider::Directory { allowed } => {
                let dir = p.path.filter(|s| !s.is_empty()).ok_or_else(|| {
                    unresolved("the directory provider needs ${alias:DIR:FILE}".into())
                })?;
                let dir = check_allowed(Path::new(dir), allowed.as_deref()).map_err(unresolved)?;
                let name = Path::new(p.key);
                if p.key.is_empty()
                    || name.components().count() != 1
                    || !matches!(name.components().next(), Some(Component::Normal(_)))
                {
                    return Err(unresolved(format!(
                        "{} is not a file name within {}",
                        p.key,
                        dir.display()
                    )));
                }
                let file = dir.join(name);
                if !file.is_file() {
                    return Err(unresolved(format!("{} is not a file", file.display())));
                }
                std::fs::read_to_string(&file)
                    .map_err(|e| unresolved(format!("cannot read {}: {e}", file.display())))
            }
            Provider::Env { allowlist } => {
                if p.path.is_some_and(|s| !s.is_empty()) {
                    return Err(unresolved(
                        "the environment provider takes no path: write ${alias:NAME}".into(),
                    ));
                }
                let allowed = regex::Regex::new(&format!("^(?:{allowlist})$"))
                    .map(|re| re.is_match(p.key))
                    .unwrap_or(false);
                if !allowed {
                    return Err(unresolved(format!(
                        "{} does not match the provider's allowlist.pattern",
                        p.key
                    )));
                }
                std::env::var(p.key)
                    .map_err(|_| unresolved(format!("environment variable {} is not set", p.key)))
            }
        }
    }
}

/// The normalized path, if `allowed` (when set) contains it.
fn check_allowed(path: &Path, allowed: Option<&[PathBuf]>) -> Result<PathBuf, String> {
    let normalized = normalize(path);
    match allowed {
        None => Ok(normalized),
        Some(list) if list.iter().any(|a| normalized.starts_with(a)) => Ok(normalized),
        Some(_) => Err(format!(
            "{} is outside the provider's allowed.paths",
            normalized.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::HIDDEN;
    use crate::config::string_map as map;

    fn providers(extra: &[(&str, &str)]) -> ConfigProviders {
        let mut m = map(&[
            ("config.providers", "file,dir,env"),
            ("config.providers.file.class", FILE_PROVIDER_CLASS),
            ("config.providers.dir.class", DIRECTORY_PROVIDER_CLASS),
            ("config.providers.env.class", ENV_PROVIDER_CLASS),
        ]);
        m.extend(map(extra));
        ConfigProviders::from_worker(&m).expect("providers")
    }

    #[test]
    fn each_provider_resolves_its_placeholders() {
        let dir = tempfile::tempdir().unwrap();
        let props = dir.path().join("secrets.properties");
        std::fs::write(&props, "sf.password=pw-from-file\nother=x\n").unwrap();
        std::fs::write(dir.path().join("client-secret"), "cs-from-dir").unwrap();
        std::env::set_var("PROVIDERS_TEST_TOKEN", "tok-from-env");
        let p = providers(&[]);
        let connector = map(&[
            (
                "salesforce.password",
                &format!("${{file:{}:sf.password}}", props.display()),
            ),
            (
                "salesforce.consumer.secret",
                &format!("${{dir:{}:client-secret}}", dir.path().display()),
            ),
            (
                "salesforce.password.token",
                "pre-${env:PROVIDERS_TEST_TOKEN}-post",
            ),
            ("topics", "plain"),
        ]);
        let out = p.resolve(&connector).unwrap();
        assert_eq!(out["salesforce.password"], "pw-from-file");
        assert_eq!(out["salesforce.consumer.secret"], "cs-from-dir");
        assert_eq!(out["salesforce.password.token"], "pre-tok-from-env-post");
        assert_eq!(out["topics"], "plain");
    }

    #[test]
    fn failures_name_the_key_and_placeholder_never_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let props = dir.path().join("s.properties");
        std::fs::write(&props, "present=the-secret-value\n").unwrap();
        let p = providers(&[("config.providers.env.param.allowlist.pattern", "SF_.*")]);
        let cases = [
            format!("${{file:{}:absent}}", props.display()),
            format!("${{file:{}/nope.properties:present}}", dir.path().display()),
            format!("${{dir:{}:../s.properties}}", dir.path().display()),
            "${env:PROVIDERS_TEST_SURELY_UNSET_VARIABLE}".to_string(),
            "${vault:secret/data:pw}".to_string(),
        ];
        for placeholder in cases {
            let e = p
                .resolve(&map(&[("salesforce.password", &placeholder)]))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("salesforce.password: "), "{e}");
            assert!(e.contains(&placeholder), "{e}");
            assert!(!e.contains("the-secret-value"), "{e}");
        }
    }

    #[test]
    fn allowed_paths_confine_the_file_provider() {
        let dir = tempfile::tempdir().unwrap();
        let props = dir.path().join("s.properties");
        std::fs::write(&props, "k=v\n").unwrap();
        let inside = providers(&[(
            "config.providers.file.param.allowed.paths",
            &dir.path().display().to_string(),
        )]);
        let value = format!("${{file:{}:k}}", props.display());
        assert_eq!(inside.resolve(&map(&[("a", &value)])).unwrap()["a"], "v");
        let outside = providers(&[(
            "config.providers.file.param.allowed.paths",
            "/nonexistent/only",
        )]);
        let e = outside.resolve(&map(&[("a", &value)])).unwrap_err();
        assert!(e.to_string().contains("allowed.paths"), "{e}");
    }

    #[test]
    fn worker_keys_are_checked() {
        let e = ConfigProviders::from_worker(&map(&[
            ("config.providers", "file,vault"),
            ("config.providers.file.class", FILE_PROVIDER_CLASS),
            ("config.providers.file.param.allowlist.pattern", ".*"),
            (
                "config.providers.vault.class",
                "com.example.VaultConfigProvider",
            ),
            ("config.providers.other.class", FILE_PROVIDER_CLASS),
        ]))
        .unwrap_err();
        let keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"config.providers.vault.class"), "{e:?}");
        assert!(
            keys.contains(&"config.providers.file.param.allowlist.pattern"),
            "{e:?}"
        );
        assert!(keys.contains(&"config.providers.other.class"), "{e:?}");
    }

    #[test]
    fn rest_answers_show_placeholders_and_hide_secrets() {
        let shown = redacted_map(&map(&[
            ("salesforce.password", "${env:SF_PASSWORD}"),
            ("salesforce.consumer.secret", "literal-secret"),
            ("salesforce.password.token", "x${env:T}"),
        ]));
        assert_eq!(shown["salesforce.password"], "${env:SF_PASSWORD}");
        assert_eq!(shown["salesforce.consumer.secret"], HIDDEN);
        assert_eq!(shown["salesforce.password.token"], HIDDEN);
    }
}
