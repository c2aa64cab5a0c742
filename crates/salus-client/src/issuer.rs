//! The issuer's side of credentials: its secrets at rest, and the claims it
//! signs.
//!
//! An issuer's secrets (BBS key, revocation registry) are sealed under a key
//! derived from the issuer's own signing key, which is itself
//! passphrase-encrypted in the keystore: nothing secret rests in plaintext,
//! and only the holder of that signing key opens them. They are written
//! atomically (write, then rename), so a crash never leaves a half-written
//! registry.

use std::path::{Path, PathBuf};

use salus_crypto::keystore::KeyPair;
use salus_crypto::seal::{decrypt_content, encrypt_content, DataKey};
use salus_zk::{parse_date, parse_decimal, AttributeKind, AttributeValue, Issuer, ZkError};
use serde_json::Value;

const SEALING_DOMAIN: &str = "salus/issuer-secrets/v1";
const SEALING_AAD: &[u8] = b"salus issuer";

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("a key name is [A-Za-z0-9_-]+ and a credential name [A-Za-z0-9._-]+")]
    BadName,
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no issuer secrets at {0} (define the credential first)")]
    Missing(PathBuf),
    #[error("{0} does not open with this key")]
    WrongKey(PathBuf),
    #[error("the issuer secrets at {0} are corrupt")]
    Corrupt(PathBuf),
}

/// Sealed issuer secrets in a folder (the keystore's `issuers/`), one file
/// per signing key and credential name.
pub struct IssuerSecrets {
    dir: PathBuf,
}

impl IssuerSecrets {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        IssuerSecrets { dir: dir.into() }
    }

    /// `<key>.<credential>.sealed`. Key names hold no dot (as in the
    /// keystore), so no two pairs share a file; no name holds a slash, so
    /// none leaves the folder.
    fn path(&self, key_name: &str, credential: &str) -> Result<PathBuf, IssuerError> {
        let well_formed = |name: &str, dot: bool| {
            !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') || (dot && b == b'.')
                })
        };
        if !well_formed(key_name, false) || !well_formed(credential, true) {
            return Err(IssuerError::BadName);
        }
        Ok(self.dir.join(format!("{key_name}.{credential}.sealed")))
    }

    /// Whether secrets are stored for `key_name` and `credential`.
    pub fn exists(&self, key_name: &str, credential: &str) -> Result<bool, IssuerError> {
        Ok(self.path(key_name, credential)?.exists())
    }

    /// Seals `issuer` under `pair`'s signing key and stores it.
    pub fn save(
        &self,
        key_name: &str,
        credential: &str,
        pair: &KeyPair,
        issuer: &Issuer,
    ) -> Result<(), IssuerError> {
        let path = self.path(key_name, credential)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| IssuerError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(issuer).expect("issuer secrets serialize to JSON"),
        );
        let sealed = encrypt_content(&sealing_key(pair), SEALING_AAD, &plain);
        // Written and synced under another name, then renamed into place and
        // the folder synced: a crash leaves the old registry or the new one.
        let partial = path.with_extension("partial");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&partial).map_err(io(&partial))?;
        std::io::Write::write_all(&mut file, &sealed)
            .and_then(|()| file.sync_all())
            .map_err(io(&partial))?;
        std::fs::rename(&partial, &path).map_err(io(&path))?;
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io(&self.dir))
    }

    /// Opens the issuer stored for `key_name` and `credential` with `pair`.
    pub fn load(
        &self,
        key_name: &str,
        credential: &str,
        pair: &KeyPair,
    ) -> Result<Issuer, IssuerError> {
        let path = self.path(key_name, credential)?;
        let sealed = std::fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => IssuerError::Missing(path.clone()),
            _ => IssuerError::Io {
                path: path.clone(),
                source,
            },
        })?;
        let plain = zeroize::Zeroizing::new(
            decrypt_content(&sealing_key(pair), SEALING_AAD, &sealed)
                .map_err(|_| IssuerError::WrongKey(path.clone()))?,
        );
        serde_json::from_slice(&plain).map_err(|_| IssuerError::Corrupt(path))
    }
}

fn sealing_key(pair: &KeyPair) -> DataKey {
    DataKey::derive(SEALING_DOMAIN, pair.signing.seed().as_slice())
}

