//! Settings as one concept. `ghoststream_types::SETTING_FIELDS` (the `settings!` list in
//! the types crate) names each setting's wire field, configuration key, environment
//! variable and when it applies; this module reads a [`Settings`] from a [`Config`],
//! applies one to a `Config`, writes it to the file (keeping every other key, and never
//! the values only the environment sets) and reports what changed, all by walking that
//! table. Adding a setting is one line there plus its test.

use ghoststream_engine::Config;
use ghoststream_types::{Codec, Input, SettingField, Settings, Takes, SETTING_FIELDS};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `$XDG_CONFIG_HOME/ghoststream/ghoststream.toml`, or `~/.config/…`.
pub fn default_config_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("ghoststream").join("ghoststream.toml")
}

fn get<'a>(tree: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(tree, |v, k| v.get(k))
}

fn set(tree: &mut Value, key: &str, value: Value) {
    let mut v = tree;
    for k in key.split('.') {
        if !v.is_object() {
            *v = Value::Object(Default::default());
        }
        let Value::Object(map) = v else {
            unreachable!("made an object above")
        };
        v = map.entry(k.to_string()).or_insert(Value::Null);
    }
    *v = value;
}

/// The wire value as the configuration stores it (`null`: no value).
fn encode(f: &SettingField, wire: Value) -> Value {
    match (f.codec, wire) {
        (Codec::Flag { on, .. }, Value::String(s)) => Value::Bool(s == on),
        (_, Value::String(s)) if s.is_empty() => Value::Null,
        (_, v) => v,
    }
}

/// The configuration's value as the wire carries it.
fn decode(f: &SettingField, stored: Value) -> Value {
    match (f.codec, stored) {
        (Codec::Flag { on, off }, Value::Bool(b)) => Value::String(if b { on } else { off }.into()),
        (_, v) => v,
    }
}

fn wire(s: &Settings) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// The settings as a configuration has them.
pub fn from_config(c: &Config) -> Settings {
    let tree = serde_json::to_value(c).unwrap_or(Value::Null);
    let mut out = Value::Object(Default::default());
    for f in SETTING_FIELDS {
        let stored = get(&tree, f.key).cloned().unwrap_or(Value::Null);
        set(&mut out, f.name, decode(f, stored));
    }
    serde_json::from_value(out).unwrap_or_else(|e| {
        unreachable!("every setting's key holds its wire type (SETTING_FIELDS test): {e}")
    })
}

/// `c` with the values of `s`.
pub fn apply(c: &Config, s: &Settings) -> Result<Config, SettingsError> {
    let mut tree = serde_json::to_value(c).map_err(|e| SettingsError::Invalid(e.to_string()))?;
    let new = wire(s);
    for f in SETTING_FIELDS {
        let v = new.get(f.name).cloned().unwrap_or(Value::Null);
        set(&mut tree, f.key, encode(f, v));
    }
    serde_json::from_value(tree).map_err(|e| SettingsError::Invalid(e.to_string()))
}

/// The settings whose value differs between `old` and `new`: applied now, and waiting for
/// the next server start.
pub fn changes(old: &Settings, new: &Settings) -> (Vec<String>, Vec<String>) {
    let (a, b) = (wire(old), wire(new));
    let mut now = Vec::new();
    let mut restart = Vec::new();
    for f in SETTING_FIELDS
        .iter()
        .filter(|f| a.get(f.name) != b.get(f.name))
    {
        match f.takes {
            Takes::Now => now.push(f.name.to_string()),
            Takes::Restart => restart.push(f.name.to_string()),
        }
    }
    (now, restart)
}

/// The settings an environment variable sets: shown, and not written to the file unless
/// changed in the dashboard.
pub fn from_environment(vars: impl IntoIterator<Item = String>) -> Vec<&'static SettingField> {
    let vars: std::collections::HashSet<String> = vars.into_iter().collect();
    SETTING_FIELDS
        .iter()
        .filter(|f| vars.contains(&f.env_var()))
        .collect()
}

/// The settings of `locked` that `new` leaves as they were: those stay out of the file.
fn unchanged<'a>(
    old: &Settings,
    new: &Settings,
    locked: &[&'a SettingField],
) -> Vec<&'a SettingField> {
    let (a, b) = (wire(old), wire(new));
    locked
        .iter()
        .copied()
        .filter(|f| a.get(f.name) == b.get(f.name))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write {path}: {cause}")]
    Write { path: String, cause: String },
    #[error("cannot read {path}: {cause}")]
    Read { path: String, cause: String },
}

