//! The keys tokens are checked against, read once at start-up. Every
//! mistake names the config file, the key's place in `[[auth.keys]]` and
//! what to do about it.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use super::config::KeyConfig;

/// Shortest HS256 secret accepted, in bytes: RFC 7518 asks for a key at
/// least as long as the hash (256 bits).
const MIN_SECRET_BYTES: usize = 32;

/// One key a token may be signed with, and what the host signs with it
/// when it is the `issue_key`.
pub struct VerifyingKey {
    /// The `kid` it answers to, if any.
    pub kid: Option<String>,
    /// The one algorithm it checks: a token naming another is refused, so
    /// an RSA public key is never taken for an HMAC secret.
    pub algorithm: Algorithm,
    /// The key material.
    pub key: DecodingKey,
    /// The key to sign with: the HS256 secret, or the private key when
    /// `private_key_file` is given.
    pub signing: Option<EncodingKey>,
}

/// Reads every key of `keys` (the `keys` of config section `section`);
/// paths are relative to `folder`, and messages name `file`.
pub fn load(
    keys: &[KeyConfig],
    section: &str,
    folder: &Path,
    file: &Path,
) -> Result<Vec<VerifyingKey>> {
    if keys.is_empty() {
        bail!(
            "{}: {section}.keys is empty: add at least one [[{section}.keys]] with an algorithm and its key",
            file.display()
        );
    }
    let loaded = keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let at = format!("{}: {section}.keys[{index}]", file.display());
            load_one(key, folder).map_err(|why| anyhow!("{at}: {why}"))
        })
        .collect::<Result<Vec<_>>>()?;
    for (index, key) in loaded.iter().enumerate() {
        let same = |other: &VerifyingKey| other.kid == key.kid && other.algorithm == key.algorithm;
        if loaded[..index].iter().any(same) {
            bail!(
                "{}: {section}.keys[{index}]: another key has the same algorithm and kid; give each key of one algorithm its own kid",
                file.display()
            );
        }
    }
    Ok(loaded)
}

fn load_one(config: &KeyConfig, folder: &Path) -> Result<VerifyingKey, String> {
    let algorithm = match config.algorithm.as_str() {
        "HS256" => Algorithm::HS256,
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        "none" => return Err("algorithm \"none\" (unsigned tokens) is never accepted".into()),
        other => {
            return Err(format!(
                "algorithm {other:?} is not supported; use HS256, RS256, ES256 or EdDSA"
            ));
        }
    };
    let (key, signing) = match algorithm {
        Algorithm::HS256 => {
            if config.public_key_file.is_some() || config.private_key_file.is_some() {
                return Err("an HS256 key takes secret_env or secret_file, not a key file".into());
            }
            let secret = secret(config, folder)?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(format!(
                    "the HS256 secret is {} bytes; use at least {MIN_SECRET_BYTES} random bytes",
                    secret.len()
                ));
            }
            let signing = EncodingKey::from_secret(&secret).map_err(|err| err.to_string())?;
            let key = DecodingKey::from_secret(&secret).map_err(|err| err.to_string())?;
            (key, Some(signing))
        }
        _ => {
            if config.secret_env.is_some() || config.secret_file.is_some() {
                return Err(format!(
                    "a {} key takes public_key_file (PEM), not a secret",
                    config.algorithm
                ));
            }
            let Some(path) = &config.public_key_file else {
                return Err(format!(
                    "a {} key needs public_key_file, the PEM file of the public key",
                    config.algorithm
                ));
            };
            let (path, pem) = read_pem(folder, path, "public_key_file")?;
            let parsed = match algorithm {
                Algorithm::RS256 => DecodingKey::from_rsa_pem(&pem),
                Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
                _ => DecodingKey::from_ed_pem(&pem),
            };
            let key = parsed.map_err(|err| {
                format!(
                    "public_key_file {} is not a {} public key in PEM: {err}",
                    path.display(),
                    config.algorithm
                )
            })?;
            let signing = match &config.private_key_file {
                None => None,
                Some(path) => {
                    let (path, pem) = read_pem(folder, path, "private_key_file")?;
                    let parsed = match algorithm {
                        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
                        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
                        _ => EncodingKey::from_ed_pem(&pem),
                    };
                    Some(parsed.map_err(|err| {
                        format!(
                            "private_key_file {} is not a {} private key in PEM: {err}",
                            path.display(),
                            config.algorithm
                        )
                    })?)
                }
            };
            (key, signing)
        }
    };
    Ok(VerifyingKey {
        kid: config.kid.clone(),
        algorithm,
        key,
        signing,
    })
}

/// The text of the PEM file at `path` (relative to `folder`), named `key`
/// in a message when it cannot be read.
fn read_pem(folder: &Path, path: &Path, key: &str) -> Result<(PathBuf, Vec<u8>), String> {
    let path = folder.join(path);
    let pem = std::fs::read(&path)
        .map_err(|err| format!("cannot read {key} {}: {err}", path.display()))?;
    Ok((path, pem))
}

/// The HS256 secret, from exactly one of `secret_env` and `secret_file`.
fn secret(config: &KeyConfig, folder: &Path) -> Result<Vec<u8>, String> {
    match (&config.secret_env, &config.secret_file) {
        (Some(name), None) => std::env::var(name).map(String::into_bytes).map_err(|_| {
            format!("secret_env names the environment variable {name}, which is not set; set it to the secret")
        }),
        (None, Some(path)) => {
            let path = folder.join(path);
            let text = std::fs::read(&path)
                .map_err(|err| format!("cannot read secret_file {}: {err}", path.display()))?;
            // A trailing newline from an editor is not part of the secret.
            Ok(text.trim_ascii_end().to_vec())
        }
        (Some(_), Some(_)) => Err("give secret_env or secret_file, not both".into()),
        (None, None) => Err(
            "an HS256 key needs secret_env (an environment variable) or secret_file; a secret is never written in the config"
                .into(),
        ),
    }
}
