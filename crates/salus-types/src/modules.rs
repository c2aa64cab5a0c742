//! The module registry: every module of the state machine, once.
//!
//! [`with_modules!`](crate::with_modules) is the one declaration. Each line
//! names a module's stable tag (its byte in every encoded action and event,
//! fixed forever), its name (its state prefix, its JSON name and the file it
//! lives in, `salus_types::<name>` and `salus_app::<name>`), its variant in
//! [`Action`] and [`Event`], its wire types, and the error codes it owns.
//! Everything that must list every module is derived from it: here the
//! [`Action`] and [`Event`] enums with their encodings, `From` impls and
//! [`Event::accounts`], the [`Genesis`](crate::Genesis) sections and the
//! error-code ranges (checked at compile time); in `salus-app` the dispatch
//! of every phase, the module caches and the genesis loop.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::{AccountId, ErrorCode};

/// Expands `$then! { … }` with the registry's lines:
/// `tag => name Variant { action: A, event: E, [genesis: G,] errors: lo..hi }`,
/// each optionally behind an attribute such as `#[cfg(feature = "…")]` (a
/// module behind one has no genesis section). The attribute is evaluated in
/// the crate that expands the registry, so each such crate forwards the
/// feature to `salus-types`.
///
/// Adding a module adds one line here; a tag is never reused or changed.
#[macro_export]
macro_rules! with_modules {
    ($then:path) => {
        $then! {
            0 => identity Identity {
                action: $crate::identity::IdentityAction,
                event: $crate::identity::IdentityEvent,
                genesis: $crate::identity::IdentityGenesis,
                errors: 200..300,
            },
            1 => token Token {
                action: $crate::token::TokenAction,
                event: $crate::token::TokenEvent,
                genesis: $crate::token::TokenGenesis,
                errors: 300..400,
            },
            2 => records Records {
                action: $crate::records::RecordAction,
                event: $crate::records::RecordEvent,
                errors: 400..500,
            },
            3 => consent Consent {
                action: $crate::consent::ConsentAction,
                event: $crate::consent::ConsentEvent,
                errors: 500..600,
            },
            4 => audit Audit {
                action: $crate::audit::AuditAction,
                event: $crate::audit::AuditEvent,
                genesis: $crate::audit::AuditGenesis,
                errors: 600..700,
            },
            5 => credentials Credentials {
                action: $crate::credentials::CredentialAction,
                event: $crate::credentials::CredentialEvent,
                errors: 700..800,
            },
            6 => oracle Oracle {
                action: $crate::oracle::OracleAction,
                event: $crate::oracle::OracleEvent,
                genesis: $crate::oracle::OracleGenesis,
                errors: 800..900,
            },
            7 => insurance Insurance {
                action: $crate::insurance::InsuranceAction,
                event: $crate::insurance::InsuranceEvent,
                genesis: $crate::insurance::InsuranceGenesis,
                errors: 900..1000,
            },
            8 => staking Staking {
                action: $crate::staking::StakingAction,
                event: $crate::staking::StakingEvent,
                genesis: $crate::staking::StakingGenesis,
                errors: 1000..1100,
            },
            9 => governance Governance {
                action: $crate::governance::GovernanceAction,
                event: $crate::governance::GovernanceEvent,
                genesis: $crate::governance::GovernanceGenesis,
                errors: 1100..1200,
            },
            10 => epochs Epochs {
                action: $crate::epochs::EpochsAction,
                event: $crate::epochs::EpochsEvent,
                genesis: $crate::epochs::EpochsGenesis,
                errors: 1200..1300,
            },
            // The template module, for the test of "Adding a module" only.
            #[cfg(feature = "toy-module")]
            250 => toy Toy {
                action: $crate::toy::ToyAction,
                event: $crate::toy::ToyEvent,
                errors: 9900..10000,
            },
        }
    };
}

/// What the registry says of one module, for code that lists modules at
/// run time (docs, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    pub tag: u8,
    pub name: &'static str,
    /// The error codes the module may declare.
    pub errors: std::ops::Range<u16>,
}

