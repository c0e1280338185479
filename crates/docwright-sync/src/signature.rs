//! EspoCRM's webhook signatures (EspoCRM documentation, Administration › Webhooks ›
//! "Signature checking").
//!
//! Since EspoCRM 9.0 a delivery carries `Signature`: base64 of the webhook's id, `:` and the
//! lower-case hex HMAC-SHA256 of the raw body keyed with the webhook's secret key (PHP's
//! `hash_hmac('sha256', $payload, $secretKey)`). Before 9.0, and beside it until 11.0, it
//! carries `X-Signature`: the same with the raw 32 bytes of the HMAC instead of hex
//! (`hash_hmac(…, true)` in EspoCRM's `Webhook\Sender`). [`verify`] accepts a delivery when
//! either header verifies; MACs are compared in constant time (`hmac`'s `verify_slice`).
//!
//! A value is split at its first `:`: webhook ids never contain one, a raw MAC may.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery's signature was refused. The messages never show the secret or the MAC
/// expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request carries no Signature (or X-Signature) header")]
    Missing,
    #[error("the signature is not base64 of a webhook id, ':' and a MAC")]
    Malformed,
    #[error("the signature names another webhook")]
    WrongWebhook,
    #[error("the signature does not match the body and the webhook's secret")]
    Mismatch,
}

