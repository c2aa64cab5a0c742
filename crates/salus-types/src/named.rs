//! Fieldless enums stored as one byte on chain and named in snake_case in JSON
//! and on the command line (roles, categories, purposes, …).

/// Declares `pub enum $name` with explicit one-byte codes and snake_case names.
///
/// The byte is the canonical (borsh) encoding, so a code, once published, keeps
/// its meaning; unknown bytes are a decode error, never a silent default.
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $noun:literal {
            $($(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $code,)+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The snake_case name used in JSON and on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The one-byte canonical code.
            pub fn code(self) -> u8 {
                self as u8
            }

            pub fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.name()).collect();
                    format!("unknown {} `{s}` (expected one of {})", $noun, names.join(", "))
                })
            }
        }

        impl borsh::BorshSerialize for $name {
            fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
                writer.write_all(&[self.code()])
            }
        }

        impl borsh::BorshDeserialize for $name {
            fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
                let mut byte = [0u8; 1];
                reader.read_exact(&mut byte)?;
                $name::from_code(byte[0]).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        concat!("unknown ", $noun, " code"),
                    )
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::named_enum! {
        /// A test enum.
        Fruit, "fruit" {
            Apple = 0 => "apple",
            BloodOrange = 3 => "blood_orange",
        }
    }

    #[test]
    fn names_codes_and_encodings_round_trip() {
        for fruit in Fruit::ALL {
            assert_eq!(Fruit::from_code(fruit.code()), Some(*fruit));
            assert_eq!(fruit.name().parse::<Fruit>(), Ok(*fruit));
            let bytes = borsh::to_vec(fruit).unwrap();
            assert_eq!(bytes, vec![fruit.code()]);
            assert_eq!(borsh::from_slice::<Fruit>(&bytes).unwrap(), *fruit);
            let json = serde_json::to_string(fruit).unwrap();
            assert_eq!(serde_json::from_str::<Fruit>(&json).unwrap(), *fruit);
        }
        assert_eq!(
            serde_json::to_string(&Fruit::BloodOrange).unwrap(),
            "\"blood_orange\""
        );
        assert!(borsh::from_slice::<Fruit>(&[1]).is_err());
        let error = "pear".parse::<Fruit>().unwrap_err();
        assert!(error.contains("unknown fruit `pear`"), "{error}");
    }
}