/// Checks values a person typed.
pub fn validate(s: &Settings) -> Result<(), SettingsError> {
    // Numbers stay in the range their form field allows (the schema's `Input::Number`).
    let values = wire(s);
    for f in SETTING_FIELDS {
        if let Input::Number { min, max } = f.input {
            let v = values.get(f.name).and_then(Value::as_u64).unwrap_or(0);
            if !(u64::from(min)..=u64::from(max)).contains(&v) {
                return Err(SettingsError::Invalid(format!(
                    "{} must be {min}–{max}",
                    f.label.to_lowercase()
                )));
            }
        }
    }
    if let Some(k) = &s.api_key {
        if !k.is_empty() && (k.len() < 8 || k.chars().any(|c| c.is_control() || c == ' ')) {
            return Err(SettingsError::Invalid(
                "an API key needs at least 8 characters and no spaces".into(),
            ));
        }
    }
    ghoststream_engine::schedule::validate(&s.schedule)
        .map_err(|e| SettingsError::Invalid(format!("schedule: {e}")))?;
    ghoststream_engine::egress::parse_allowed(&s.allowed_targets)
        .map_err(|e| SettingsError::Invalid(format!("allowed address: {e}")))?;
    for r in &s.library_roots {
        let p = Path::new(r);
        if !p.is_absolute() {
            return Err(SettingsError::Invalid(format!(
                "library root '{r}' must be an absolute path"
            )));
        }
        if !p.is_dir() {
            return Err(SettingsError::Invalid(format!(
                "library root '{r}' is not a folder"
            )));
        }
    }
    Ok(())
}

/// Reads the file at `path` (empty if missing), lets `change` edit it, and writes it back
/// atomically, keeping every key `change` does not touch.
fn edit(path: &Path, change: impl FnOnce(&mut toml::Table)) -> Result<(), SettingsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(SettingsError::Read {
                path: path.display().to_string(),
                cause: e.to_string(),
            })
        }
    };
    let mut doc: toml::Table = toml::from_str(&text).map_err(|e| SettingsError::Read {
        path: path.display().to_string(),
        cause: e.to_string(),
    })?;
    change(&mut doc);
    let out = toml::to_string_pretty(&doc).map_err(|e| SettingsError::Invalid(e.to_string()))?;
    let write_err = |e: std::io::Error| SettingsError::Write {
        path: path.display().to_string(),
        cause: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    // Write then rename, so a crash never leaves half a file.
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, out)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(write_err)
}

fn section<'a>(doc: &'a mut toml::Table, name: &str) -> &'a mut toml::Table {
    let v = doc
        .entry(name.to_string())
        .or_insert_with(|| toml::Value::Table(Default::default()));
    if !v.is_table() {
        *v = toml::Value::Table(Default::default());
    }
    match v {
        toml::Value::Table(t) => t,
        _ => unreachable!("replaced by a table above"),
    }
}

/// Writes `s` into the file at `path` (created if missing), keeping its other keys and
/// leaving out the settings in `locked` (those the environment sets).
pub fn save(path: &Path, s: &Settings, locked: &[&SettingField]) -> Result<(), SettingsError> {
    validate(s)?;
    let new = wire(s);
    let mut values = Vec::new();
    for f in SETTING_FIELDS.iter().filter(|f| !locked.contains(f)) {
        let v = encode(f, new.get(f.name).cloned().unwrap_or(Value::Null));
        let v = match v {
            Value::Null => None,
            v => Some(
                toml::Value::try_from(v)
                    .map_err(|e| SettingsError::Invalid(format!("{}: {e}", f.name)))?,
            ),
        };
        values.push((f.key, v));
    }
    edit(path, |doc| {
        for (key, v) in values {
            let (sect, name) = key.split_once('.').unwrap_or(("", key));
            let t = if sect.is_empty() {
                &mut *doc
            } else {
                section(doc, sect)
            };
            match v {
                Some(v) => t.insert(name.to_string(), v),
                None => t.remove(name),
            };
        }
    })
}

/// Saves `new` over `old` into the file at `path`. A value that came from the
/// environment and was not changed here stays out of the file; one the user changed is
/// written (the environment still wins at the next start, as always). Returns what
/// applies now and what at the next server start.
pub fn save_changes(
    path: &Path,
    old: &Settings,
    new: &Settings,
) -> Result<(Vec<String>, Vec<String>), SettingsError> {
    let locked = from_environment(std::env::vars().map(|(k, _)| k));
    save(path, new, &unchanged(old, new, &locked))?;
    Ok(changes(old, new))
}

