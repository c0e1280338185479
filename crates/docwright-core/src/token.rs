//! Opaque secrets handed to clients — static login tokens, refresh tokens, API keys — and the
//! hashes that are all the database ever stores.
//!
//! The secrets are 256 random bits, so a single SHA-256 is the right hash: it cannot be
//! brute-forced, and it is deterministic, so a presented token is found by its hash. (A slow
//! password hash such as argon2 is for low-entropy secrets that people choose.)

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// Which kind of secret; the prefix makes leaked secrets recognisable to secret scanners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Exchanged at `/auth/exchange`.
    Static,
    /// Rotated at `/auth/refresh`.
    Refresh,
    /// Sent directly as `Authorization: Bearer dw_...`.
    ApiKey,
}

impl TokenKind {
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Static => "dwst_",
            TokenKind::Refresh => "dwrt_",
            TokenKind::ApiKey => "dw_",
        }
    }
}

/// A secret in clear. It never prints itself; `expose` is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueToken(String);

impl OpaqueToken {
    pub fn generate(kind: TokenKind) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Wraps a secret that came from outside (a request, configuration).
    pub fn from_presented(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }

    /// A short, non-secret label for listings: the prefix and the first 6 random characters.
    pub fn display_prefix(&self) -> String {
        let cut = self.0.find('_').map_or(0, |i| i + 1) + 6;
        self.0.chars().take(cut).collect()
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken([redacted])")
    }
}

/// Lower-case hex SHA-256 of a secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(secret: &str) -> Self {
        let digest = Sha256::digest(secret.as_bytes());
        let mut hex = String::with_capacity(64);
        for b in digest {
            hex.push_str(&format!("{b:02x}"));
        }
        Self(hex)
    }

    /// Wraps a hash read back from storage.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_never_debug_printed() {
        let a = OpaqueToken::generate(TokenKind::ApiKey);
        let b = OpaqueToken::generate(TokenKind::ApiKey);
        assert!(a.expose().starts_with("dw_"));
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 3 + 43);
        assert!(!format!("{a:?}").contains(a.expose()));
        assert_eq!(a.display_prefix().len(), 9);
        assert!(a.expose().starts_with(&a.display_prefix()));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(TokenHash::of("abc").as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
