//! Stable error codes. They appear in receipts and API bodies; a code, once
//! published, never changes meaning. Ranges: 1xx transaction envelope, 2xx
//! identity, 3xx token, 4xx records, 5xx consent, 6xx audit, 7xx credentials.

use borsh::{BorshDeserialize, BorshSerialize};

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $name:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn code(self) -> u16 {
                match self { $(ErrorCode::$variant => $code),* }
            }

            /// The snake_case name used in JSON bodies.
            pub fn name(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name),* }
            }

            pub fn from_code(code: u16) -> Option<ErrorCode> {
                match code { $($code => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
}

error_codes! {
    Ok = 0, "ok";
    WrongChain = 101, "wrong_chain";
    BadSignature = 102, "bad_signature";
    BadNonce = 103, "bad_nonce";
    TxTooLarge = 104, "tx_too_large";
    MalformedTx = 105, "malformed_tx";
    NoActions = 106, "no_actions";
    TooManyActions = 107, "too_many_actions";
    WrongSignerKey = 108, "wrong_signer_key";
    DidAlreadyRegistered = 201, "did_already_registered";
    DidNotFound = 202, "did_not_found";
    DidDeactivated = 203, "did_deactivated";
    NotAnAuthority = 204, "not_an_authority";
    RoleAlreadyHeld = 205, "role_already_held";
    RoleNotHeld = 206, "role_not_held";
    BadKeyPossession = 207, "bad_key_possession";
    InvalidService = 208, "invalid_service";
    InsufficientBalance = 301, "insufficient_balance";
    ZeroAmount = 302, "zero_amount";
    SelfTransfer = 303, "self_transfer";
    Overflow = 304, "overflow";
    RecordExists = 401, "record_exists";
    RecordNotFound = 402, "record_not_found";
    BadVersion = 403, "bad_version";
    BadPrevious = 404, "bad_previous";
    NotPatientOrProvider = 405, "not_patient_or_provider";
    RecordErased = 406, "record_erased";
    CategoryMismatch = 407, "category_mismatch";
    PatientMismatch = 408, "patient_mismatch";
    BadRecordSize = 409, "bad_record_size";
    NotPatientOrGuardian = 410, "not_patient_or_guardian";
    NotRecordWriter = 411, "not_record_writer";
    NotPatientOrDelegate = 501, "not_patient_or_delegate";
    GrantNotFound = 502, "grant_not_found";
    GrantRevoked = 503, "grant_revoked";
    BadExpiry = 504, "bad_expiry";
    BadScope = 505, "bad_scope";
    TooManyGrants = 506, "too_many_grants";
    EmergencyNotEnabled = 507, "emergency_not_enabled";
    NotAProvider = 508, "not_a_provider";
    EmergencyOpen = 509, "emergency_open";
    DelegationNotFound = 510, "delegation_not_found";
    SelfGrant = 511, "self_grant";
    BadPurpose = 512, "bad_purpose";
    BadWindow = 513, "bad_window";
    BadResponders = 514, "bad_responders";
    NotAResponder = 515, "not_a_responder";
    NotAVault = 601, "not_a_vault";
    BadAuditBatch = 602, "bad_audit_batch";
    NotAnIssuer = 701, "not_an_issuer";
    BadCredentialObject = 702, "bad_credential_object";
    DefinitionExists = 703, "definition_exists";
    UnknownDefinition = 704, "unknown_definition";
    NotTheIssuer = 705, "not_the_issuer";
    BadRevocationUpdate = 706, "bad_revocation_update";
    SetExists = 707, "set_exists";
    UnknownRoleRule = 708, "unknown_role_rule";
    BadRoleRule = 709, "bad_role_rule";
    PresentationRejected = 710, "presentation_rejected";
    AuditRecordMismatch = 603, "audit_record_mismatch";
}

impl BorshSerialize for ErrorCode {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        self.code().serialize(writer)
    }
}

impl BorshDeserialize for ErrorCode {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let code = u16::deserialize_reader(reader)?;
        ErrorCode::from_code(code).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "unknown error code")
        })
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <String as serde::Deserialize>::deserialize(d)?;
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code `{name}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_round_trip() {
        let mut codes: Vec<u16> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        codes.sort();
        codes.dedup();
        names.sort();
        names.dedup();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(code.code()), Some(*code));
        }
    }
}