/// Stores (or clears) `discovery.ghosthub_url`, keeping every other key.
pub fn save_ghosthub(path: &Path, url: Option<&str>) -> Result<(), SettingsError> {
    edit(path, |doc| {
        let d = section(doc, "discovery");
        match url {
            Some(u) => d.insert("ghosthub_url".into(), toml::Value::String(u.into())),
            None => d.remove("ghosthub_url"),
        };
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ghoststream_types::{HwPreference, TokensSetting};

    #[test]
    // Settings added later take their defaults here.
    #[allow(clippy::needless_update)]
    fn round_trip_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(
            &path,
            "[server]\nhost = \"127.0.0.1\"\n[transcoding]\nsegment_duration = 6\n",
        )
        .unwrap();
        let root = dir.path().to_str().unwrap().to_string();
        let s = Settings {
            port: 9100,
            max_concurrent_jobs: 3,
            hw_preference: HwPreference::Software,
            job_tokens: TokensSetting::Open,
            api_key: Some("long-enough-key".into()),
            library_roots: vec![root.clone()],
            allowed_targets: vec!["127.0.0.1".into(), "fd00::/8".into()],
            start_at_login: true,
            ..from_config(&Config::default())
        };
        save(&path, &s, &[]).unwrap();
        let c = Config::load(Some(&path), vec![], &[]).unwrap();
        assert_eq!(from_config(&c), s);
        assert_eq!(c.server.host, "127.0.0.1");
        assert_eq!(c.transcoding.segment_duration, 6.0);
        // Clearing the key removes it.
        save(
            &path,
            &Settings {
                api_key: None,
                ..s.clone()
            },
            &[],
        )
        .unwrap();
        let c = Config::load(Some(&path), vec![], &[]).unwrap();
        assert_eq!(c.security.api_key, None);
    }

    #[test]
    fn every_setting_names_a_key_of_its_type() {
        let c = Config::default();
        let s = from_config(&c);
        assert_eq!(s.port, c.server.port);
        assert_eq!(s.max_concurrent_jobs, c.transcoding.max_concurrent_jobs);
        assert_eq!(s.hw_preference, HwPreference::Auto);
        assert!(!s.start_at_login);
        let changed = Settings {
            port: 9100,
            max_concurrent_jobs: 5,
            hw_preference: HwPreference::Software,
            start_at_login: true,
            ..s.clone()
        };
        let c2 = apply(&c, &changed).unwrap();
        assert_eq!(c2.server.port, 9100);
        assert!(!c2.hardware.prefer_hw_accel);
        assert!(c2.desktop.start_at_login);
        assert_eq!(from_config(&c2), changed);
        let (now, restart) = changes(&s, &changed);
        assert_eq!(
            now,
            ["max_concurrent_jobs", "hw_preference", "start_at_login"]
        );
        assert_eq!(restart, ["port"]);
    }

    #[test]
    fn the_queue_length_is_set_for_the_next_start() {
        let c = Config::default();
        let s = from_config(&c);
        assert_eq!(s.max_queue_size, 20);
        let new = Settings {
            max_queue_size: 50,
            ..s.clone()
        };
        assert_eq!(changes(&s, &new), (vec![], vec!["max_queue_size".into()]));
        assert_eq!(apply(&c, &new).unwrap().transcoding.max_queue_size, 50);
        let zero = Settings {
            max_queue_size: 0,
            ..s
        };
        assert!(validate(&zero).unwrap_err().to_string().contains("1–1000"));
    }

    #[test]
    fn values_from_the_environment_are_never_written_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, "[transcoding]\nmax_concurrent_jobs = 2\n").unwrap();
        let env = vec![(
            "GHOSTSTREAM__SECURITY__API_KEY".to_string(),
            "from-the-env-1".to_string(),
        )];
        let c = Config::load(Some(&path), env.clone(), &[]).unwrap();
        let old = from_config(&c);
        assert_eq!(old.api_key.as_deref(), Some("from-the-env-1"));
        let locked = from_environment(env.into_iter().map(|(k, _)| k));
        assert_eq!(locked.len(), 1);
        assert_eq!(locked[0].name, "api_key");
        let new = Settings {
            max_concurrent_jobs: 4,
            ..old.clone()
        };
        save(&path, &new, &unchanged(&old, &new, &locked)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("from-the-env-1"), "{text}");
        assert!(text.contains("max_concurrent_jobs = 4"), "{text}");
        // A value the user changes in the dashboard is theirs: written.
        let mine = Settings {
            api_key: Some("another-key-2".into()),
            ..new.clone()
        };
        save(&path, &mine, &unchanged(&new, &mine, &locked)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("another-key-2"), "{text}");
    }

    #[test]
    fn bad_values_are_refused() {
        let ok = from_config(&Config::default());
        assert!(validate(&ok).is_ok());
        assert!(validate(&Settings {
            max_concurrent_jobs: 0,
            ..ok.clone()
        })
        .is_err());
        assert!(validate(&Settings {
            api_key: Some("short".into()),
            ..ok.clone()
        })
        .is_err());
        assert!(validate(&Settings {
            library_roots: vec!["relative/path".into()],
            ..ok.clone()
        })
        .is_err());
        assert!(validate(&Settings {
            library_roots: vec!["/no/such/dir/here".into()],
            ..ok.clone()
        })
        .is_err());
        assert!(validate(&Settings {
            allowed_targets: vec!["pi.local".into()],
            ..ok
        })
        .is_err());
    }
}
