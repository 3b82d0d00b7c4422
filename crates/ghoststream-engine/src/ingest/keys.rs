//! Stream keys, kept in `<state>/live/keys.json` (written whole, then renamed over).

use super::IngestError;
use chrono::{DateTime, Utc};
use ghoststream_types::{IngestKey, IngestKeyRequest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    name: String,
    created_at: DateTime<Utc>,
    last_used: Option<DateTime<Utc>>,
}

pub(super) struct Keys {
    path: PathBuf,
    keys: BTreeMap<String, Entry>,
}

/// Keys at most (each is a few bytes; the bound is for the file and the list).
const MAX_KEYS: usize = 200;

/// A key as the log shows it: enough to tell keys apart, not enough to publish with.
pub fn masked(key: &str) -> String {
    let head: String = key.chars().take(3).collect();
    format!("'{head}…' ({} chars)", key.chars().count())
}

fn valid_key(k: &str) -> bool {
    (3..=64).contains(&k.len())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn clean_name(n: &str) -> Result<String, IngestError> {
    let n = n.trim();
    if n.is_empty() || n.chars().count() > 80 || n.chars().any(char::is_control) {
        return Err(IngestError::Invalid(
            "a stream name is 1–80 characters, no control characters".into(),
        ));
    }
    Ok(n.to_string())
}

impl Keys {
    pub fn load(path: PathBuf) -> std::io::Result<Keys> {
        let keys = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(
                    "live: {} is damaged ({e}); starting with no stream keys",
                    path.display()
                );
                BTreeMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(Keys { path, keys })
    }

    fn save(&self) -> Result<(), IngestError> {
        let tmp = self.path.with_extension("json.tmp");
        let text =
            serde_json::to_vec_pretty(&self.keys).map_err(|e| IngestError::Io(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(|e| IngestError::Io(e.to_string()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| IngestError::Io(e.to_string()))
    }

    fn view(&self, key: &str, live: bool) -> Option<IngestKey> {
        self.keys.get(key).map(|e| IngestKey {
            key: key.to_string(),
            name: e.name.clone(),
            created_at: e.created_at,
            last_used: e.last_used,
            live,
        })
    }

    pub fn list(&self, live: &[String]) -> Vec<IngestKey> {
        let mut v: Vec<IngestKey> = self
            .keys
            .keys()
            .filter_map(|k| self.view(k, live.contains(k)))
            .collect();
        v.sort_by_key(|k| k.created_at);
        v
    }

    pub fn name_of(&self, key: &str) -> Option<String> {
        self.keys.get(key).map(|e| e.name.clone())
    }

    pub fn create(&mut self, req: IngestKeyRequest) -> Result<IngestKey, IngestError> {
        if self.keys.len() >= MAX_KEYS {
            return Err(IngestError::Invalid(format!(
                "{MAX_KEYS} stream keys exist, the most kept; revoke one first"
            )));
        }
        let key = match req.key {
            Some(k) if valid_key(&k) => k,
            Some(_) => {
                return Err(IngestError::Invalid(
                    "a stream key is 3–64 of A-Z a-z 0-9 _ -".into(),
                ))
            }
            None => random_key(),
        };
        if self.keys.contains_key(&key) {
            return Err(IngestError::KeyExists(key));
        }
        let name = match req.name {
            Some(n) => clean_name(&n)?,
            None => format!("Stream {}", self.keys.len() + 1),
        };
        self.keys.insert(
            key.clone(),
            Entry {
                name,
                created_at: Utc::now(),
                last_used: None,
            },
        );
        if let Err(e) = self.save() {
            self.keys.remove(&key);
            return Err(e);
        }
        self.view(&key, false).ok_or(IngestError::KeyNotFound(key))
    }

    pub fn rename(&mut self, key: &str, name: String) -> Result<IngestKey, IngestError> {
        let name = clean_name(&name)?;
        let e = self
            .keys
            .get_mut(key)
            .ok_or_else(|| IngestError::KeyNotFound(key.into()))?;
        let old = std::mem::replace(&mut e.name, name);
        if let Err(err) = self.save() {
            if let Some(e) = self.keys.get_mut(key) {
                e.name = old;
            }
            return Err(err);
        }
        self.view(key, false)
            .ok_or_else(|| IngestError::KeyNotFound(key.into()))
    }

    pub fn remove(&mut self, key: &str) -> Result<(), IngestError> {
        let e = self
            .keys
            .remove(key)
            .ok_or_else(|| IngestError::KeyNotFound(key.into()))?;
        if let Err(err) = self.save() {
            self.keys.insert(key.to_string(), e);
            return Err(err);
        }
        Ok(())
    }

    pub fn touch(&mut self, key: &str) {
        if let Some(e) = self.keys.get_mut(key) {
            e.last_used = Some(Utc::now());
            let _ = self.save();
        }
    }
}

fn random_key() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_and_refuse_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let mut k = Keys::load(path.clone()).unwrap();
        let a = k.create(IngestKeyRequest::default()).unwrap();
        assert_eq!(a.key.len(), 24);
        let b = k
            .create(IngestKeyRequest {
                name: Some("Xbox".into()),
                key: Some("my_stream".into()),
            })
            .unwrap();
        assert_eq!(b.name, "Xbox");
        assert_eq!(
            k.create(IngestKeyRequest {
                name: None,
                key: Some("my_stream".into())
            }),
            Err(IngestError::KeyExists("my_stream".into()))
        );
        assert!(matches!(
            k.create(IngestKeyRequest {
                name: None,
                key: Some("../x".into())
            }),
            Err(IngestError::Invalid(_))
        ));
        k.rename("my_stream", "Living room".into()).unwrap();
        let k2 = Keys::load(path.clone()).unwrap();
        assert_eq!(k2.name_of("my_stream").as_deref(), Some("Living room"));
        k.remove(&a.key).unwrap();
        let k3 = Keys::load(path).unwrap();
        assert!(k3.name_of(&a.key).is_none());
        assert_eq!(masked("abcdef"), "'abc…' (6 chars)");
    }
}
