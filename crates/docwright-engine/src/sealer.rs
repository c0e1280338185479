//! Encryption of stored provider keys (SPEC A7): XChaCha20-Poly1305 with a random nonce per
//! value. The key comes from `security.encryption_key`, or from `<data_dir>/encryption.key`,
//! generated at the first start. Sealed values are base64 of nonce ‖ ciphertext ‖ tag.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

const NONCE_LEN: usize = 24;

/// Seals and opens secrets at rest.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// From key material of any length (at least 32 characters by configuration), stretched to
    /// the cipher's 256-bit key with SHA-256.
    pub fn new(material: &[u8]) -> Self {
        let key = Sha256::digest(material);
        // A 32-byte digest always fits the 32-byte key.
        let cipher = XChaCha20Poly1305::new_from_slice(&key).unwrap_or_else(|_| unreachable!("SHA-256 is 32 bytes"));
        Self { cipher }
    }

    /// The configured key, or the one in `<data_dir>/encryption.key` (created when missing,
    /// readable by the owner only).
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<Self> {
        if let Some(k) = configured {
            return Ok(Self::new(k.as_bytes()));
        }
        let path = data_dir.join("encryption.key");
        let io = |e: std::io::Error| Error::Internal(format!("encryption key file `{}`: {e}", path.display()));
        if !path.exists() {
            let fresh = docwright_core::token::OpaqueToken::generate(docwright_core::token::TokenKind::Static);
            write_private(&path, fresh.expose().as_bytes()).map_err(io)?;
            tracing::info!(path = %path.display(), "generated the key that encrypts stored provider keys");
        }
        let material = std::fs::read(&path).map_err(io)?;
        Ok(Self::new(material.trim_ascii()))
    }

    pub fn seal(&self, plaintext: &str) -> Result<String> {
        let nonce = XNonce::generate();
        let sealed = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| Error::Internal("sealing failed".to_owned()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<String> {
        let broken =
            || Error::Internal("a stored key cannot be decrypted (was security.encryption_key changed?)".to_owned());
        let bytes = STANDARD.decode(sealed).map_err(|_| broken())?;
        if bytes.len() <= NONCE_LEN {
            return Err(broken());
        }
        let nonce = XNonce::try_from(&bytes[..NONCE_LEN]).map_err(|_| broken())?;
        let plain = self.cipher.decrypt(&nonce, &bytes[NONCE_LEN..]).map_err(|_| broken())?;
        String::from_utf8(plain).map_err(|_| broken())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(data)
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_fresh_nonces() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let a = s.seal("sk-secret").unwrap();
        let b = s.seal("sk-secret").unwrap();
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.contains("sk-secret"));
        assert_eq!(s.open(&a).unwrap(), "sk-secret");
        assert!(Sealer::new(b"another key entirely, 32 chars long").open(&a).is_err());
        let mut tampered = STANDARD.decode(&a).unwrap();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(s.open(&STANDARD.encode(tampered)).is_err());
        assert!(s.open("not base64!").is_err());
    }

    #[test]
    fn a_generated_key_file_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let sealed = Sealer::load(None, dir.path()).unwrap().seal("k").unwrap();
        assert_eq!(Sealer::load(None, dir.path()).unwrap().open(&sealed).unwrap(), "k");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("encryption.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