/// Why a claim cannot become an attribute value.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("a claim is a string or a number, not {0}")]
    NotScalar(&'static str),
    #[error("`{0}` is not a whole number")]
    NotInteger(String),
    #[error(transparent)]
    Zk(#[from] ZkError),
    #[error("expected a FHIR R4 Immunization resource")]
    NotImmunization,
}

/// Reads a claim's JSON value as the attribute's kind wants it.
pub fn attribute_value(kind: AttributeKind, raw: &Value) -> Result<AttributeValue, ClaimError> {
    let text = match raw {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => return Err(ClaimError::NotScalar("null")),
        Value::Bool(_) => return Err(ClaimError::NotScalar("a boolean")),
        Value::Array(_) => return Err(ClaimError::NotScalar("an array")),
        Value::Object(_) => return Err(ClaimError::NotScalar("an object")),
    };
    Ok(match kind {
        AttributeKind::Text => AttributeValue::Text(text),
        AttributeKind::Date => AttributeValue::Date(parse_date(&text)?),
        AttributeKind::Integer => {
            AttributeValue::Integer(text.parse().map_err(|_| ClaimError::NotInteger(text))?)
        }
        AttributeKind::Decimal { scale } => AttributeValue::Decimal(parse_decimal(&text, scale)?),
    })
}

/// The claims a FHIR R4 Immunization resource makes, under the attribute
/// names of `salus_zk::catalog::IMMUNIZATION`: `vaccine_code` (CVX),
/// `occurrence_date`, `lot_number`, `dose_ml` (a dose given in mL) and
/// `status`.
pub fn immunization_claims(resource: &Value) -> Result<Vec<(String, Value)>, ClaimError> {
    if resource["resourceType"] != "Immunization" {
        return Err(ClaimError::NotImmunization);
    }
    let mut claims = Vec::new();
    let cvx = resource["vaccineCode"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["system"] == "http://hl7.org/fhir/sid/cvx")
        .and_then(|c| c["code"].as_str());
    let fields = [
        ("vaccine_code", cvx),
        ("occurrence_date", resource["occurrenceDateTime"].as_str()),
        ("lot_number", resource["lotNumber"].as_str()),
        ("status", resource["status"].as_str()),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            claims.push((name.to_owned(), Value::from(value)));
        }
    }
    let dose = &resource["doseQuantity"];
    if dose["code"] == "mL" || dose["unit"] == "mL" {
        if let Some(ml) = dose.get("value").filter(|v| v.is_number()) {
            claims.push(("dose_ml".to_owned(), ml.clone()));
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use salus_zk::Schema;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = IssuerSecrets::new(dir.path().join("issuers"));
        let pair = KeyPair::generate();
        let schema = Schema::new("s", &[("name", AttributeKind::Text)]).unwrap();
        let issuer = Issuer::new("did:salus:00#s", schema, 4).unwrap();
        store.save("board", "s", &pair, &issuer).unwrap();
        let back = store.load("board", "s", &pair).unwrap();
        assert_eq!(back.definition().id, issuer.definition().id);
        assert!(matches!(
            store.load("board", "s", &KeyPair::generate()),
            Err(IssuerError::WrongKey(_))
        ));
        assert!(matches!(
            store.load("board", "other", &pair),
            Err(IssuerError::Missing(_))
        ));
        assert!(matches!(
            store.save("board", "../escape", &pair, &issuer),
            Err(IssuerError::BadName)
        ));
        assert!(matches!(
            store.load("../board", "s", &pair),
            Err(IssuerError::BadName)
        ));
        let files = std::fs::read_dir(dir.path().join("issuers"))
            .unwrap()
            .count();
        assert_eq!(files, 1, "no partial file is left behind");
    }

    #[test]
    fn claims_come_from_immunizations_and_parse_by_kind() {
        let resource = serde_json::json!({
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "208"}]},
            "occurrenceDateTime": "2021-04-01",
        });
        let claims = immunization_claims(&resource).unwrap();
        assert_eq!(claims[0], ("vaccine_code".into(), Value::from("208")));
        assert_eq!(claims.len(), 3);
        assert!(immunization_claims(&serde_json::json!({"resourceType": "Patient"})).is_err());
        assert_eq!(
            attribute_value(AttributeKind::Date, &Value::from("2021-04-01")).unwrap(),
            AttributeValue::Date(2021_04_01)
        );
        assert!(attribute_value(AttributeKind::Integer, &Value::from("x")).is_err());
        assert!(attribute_value(AttributeKind::Text, &Value::Null).is_err());
        let mut dosed = resource.clone();
        dosed["doseQuantity"] = serde_json::json!({"value": 0.3, "code": "mL"});
        let dose = immunization_claims(&dosed).unwrap().pop().unwrap();
        assert_eq!(dose.0, "dose_ml");
        let scale = AttributeKind::Decimal { scale: 2 };
        assert_eq!(
            attribute_value(scale, &dose.1).unwrap(),
            AttributeValue::Decimal(30)
        );
        dosed["doseQuantity"] = serde_json::json!({"value": 300, "code": "uL"});
        assert_eq!(immunization_claims(&dosed).unwrap().len(), 3, "only mL");
    }
}
