//! Keys and tokens for the auth benchmark (bench/auth): writes an HS256
//! secret and an Ed25519 public key into a folder, and prints one token
//! signed with each, valid for an hour, for the issuer and audience the
//! benchmark's config requires.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

/// The issuer bench/auth's config requires.
const ISSUER: &str = "https://bench.example";
/// The audience bench/auth's config requires.
const AUDIENCE: &str = "modhost-bench";

/// Writes `hs256.secret` and `ed25519.pub.pem` into `dir`; prints the
/// HS256 token, then the EdDSA token, one per line.
pub fn run(dir: &Path) -> Result<(), String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|err| err.to_string())?;
    // Bench keys need no secrecy, only to be this run's own.
    let mut seed = [7u8; 32];
    seed[..16].copy_from_slice(&now.as_nanos().to_le_bytes());
    let secret: String = seed.iter().map(|byte| format!("{byte:02x}")).collect();
    let signing = SigningKey::from_bytes(&seed);
    let public = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|err| err.to_string())?;
    let private = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|err| err.to_string())?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|err| format!("{name}: {err}"))
    };
    write("hs256.secret", &secret)?;
    write("ed25519.pub.pem", &public)?;
    let claims = json!({
        "sub": "bench", "iss": ISSUER, "aud": AUDIENCE, "roles": ["user"],
        "iat": now.as_secs(), "exp": now.as_secs() + 3600,
    });
    let hs = EncodingKey::from_secret(secret.as_bytes()).map_err(|err| err.to_string())?;
    let ed = EncodingKey::from_ed_pem(private.as_bytes()).map_err(|err| err.to_string())?;
    for (algorithm, key) in [(Algorithm::HS256, hs), (Algorithm::EdDSA, ed)] {
        let token =
            encode(&Header::new(algorithm), &claims, &key).map_err(|err| err.to_string())?;
        println!("{token}");
    }
    Ok(())
}
