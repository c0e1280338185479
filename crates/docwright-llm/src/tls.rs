//! TLS settings for reaching a provider: CA certificates to trust besides the system's roots,
//! and a client certificate for mutual TLS (GigaChat's `mtls` mode, or a self-hosted server
//! behind an internal CA).
//!
//! Files are read and checked when the provider is built, so a wrong path, a wrong password or
//! a file that holds no PEM stops start-up with an error that names the setting and the file
//! (never the password). reqwest (with rustls) reads certificates and unencrypted keys itself;
//! a password-protected PKCS#8 key (`BEGIN ENCRYPTED PRIVATE KEY`, what `openssl pkcs8 -topk8`
//! writes) is decrypted here with the `pkcs8` crate and handed to reqwest in memory only.

use std::fmt;
use std::path::{Path, PathBuf};

use pkcs8::der::zeroize::Zeroizing;

use crate::{Error, Result};

/// How a provider's HTTPS connections are set up beyond the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// A PEM file of CA certificates trusted in addition to the system's roots (for GigaChat:
    /// the Russian Trusted Root CA, or an internal CA in front of a self-hosted server).
    pub ca_bundle_file: Option<PathBuf>,
    /// A client certificate presented to the server (mutual TLS).
    pub client_identity: Option<ClientIdentity>,
}

/// A client certificate and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate, optionally followed by its intermediates.
    pub cert_file: PathBuf,
    /// The private key: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`), SEC1
    /// (`EC PRIVATE KEY`), or encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`) with `key_password`.
    pub key_file: PathBuf,
    pub key_password: Option<KeyPassword>,
}

/// The password of an encrypted private key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPassword(String);

impl KeyPassword {
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyPassword([redacted])")
    }
}

impl Tls {
    /// Adds the trusted CAs and the client identity to `builder`.
    pub(crate) fn apply(&self, provider: &str, mut builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder> {
        let bad = |detail: String| Error::Config { provider: provider.to_owned(), detail };
        if let Some(path) = &self.ca_bundle_file {
            let pem = read(path, "ca_bundle_file").map_err(bad)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                bad(format!("ca_bundle_file `{}` is not a PEM certificate bundle: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(bad(format!("ca_bundle_file `{}` holds no PEM certificate", path.display())));
            }
            builder = builder.tls_certs_merge(certs);
        }
        if let Some(id) = &self.client_identity {
            builder = builder.identity(id.load().map_err(bad)?);
        }
        Ok(builder)
    }
}

impl ClientIdentity {
    /// Reads the certificate and the key (decrypting it if need be) into a reqwest identity.
    fn load(&self) -> std::result::Result<reqwest::Identity, String> {
        let cert = read(&self.cert_file, "client_cert_file")?;
        let cert = String::from_utf8(cert)
            .ok()
            .filter(|c| c.contains("-----BEGIN CERTIFICATE-----"))
            .ok_or_else(|| format!("client_cert_file `{}` holds no PEM certificate", self.cert_file.display()))?;
        let key = private_key_pem(&self.key_file, self.key_password.as_ref())?;
        // reqwest takes the certificate chain and the key as one PEM text.
        let mut both = zeroize_on_drop(cert);
        both.push('\n');
        both.push_str(&key);
        reqwest::Identity::from_pem(both.as_bytes()).map_err(|e| {
            format!(
                "client_cert_file `{}` with client_key_file `{}`: {e}",
                self.cert_file.display(),
                self.key_file.display()
            )
        })
    }
}

/// A PEM private key reqwest can read: the key file's own key, or the decrypted PKCS#8 key.
fn private_key_pem(path: &Path, password: Option<&KeyPassword>) -> std::result::Result<Wiped, String> {
    let shown = path.display();
    let text = String::from_utf8(read(path, "client_key_file")?)
        .map_err(|_| format!("client_key_file `{shown}` is not a PEM file"))?;
    let text = zeroize_on_drop(text);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "client_key_file `{shown}` is encrypted in the legacy OpenSSL format, which is not supported; \
             convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in <old key> -out <new key>`"
        ));
    }
    if let Some(block) = pem_block(&text, "ENCRYPTED PRIVATE KEY") {
        let Some(password) = password else {
            return Err(format!("client_key_file `{shown}` is encrypted: set client_key_password"));
        };
        return decrypt(block, password).map_err(|why| format!("client_key_file `{shown}`: {why}"));
    }
    if password.is_some() {
        return Err(format!(
            "client_key_password is set but client_key_file `{shown}` is not an encrypted PKCS#8 key \
             (`BEGIN ENCRYPTED PRIVATE KEY`)"
        ));
    }
    ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"]
        .iter()
        .find_map(|label| pem_block(&text, label))
        .map(|block| zeroize_on_drop(block.to_owned()))
        .ok_or_else(|| format!("client_key_file `{shown}` holds no PEM private key"))
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` block into a `PRIVATE KEY` block.
fn decrypt(block: &str, password: &KeyPassword) -> std::result::Result<Wiped, String> {
    use pkcs8::der::{Decode as _, Document};
    let (_, doc) = Document::from_pem(block).map_err(|e| format!("not a valid encrypted PKCS#8 key: {e}"))?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
        .map_err(|e| format!("not a valid encrypted PKCS#8 key: {e}"))?;
    let wrong = || "client_key_password does not decrypt it (wrong password?)".to_owned();
    let plain = info.decrypt(password.expose()).map_err(|e| match e {
        // A padding failure after decryption: the password is wrong. (pkcs5 0.7 reports it
        // as `EncryptFailed`, newer versions as `DecryptFailed`.)
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed) => {
            wrong()
        }
        other => format!("cannot decrypt it: {other}"),
    })?;
    // A wrong password now and then still unpads cleanly; the result is then no key at all.
    pkcs8::PrivateKeyInfo::from_der(plain.as_bytes()).map_err(|_| wrong())?;
    let pem = plain.to_pem("PRIVATE KEY", pkcs8::LineEnding::LF).map_err(|e| format!("cannot re-encode it: {e}"))?;
    Ok(pem)
}

/// The first PEM block labelled exactly `label`, markers included.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(&text[start..stop])
}

fn read(path: &Path, setting: &str) -> std::result::Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {setting} `{}`: {e}", path.display()))
}

/// Text holding key material, overwritten when dropped.
type Wiped = Zeroizing<String>;

fn zeroize_on_drop(s: String) -> Wiped {
    Zeroizing::new(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_found_by_exact_label() {
        let text = "junk\n-----BEGIN EC PARAMETERS-----\nBggq\n-----END EC PARAMETERS-----\n\
                    -----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(
            pem_block(text, "EC PRIVATE KEY"),
            Some("-----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----")
        );
        assert_eq!(pem_block(text, "PRIVATE KEY"), None);
    }

    #[test]
    fn passwords_never_print() {
        let id = ClientIdentity {
            cert_file: "c.pem".into(),
            key_file: "k.pem".into(),
            key_password: Some(KeyPassword::new("hunter2")),
        };
        assert!(!format!("{id:?}").contains("hunter2"));
    }
}
