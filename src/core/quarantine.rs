//! Quarantine records: their line (the SPEC's shape) and their name (their identity).
//!
//! A record is one JSON line `{"reason","message_id","received_at","body"}`. Its identity is its
//! `message_id` and its `body` (as written: minimised unless raw bodies were asked for), never
//! `received_at`: the same message quarantined again (a rerun, an SQS re-delivery in another
//! block or another writer) has the same name, so stores that create a name only once keep one
//! record of it. The name is the first 128 bits of SHA-256 over the length-prefixed id and the
//! body, in hex, plus `.jsonl`: stable across runs, writers and versions, and it says nothing a
//! record does not already say (a hash of the raw body would let anyone holding a minimised
//! record confirm a guessed caller number).
//!
//! [`QuarantineRecord`] is the one shape of a record, for writing (borrowed strings, fields in
//! the SPEC's order, so the bytes written never change) and for reading back (owned strings;
//! only `body` is required, because lines of older writers may lack the rest).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The extension of every quarantine object or file (one JSON line each).
pub const RECORD_EXTENSION: &str = ".jsonl";

/// A quarantine record (SPEC "Quarantine"): `QuarantineRecord<&str>` as written,
/// `QuarantineRecord` (owned strings) as read back. The field order is the line's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineRecord<S = String> {
    #[serde(default)]
    pub reason: S,
    #[serde(default)]
    pub message_id: S,
    #[serde(default)]
    pub received_at: S,
    pub body: S,
}

impl<S: AsRef<str> + Serialize> QuarantineRecord<S> {
    /// The record as one JSON line, newline included.
    pub fn line(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).expect("serialising into memory");
        out.push(b'\n');
        out
    }

    /// The record's name under the quarantine location (see the module docs).
    pub fn name(&self) -> String {
        record_name(self.message_id.as_ref(), self.body.as_ref())
    }
}

impl QuarantineRecord {
    /// Reads one line back (either layout's lines: a record of an older writer may hold only
    /// `body`).
    pub fn parse(line: &[u8]) -> Result<QuarantineRecord, serde_json::Error> {
        serde_json::from_slice(line)
    }
}

/// `hex(SHA-256(len(id) as u64 LE ‖ id ‖ body)[..16]) + ".jsonl"`.
pub fn record_name(message_id: &str, body: &str) -> String {
    let digest = Sha256::new()
        .chain_update((message_id.len() as u64).to_le_bytes())
        .chain_update(message_id)
        .chain_update(body)
        .finalize();
    let first: [u8; 16] = digest[..16].try_into().unwrap_or_default();
    format!("{:032x}{RECORD_EXTENSION}", u128::from_be_bytes(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &[u8; 16] = b"0123456789abcdef";

    fn rec<'a>(id: &'a str, at: &'a str, body: &'a str) -> QuarantineRecord<&'a str> {
        QuarantineRecord {
            reason: "not_json",
            message_id: id,
            received_at: at,
            body,
        }
    }

    #[test]
    fn the_line_has_the_spec_shape() {
        let line = rec("m-1", "2026-11-27T22:27:59.425Z", "{not \"json\"").line();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"reason\":\"not_json\",\"message_id\":\"m-1\",\"received_at\":\"2026-11-27T22:27:59.425Z\",\"body\":\"{not \\\"json\\\"\"}\n"
        );
    }

    #[test]
    fn a_written_line_reads_back_as_the_same_record() {
        let written = rec("m-1", "2026-11-27T22:27:59Z", "{\"a\":1}");
        let read = QuarantineRecord::parse(&written.line()).unwrap();
        assert_eq!(read.reason, "not_json");
        assert_eq!(read.message_id, "m-1");
        assert_eq!(read.received_at, "2026-11-27T22:27:59Z");
        assert_eq!(read.body, "{\"a\":1}");
        assert_eq!(read.line(), written.line());
        assert_eq!(read.name(), written.name());
    }

    #[test]
    fn an_older_line_with_only_a_body_is_read() {
        let read = QuarantineRecord::parse(b"{\"body\":\"x\",\"extra\":2}").unwrap();
        assert_eq!(read.body, "x");
        assert!(read.reason.is_empty() && read.message_id.is_empty());
        assert!(QuarantineRecord::parse(b"{\"reason\":\"x\"}").is_err());
    }

    #[test]
    fn the_name_is_the_identity_and_not_the_time() {
        let a = rec("m-1", "2026-11-27T22:27:59Z", "x").name();
        assert_eq!(a, rec("m-1", "2026-11-28T01:00:00Z", "x").name());
        assert_ne!(a, rec("m-2", "2026-11-27T22:27:59Z", "x").name());
        assert_ne!(a, rec("m-1", "2026-11-27T22:27:59Z", "y").name());
        // The id's length is part of the hash: moving a character between id and body matters.
        assert_ne!(record_name("ab", "c"), record_name("a", "bc"));
        assert_eq!(a.len(), 32 + RECORD_EXTENSION.len());
        assert!(a[..32].bytes().all(|b| HEX.contains(&b)));
        // Pinned: the name must not change between versions, or reruns would duplicate.
        assert_eq!(
            record_name("", ""),
            "af5570f5a1810b7af78caf4bc70a660f.jsonl"
        );
    }
}
