//! Job tokens: HMAC-SHA256 over `v1.<scope>.<job id>.<expiry>` with a per-install secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ghoststream_types::ErrorCode;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Status, cancel, delete, leave; also accepted on stream and download.
    Control,
    /// Playlists, segments and downloads only.
    Stream,
}

impl Scope {
    fn tag(self) -> &'static str {
        match self {
            Scope::Control => "c",
            Scope::Stream => "s",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("a job token is required")]
    Missing,
    #[error("the job token is malformed or its signature is wrong")]
    Invalid,
    #[error("the job token belongs to another job")]
    WrongJob,
    #[error("the job token does not grant this action")]
    WrongScope,
    #[error("the job token has expired")]
    Expired,
}

impl TokenError {
    pub fn code(self) -> ErrorCode {
        match self {
            TokenError::Missing => ErrorCode::TokenRequired,
            TokenError::Invalid => ErrorCode::TokenInvalid,
            TokenError::WrongJob => ErrorCode::TokenWrongJob,
            TokenError::WrongScope => ErrorCode::TokenWrongScope,
            TokenError::Expired => ErrorCode::TokenExpired,
        }
    }
}

/// Who may read a job's stream or download, decided without the actor: the actor then
/// checks, in one step, that the job exists (404 first), the gate, and the revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamGate {
    /// `job_tokens = enforce`: the token's verdict.
    Enforced(Result<Scope, TokenError>),
    /// `job_tokens = open`: a valid token is enough; without one, the API key (or none
    /// configured) is.
    Open {
        token: Option<Scope>,
        api_key_ok: bool,
    },
}

/// Mints and checks tokens.
#[derive(Clone)]
pub struct TokenKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub fn new(secret: Vec<u8>) -> Self {
        TokenKey { secret }
    }

    fn sign(&self, payload: &str) -> String {
        // HMAC accepts keys of any length.
        let mut mac = match HmacSha256::new_from_slice(&self.secret) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(payload.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    pub fn mint(&self, job: Uuid, scope: Scope, expires_unix: i64) -> String {
        let payload = format!("v1.{}.{}.{}", scope.tag(), job.simple(), expires_unix);
        let sig = self.sign(&payload);
        format!("{payload}.{sig}")
    }

    /// Checks a token for `job`; `accept` lists the scopes this route takes.
    pub fn verify(
        &self,
        token: &str,
        job: Uuid,
        accept: &[Scope],
        now_unix: i64,
    ) -> Result<Scope, TokenError> {
        let parts: Vec<&str> = token.split('.').collect();
        let [v, scope, id, exp, sig] = parts.as_slice() else {
            return Err(TokenError::Invalid);
        };
        if *v != "v1" {
            return Err(TokenError::Invalid);
        }
        let payload = format!("{v}.{scope}.{id}.{exp}");
        let expected = self.sign(&payload);
        if !constant_time_eq(expected.as_bytes(), sig.as_bytes()) {
            return Err(TokenError::Invalid);
        }
        let scope = match *scope {
            "c" => Scope::Control,
            "s" => Scope::Stream,
            _ => return Err(TokenError::Invalid),
        };
        if *id != job.simple().to_string() {
            return Err(TokenError::WrongJob);
        }
        let exp: i64 = exp.parse().map_err(|_| TokenError::Invalid)?;
        if exp < now_unix {
            return Err(TokenError::Expired);
        }
        if !accept.contains(&scope) {
            return Err(TokenError::WrongScope);
        }
        Ok(scope)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let k = TokenKey::new(b"secret".to_vec());
        let job = Uuid::new_v4();
        let other = Uuid::new_v4();
        let c = k.mint(job, Scope::Control, 2000);
        let s = k.mint(job, Scope::Stream, 2000);
        assert_eq!(
            k.verify(&c, job, &[Scope::Control], 1000),
            Ok(Scope::Control)
        );
        assert_eq!(
            k.verify(&c, job, &[Scope::Stream, Scope::Control], 1000),
            Ok(Scope::Control)
        );
        assert_eq!(
            k.verify(&s, job, &[Scope::Control], 1000),
            Err(TokenError::WrongScope)
        );
        assert_eq!(
            k.verify(&c, other, &[Scope::Control], 1000),
            Err(TokenError::WrongJob)
        );
        assert_eq!(
            k.verify(&c, job, &[Scope::Control], 3000),
            Err(TokenError::Expired)
        );
        let mut tampered = c.clone();
        tampered.replace_range(5..6, if &c[5..6] == "0" { "1" } else { "0" });
        assert_eq!(
            k.verify(&tampered, job, &[Scope::Control], 1000),
            Err(TokenError::Invalid)
        );
        let forged = TokenKey::new(b"other".to_vec()).mint(job, Scope::Control, 2000);
        assert_eq!(
            k.verify(&forged, job, &[Scope::Control], 1000),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            k.verify("garbage", job, &[Scope::Control], 1000),
            Err(TokenError::Invalid)
        );
    }
}
