//! The Settings view's values, read from and written to the configuration file, keeping
//! every other key the file holds.

use ghoststream_engine::{Config, TokenMode};
use ghoststream_types::{HwPreference, Settings, TokensSetting};
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

/// The settings as a running configuration has them.
pub fn from_config(c: &Config, start_at_login: bool) -> Settings {
    Settings {
        port: c.server.port,
        max_concurrent_jobs: c.transcoding.max_concurrent_jobs,
        hw_preference: if c.hardware.prefer_hw_accel {
            HwPreference::Auto
        } else {
            HwPreference::Software
        },
        job_tokens: match c.security.job_tokens {
            TokenMode::Enforce => TokensSetting::Enforce,
            TokenMode::Open => TokensSetting::Open,
        },
        api_key: c.security.api_key.clone().filter(|k| !k.is_empty()),
        library_roots: c
            .transcoding
            .library_roots
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        allowed_targets: c.security.allowed_targets.clone(),
        start_at_login,
    }
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
    if s.max_concurrent_jobs == 0 || s.max_concurrent_jobs > 64 {
        return Err(SettingsError::Invalid(
            "max concurrent jobs must be 1–64".into(),
        ));
    }
    if let Some(k) = &s.api_key {
        if !k.is_empty() && (k.len() < 8 || k.chars().any(|c| c.is_control() || c == ' ')) {
            return Err(SettingsError::Invalid(
                "an API key needs at least 8 characters and no spaces".into(),
            ));
        }
    }
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

fn strings(list: &[String]) -> toml::Value {
    toml::Value::Array(list.iter().cloned().map(toml::Value::String).collect())
}

/// Writes `s` into the file at `path` (created if missing), keeping its other keys.
pub fn save(path: &Path, s: &Settings) -> Result<(), SettingsError> {
    validate(s)?;
    edit(path, |doc| {
        section(doc, "server").insert("port".into(), toml::Value::Integer(s.port.into()));
        let t = section(doc, "transcoding");
        t.insert(
            "max_concurrent_jobs".into(),
            toml::Value::Integer(s.max_concurrent_jobs.into()),
        );
        t.insert("library_roots".into(), strings(&s.library_roots));
        section(doc, "hardware").insert(
            "prefer_hw_accel".into(),
            toml::Value::Boolean(s.hw_preference == HwPreference::Auto),
        );
        let sec = section(doc, "security");
        let tokens = match s.job_tokens {
            TokensSetting::Enforce => "enforce",
            TokensSetting::Open => "open",
        };
        sec.insert("job_tokens".into(), toml::Value::String(tokens.into()));
        sec.insert("allowed_targets".into(), strings(&s.allowed_targets));
        match s.api_key.as_deref().filter(|k| !k.is_empty()) {
            Some(k) => sec.insert("api_key".into(), toml::Value::String(k.into())),
            None => sec.remove("api_key"),
        };
        section(doc, "desktop").insert(
            "start_at_login".into(),
            toml::Value::Boolean(s.start_at_login),
        );
    })
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

/// `desktop.start_at_login` from the file (the engine's Config does not carry it).
pub fn start_at_login(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| toml::from_str::<toml::Table>(&t).ok())
        .and_then(|d| d.get("desktop")?.get("start_at_login")?.as_bool())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
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
        };
        save(&path, &s).unwrap();
        let c = Config::load(Some(&path), vec![], &[]).unwrap();
        assert_eq!(from_config(&c, start_at_login(&path)), s);
        assert_eq!(c.server.host, "127.0.0.1");
        assert_eq!(c.transcoding.segment_duration, 6.0);
        // Clearing the key removes it.
        save(
            &path,
            &Settings {
                api_key: None,
                ..s.clone()
            },
        )
        .unwrap();
        let c = Config::load(Some(&path), vec![], &[]).unwrap();
        assert_eq!(c.security.api_key, None);
    }

    #[test]
    fn bad_values_are_refused() {
        let ok = Settings {
            port: 8765,
            max_concurrent_jobs: 2,
            hw_preference: HwPreference::Auto,
            job_tokens: TokensSetting::Enforce,
            api_key: None,
            library_roots: vec![],
            allowed_targets: vec![],
            start_at_login: false,
        };
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
