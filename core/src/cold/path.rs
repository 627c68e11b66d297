//! The key-to-path mapping of the git cold tier.
//!
//! Each key's value is a blob at the path this module derives, so `git log -- <path>` is the
//! key's history. The mapping is injective and reversible, never leaves the tree, lets `a` and
//! `a/b` live side by side, and produces only names that cannot collide on a case-insensitive
//! or normalising file system (macOS, Windows) when the repository is checked out.
//!
//! Rules, per `/`-separated segment of the key (documented in `docs/cold-format.md`):
//! - the bytes `a-z`, `0-9`, `-`, `_` and `.` are kept; every other byte (upper case, `%`,
//!   space, punctuation, every byte of a non-ASCII character) becomes `%xx`, lower-case hex;
//! - a `.` that starts or ends a segment is escaped (`%2e`), so no segment is `.`, `..`,
//!   `.git` or hidden, and none ends in a dot that Windows would strip;
//! - the last segment gets the suffix `.v`: it is a file; the other segments are directories,
//!   and a directory name never ends in `.v` (its dot is escaped), so a file and a directory
//!   never share a name: `a` is `a.v` and `a/b` is `a/b.v`.
//!
//! The output alphabet is `a-z 0-9 - _ . % /` with no upper case, so two different paths never
//! differ only by case, and it is ASCII, so Unicode normalisation cannot merge two of them.

use alloc::string::String;
use alloc::vec::Vec;

use crate::key::{Key, KeyError};

/// Suffix of every value file.
pub const LEAF_SUFFIX: &str = ".v";

/// Why a path is not one that [`key_to_path`] produces.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    #[error("path {path:?} does not end in {LEAF_SUFFIX:?}")]
    NoLeafSuffix { path: String },
    #[error("path {path:?} is not in canonical form at byte {offset}")]
    NotCanonical { path: String, offset: usize },
    #[error("path decodes to an invalid key: {0}")]
    InvalidKey(#[from] KeyError),
}

fn keep_raw(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'-' | b'_' | b'.')
}

fn push_escaped(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('%');
    out.push(char::from(
        HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0'),
    ));
    out.push(char::from(
        HEX.get(usize::from(byte & 15)).copied().unwrap_or(b'0'),
    ));
}

/// Whether the byte at `i` of `segment` must be escaped even though it is a kept byte.
fn escape_dot(segment: &[u8], i: usize, is_leaf: bool) -> bool {
    let last = segment.len() - 1;
    if i == 0 || i == last {
        return true;
    }
    // A directory must not end in the leaf suffix: escape the dot of a final ".v".
    !is_leaf && i + 1 == last && segment.get(last) == Some(&b'v')
}

fn encode_segment(out: &mut String, segment: &str, is_leaf: bool) {
    let bytes = segment.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if keep_raw(b) && !(b == b'.' && escape_dot(bytes, i, is_leaf)) {
            out.push(char::from(b));
        } else {
            push_escaped(out, b);
        }
    }
}

/// The path of `key`'s value in the cold tier's tree.
#[must_use]
pub fn key_to_path(key: &Key) -> String {
    let mut out = String::with_capacity(key.len() + LEAF_SUFFIX.len() + 8);
    let mut segments = key.split('/').peekable();
    while let Some(segment) = segments.next() {
        let is_leaf = segments.peek().is_none();
        encode_segment(&mut out, segment, is_leaf);
        if is_leaf {
            out.push_str(LEAF_SUFFIX);
        } else {
            out.push('/');
        }
    }
    out
}

/// The key whose value lives at `path`; refuses every path [`key_to_path`] would not produce.
pub fn path_to_key(path: &str) -> Result<Key, PathError> {
    let Some(body) = path.strip_suffix(LEAF_SUFFIX) else {
        return Err(PathError::NoLeafSuffix { path: path.into() });
    };
    let not_canonical = |offset| PathError::NotCanonical {
        path: path.into(),
        offset,
    };
    let mut key_bytes: Vec<u8> = Vec::with_capacity(body.len());
    let raw = body.as_bytes();
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'/' => {
                key_bytes.push(b'/');
                i += 1;
            }
            b'%' => {
                let &[h0, h1] = raw.get(i + 1..i + 3).ok_or_else(|| not_canonical(i))? else {
                    return Err(not_canonical(i));
                };
                let digit = |h: u8| match h {
                    b'0'..=b'9' => Some(h - b'0'),
                    b'a'..=b'f' => Some(h - b'a' + 10),
                    _ => None,
                };
                let (Some(hi), Some(lo)) = (digit(h0), digit(h1)) else {
                    return Err(not_canonical(i));
                };
                key_bytes.push(hi << 4 | lo);
                i += 3;
            }
            b if keep_raw(b) => {
                key_bytes.push(b);
                i += 1;
            }
            _ => return Err(not_canonical(i)),
        }
    }
    let key_str = core::str::from_utf8(&key_bytes).map_err(|e| KeyError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let key = Key::new(key_str)?;
    // Canonical form: the one encoding the key has. Anything else (an escaped byte that could
    // have stayed raw, upper-case hex, a raw leading dot) is refused, keeping the map a
    // bijection between keys and the paths it produces.
    if key_to_path(&key) != path {
        return Err(not_canonical(0));
    }
    Ok(key)
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
