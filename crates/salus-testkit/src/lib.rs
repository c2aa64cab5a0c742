//! Helpers shared by Salus's integration tests.

use std::path::{Path, PathBuf};

/// The path of a FHIR fixture in `testdata/fhir`.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fhir")
        .join(name)
}

/// The bytes of a FHIR fixture in `testdata/fhir`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, with its bytes.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// An error printed as its chain of causes (`a: b: c`) names each cause
/// once: a message that repeats its source reads as `a: b: b`.
pub fn assert_says_each_cause_once(message: &str) {
    for line in message.lines() {
        let causes: Vec<&str> = line.split(": ").map(str::trim).collect();
        for (i, cause) in causes.iter().enumerate() {
            assert!(
                !causes[i + 1..].contains(cause),
                "`{cause}` is said twice in: {line}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_needles_and_fixtures() {
        assert!(contains(b"abc glucose def", b"glucose"));
        assert!(!contains(b"abc", b"abcd"));
        assert!(!contains(b"abc", b""));
        assert!(fixture("Observation-f001.json").starts_with(b"{"));
        let dir = fixture_path("").canonicalize().unwrap();
        assert!(files_under(&dir).len() >= 6);
    }

    #[test]
    fn a_cause_said_twice_is_caught() {
        assert_says_each_cause_once("error: cannot open key `a`: wrong passphrase");
        let repeated = std::panic::catch_unwind(|| {
            assert_says_each_cause_once("error: tx is malformed: tx is malformed: short");
        });
        assert!(repeated.is_err());
    }
}