/// An enum over every module's wire type, with pinned tags as its encoding:
/// the tag byte, then the module's own type.
macro_rules! tagged_union {
    (
        $(#[$meta:meta])*
        $name:ident, $noun:literal, $content:literal,
        $($(#[$attr:meta])* $tag:literal => $module:ident $variant:ident($inner:ty),)*
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "module", content = $content, rename_all = "snake_case")]
        pub enum $name {
            $($(#[$attr])* $variant($inner),)*
        }

        impl $name {
            /// The registry tag of the module this belongs to.
            pub fn tag(&self) -> u8 {
                match self {
                    $($(#[$attr])* $name::$variant(_) => $tag,)*
                }
            }

            /// The name of the module this belongs to.
            pub fn module(&self) -> &'static str {
                match self {
                    $($(#[$attr])* $name::$variant(_) => stringify!($module),)*
                }
            }
        }

        $(
            $(#[$attr])*
            impl From<$inner> for $name {
                fn from(inner: $inner) -> Self {
                    $name::$variant(inner)
                }
            }
        )*

        impl BorshSerialize for $name {
            fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
                writer.write_all(&[self.tag()])?;
                match self {
                    $($(#[$attr])* $name::$variant(inner) => inner.serialize(writer),)*
                }
            }
        }

        impl BorshDeserialize for $name {
            fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
                let mut tag = [0u8; 1];
                reader.read_exact(&mut tag)?;
                match tag[0] {
                    $($(#[$attr])* $tag => Ok($name::$variant(<$inner>::deserialize_reader(reader)?)),)*
                    _ => Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        concat!("unknown module tag in ", $noun),
                    )),
                }
            }
        }
    };
}

/// The registry's expansion in this crate.
macro_rules! wire_types {
    ($(
        $(#[$attr:meta])*
        $tag:literal => $module:ident $variant:ident {
            action: $action:ty,
            event: $event:ty,
            $(genesis: $genesis:ty,)?
            errors: $low:literal..$high:literal,
        },
    )*) => {
        /// Every module, in registry order.
        #[allow(clippy::vec_init_then_push)] // Each push may stand behind its line's attribute.
        pub fn modules() -> Vec<ModuleInfo> {
            let mut modules = Vec::new();
            $(
                $(#[$attr])*
                modules.push(ModuleInfo {
                    tag: $tag,
                    name: stringify!($module),
                    errors: $low..$high,
                });
            )*
            modules
        }

        /// Every module's registry tag, by module name.
        #[allow(non_upper_case_globals)]
        pub mod tag {
            $($(#[$attr])* pub const $module: u8 = $tag;)*
        }

        /// The envelope's error codes, then every module's.
        pub(crate) fn error_tables() -> &'static [&'static [(ErrorCode, &'static str)]] {
            static TABLES: std::sync::OnceLock<Vec<&'static [(ErrorCode, &'static str)]>> =
                std::sync::OnceLock::new();
            TABLES.get_or_init(|| {
                let mut tables = vec![crate::error_code::envelope::ERROR_CODES];
                $(
                    $(#[$attr])*
                    tables.push(crate::$module::ERROR_CODES);
                )*
                tables
            })
        }

        // Every module's codes lie in its range, and ranges are disjoint and
        // above the envelope's.
        #[allow(unused_assignments)]
        const _: () = {
            let mut previous_high = crate::error_code::ENVELOPE_CODES.end;
            $(
                $(#[$attr])*
                {
                    assert!($low >= previous_high && $low < $high,
                        "module error ranges must be increasing and disjoint");
                    previous_high = $high;
                    let codes = crate::$module::ERROR_CODES;
                    let mut j = 0;
                    while j < codes.len() {
                        let code = codes[j].0.code();
                        assert!(code >= $low && code < $high,
                            concat!("an error code of module `", stringify!($module), "` lies outside its registry range"));
                        j += 1;
                    }
                }
            )*
        };

        tagged_union! {
            /// One module's action. Encoded as the module's registry tag,
            /// then the action.
            Action, "action", "action",
            $($(#[$attr])* $tag => $module $variant($action),)*
        }

        tagged_union! {
            /// One module's event. Encoded as the module's registry tag, then
            /// the event.
            Event, "event", "event",
            $($(#[$attr])* $tag => $module $variant($event),)*
        }

        impl Event {
            /// The accounts this event concerns, for the events-by-account index.
            pub fn accounts(&self) -> Vec<AccountId> {
                match self {
                    $($(#[$attr])* Event::$variant(event) => event.accounts(),)*
                }
            }
        }

        /// The genesis document: chain id, start time, validators and each
        /// module's initial section (for the modules that have one).
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Genesis {
            pub chain_id: String,
            pub genesis_time_ms: u64,
            pub validators: Vec<crate::GenesisValidator>,
            // A module gated by an attribute has no genesis section.
            $($(
                #[serde(default)]
                #[doc = concat!("The `", stringify!($module), "` module's initial state.")]
                pub $module: $genesis,
            )?)*
        }
    };
}

with_modules!(wire_types);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_names_are_unique() {
        let modules = modules();
        let mut tags: Vec<u8> = modules.iter().map(|m| m.tag).collect();
        let mut names: Vec<&str> = modules.iter().map(|m| m.name).collect();
        tags.sort_unstable();
        tags.dedup();
        names.sort_unstable();
        names.dedup();
        assert_eq!(tags.len(), modules.len());
        assert_eq!(names.len(), modules.len());
    }

    #[test]
    fn an_unknown_tag_is_a_decode_error() {
        let unused = (0..=u8::MAX)
            .find(|t| modules().iter().all(|m| m.tag != *t))
            .unwrap();
        assert!(borsh::from_slice::<Action>(&[unused, 0]).is_err());
        assert!(borsh::from_slice::<Event>(&[unused, 0]).is_err());
    }
}