fn keyed(secret: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    match <HmacSha256 as hmac::digest::KeyInit>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

fn mac(body: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut m = keyed(secret);
    m.update(body);
    m.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Exactly 64 hex digits (either case) as 32 bytes.
fn unhex(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *o = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// The `Signature` header EspoCRM sends with `body` (for tests and fakes).
pub fn sign(body: &[u8], secret: &[u8], webhook_id: &str) -> String {
    STANDARD.encode(format!("{webhook_id}:{}", hex(&mac(body, secret))))
}

/// The legacy `X-Signature` header, with the raw MAC bytes (for tests and fakes).
pub fn sign_legacy(body: &[u8], secret: &[u8], webhook_id: &str) -> String {
    let mut value = format!("{webhook_id}:").into_bytes();
    value.extend_from_slice(&mac(body, secret));
    STANDARD.encode(value)
}

/// Checks a delivery: accepted when either header (`Signature`, legacy `X-Signature`) verifies
/// against the raw `body` and `secret`, and names `webhook_id` when one is given. When neither
/// verifies, the error is the `Signature` header's (the current one), else the legacy one's.
pub fn verify(
    signature: Option<&str>,
    legacy: Option<&str>,
    body: &[u8],
    secret: &[u8],
    webhook_id: Option<&str>,
) -> Result<(), SignatureError> {
    let (signature, legacy) = (present(signature), present(legacy));
    if signature.is_none() && legacy.is_none() {
        return Err(SignatureError::Missing);
    }
    let mut first_error = None;
    for (header, raw) in [(signature, false), (legacy, true)] {
        let Some(header) = header else { continue };
        match check(header, raw, body, secret, webhook_id) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(SignatureError::Missing))
}

/// A header's value, trimmed; `None` when absent or blank.
fn present(header: Option<&str>) -> Option<&str> {
    header.map(str::trim).filter(|h| !h.is_empty())
}

fn check(header: &str, raw: bool, body: &[u8], secret: &[u8], webhook_id: Option<&str>) -> Result<(), SignatureError> {
    let decoded = STANDARD.decode(header).map_err(|_| SignatureError::Malformed)?;
    let colon = decoded.iter().position(|b| *b == b':').ok_or(SignatureError::Malformed)?;
    let (id, given) = (&decoded[..colon], &decoded[colon + 1..]);
    if id.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let given: [u8; 32] = if raw {
        given.try_into().map_err(|_| SignatureError::Malformed)?
    } else {
        unhex(given).ok_or(SignatureError::Malformed)?
    };
    // The id is not secret: a plain comparison is fine, and it says which webhook was meant.
    if webhook_id.is_some_and(|want| id != want.as_bytes()) {
        return Err(SignatureError::WrongWebhook);
    }
    let mut m = keyed(secret);
    m.update(body);
    m.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"[{"id":"a1","name":"x"}]"#;
    const SECRET: &[u8] = b"secret";

    #[test]
    fn both_headers_round_trip() {
        let s = sign(BODY, SECRET, "wh1");
        let l = sign_legacy(BODY, SECRET, "wh1");
        assert_eq!(verify(Some(&s), None, BODY, SECRET, Some("wh1")), Ok(()));
        assert_eq!(verify(None, Some(&l), BODY, SECRET, Some("wh1")), Ok(()));
        assert_eq!(verify(Some(&s), Some(&l), BODY, SECRET, Some("wh1")), Ok(()));
        assert_eq!(verify(Some(&s), None, BODY, SECRET, None), Ok(()), "no id to check");
        assert_eq!(verify(Some(&format!(" {s} ")), None, BODY, SECRET, None), Ok(()), "header whitespace");
    }

    #[test]
    fn tampering_a_wrong_secret_or_id_are_refused() {
        let s = sign(BODY, SECRET, "wh1");
        let l = sign_legacy(BODY, SECRET, "wh1");
        assert_eq!(verify(Some(&s), None, b"[]", SECRET, None), Err(SignatureError::Mismatch));
        assert_eq!(verify(None, Some(&l), b"[]", SECRET, None), Err(SignatureError::Mismatch));
        assert_eq!(verify(Some(&s), None, BODY, b"other", None), Err(SignatureError::Mismatch));
        assert_eq!(verify(Some(&s), None, BODY, SECRET, Some("wh2")), Err(SignatureError::WrongWebhook));
        assert_eq!(verify(None, Some(&l), BODY, SECRET, Some("wh2")), Err(SignatureError::WrongWebhook));
    }

    #[test]
    fn garbage_is_malformed_and_nothing_is_missing() {
        assert_eq!(verify(Some("%%%"), None, BODY, SECRET, None), Err(SignatureError::Malformed));
        let no_colon = STANDARD.encode("nocolon");
        assert_eq!(verify(Some(&no_colon), None, BODY, SECRET, None), Err(SignatureError::Malformed));
        let short = STANDARD.encode("wh1:abcd");
        assert_eq!(verify(Some(&short), None, BODY, SECRET, None), Err(SignatureError::Malformed));
        let no_id = STANDARD.encode(format!(":{}", hex(&mac(BODY, SECRET))));
        assert_eq!(verify(Some(&no_id), None, BODY, SECRET, None), Err(SignatureError::Malformed));
        assert_eq!(verify(None, None, BODY, SECRET, None), Err(SignatureError::Missing));
        assert_eq!(verify(Some(""), Some("  "), BODY, SECRET, None), Err(SignatureError::Missing));
        // The hex form is not accepted in the raw header, nor the raw one in the new header.
        let s = sign(BODY, SECRET, "wh1");
        let l = sign_legacy(BODY, SECRET, "wh1");
        assert!(verify(None, Some(&s), BODY, SECRET, None).is_err());
        assert!(verify(Some(&l), None, BODY, SECRET, None).is_err());
    }

    #[test]
    fn a_bad_header_does_not_hide_a_good_one_and_the_current_ones_error_wins() {
        let l = sign_legacy(BODY, SECRET, "wh1");
        assert_eq!(verify(Some("%%%"), Some(&l), BODY, SECRET, None), Ok(()));
        let s = sign(BODY, SECRET, "wh1");
        assert_eq!(verify(Some(&s), Some("%%%"), BODY, SECRET, None), Ok(()));
        assert_eq!(verify(Some("%%%"), Some(&l), b"[]", SECRET, None), Err(SignatureError::Malformed));
    }

    #[test]
    fn a_raw_mac_holding_a_colon_is_split_at_the_first() {
        // Find a body whose raw MAC holds b':' so the split must be at the first colon.
        let body = (0u32..)
            .map(|i| format!("[{{\"id\":\"r{i}\"}}]"))
            .find(|b| mac(b.as_bytes(), SECRET).contains(&b':'))
            .unwrap();
        let l = sign_legacy(body.as_bytes(), SECRET, "wh1");
        assert_eq!(verify(None, Some(&l), body.as_bytes(), SECRET, Some("wh1")), Ok(()));
    }

    #[test]
    fn the_mac_is_phps_hash_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(hex(&mac(b"what do ya want for nothing?", b"Jefe")), expected);
        let s = sign(b"what do ya want for nothing?", b"Jefe", "wh1");
        assert_eq!(STANDARD.decode(s).unwrap(), format!("wh1:{expected}").into_bytes());
        assert_eq!(unhex(expected.to_uppercase().as_bytes()), Some(mac(b"what do ya want for nothing?", b"Jefe")));
    }
}
