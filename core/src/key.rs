//! Keys: validated UTF-8 paths.
//!
//! Keys become paths in the git cold tier, so the rules here are the ones a path needs to be
//! safe: no empty, `.`, `..` or `.git` segment, no NUL or control character. Validation happens
//! once, when a `Key` is built; everything downstream can rely on it.

use alloc::string::String;
use alloc::sync::Arc;
use core::borrow::Borrow;
use core::fmt;
use core::ops::Deref;

/// Default and hard upper bound on a key's length in bytes. 1 KiB keeps a key directory of a
/// million keys near 1 GiB in the worst case and is far above any path a git host accepts.
pub const KEY_BYTES_MAX: usize = 1024;

/// A validated key, cheap to clone (shared with the key directory, cache and dirty set).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(Arc<str>);

/// Why a key was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("invalid key: empty")]
    Empty,
    #[error("invalid key: {len} bytes is longer than the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("invalid key: empty segment at byte {offset} (leading, trailing or doubled '/')")]
    EmptySegment { offset: usize },
    #[error("invalid key: segment '{segment}' at byte {offset} is reserved")]
    ReservedSegment {
        segment: &'static str,
        offset: usize,
    },
    #[error("invalid key: NUL byte at offset {offset}")]
    Nul { offset: usize },
    #[error("invalid key: control character U+{code:04X} at offset {offset}")]
    Control { code: u32, offset: usize },
    #[error("invalid key: not UTF-8 (at byte {offset})")]
    NotUtf8 { offset: usize },
}

impl Key {
    /// Validates `s` against the default length limit.
    pub fn new(s: &str) -> Result<Key, KeyError> {
        Key::with_limit(s, KEY_BYTES_MAX)
    }

    /// Checks `s` against the default rules without building a key (reads use this).
    pub fn validate(s: &str) -> Result<(), KeyError> {
        check(s, KEY_BYTES_MAX)
    }

    /// Validates `s` against `key_bytes_max` (clamped to [`KEY_BYTES_MAX`]).
    pub fn with_limit(s: &str, key_bytes_max: usize) -> Result<Key, KeyError> {
        check(s, key_bytes_max.min(KEY_BYTES_MAX))?;
        Ok(Key(Arc::from(s)))
    }

    /// Validates untrusted bytes (from disk or a browser).
    pub fn from_utf8(bytes: &[u8]) -> Result<Key, KeyError> {
        let s = core::str::from_utf8(bytes).map_err(|e| KeyError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        Key::new(s)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length in bytes.
    #[must_use]
    pub fn len_bytes(&self) -> u64 {
        self.0.len() as u64
    }
}

fn check(s: &str, max: usize) -> Result<(), KeyError> {
    if s.is_empty() {
        return Err(KeyError::Empty);
    }
    if s.len() > max {
        return Err(KeyError::TooLong { len: s.len(), max });
    }
    for (offset, c) in s.char_indices() {
        if c == '\0' {
            return Err(KeyError::Nul { offset });
        }
        if c.is_control() {
            return Err(KeyError::Control {
                code: c as u32,
                offset,
            });
        }
    }
    let mut offset = 0;
    for segment in s.split('/') {
        match segment {
            "" => return Err(KeyError::EmptySegment { offset }),
            "." => {
                return Err(KeyError::ReservedSegment {
                    segment: ".",
                    offset,
                });
            }
            ".." => {
                return Err(KeyError::ReservedSegment {
                    segment: "..",
                    offset,
                });
            }
            seg if seg.eq_ignore_ascii_case(".git") => {
                return Err(KeyError::ReservedSegment {
                    segment: ".git",
                    offset,
                });
            }
            _ => {}
        }
        offset += segment.len() + 1;
    }
    Ok(())
}

impl Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for Key {
    type Error = KeyError;
    fn try_from(s: &str) -> Result<Key, KeyError> {
        Key::new(s)
    }
}

impl TryFrom<String> for Key {
    type Error = KeyError;
    fn try_from(s: String) -> Result<Key, KeyError> {
        Key::new(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn accepts_ordinary_paths() {
        for ok in [
            "a",
            "a/b",
            "notes/2026/11/28.md",
            "ünï/cødé",
            "a.b",
            "...",
            ".gitx",
            "a b",
        ] {
            assert_eq!(
                Key::new(ok).map(|k| k.to_string()).as_deref(),
                Ok(ok),
                "{ok}"
            );
        }
    }

    #[test]
    fn refuses_each_bad_class_with_its_reason() {
        let long = "x".repeat(KEY_BYTES_MAX + 1);
        let cases: &[(&str, KeyError)] = &[
            ("", KeyError::Empty),
            (
                &long,
                KeyError::TooLong {
                    len: KEY_BYTES_MAX + 1,
                    max: KEY_BYTES_MAX,
                },
            ),
            ("/a", KeyError::EmptySegment { offset: 0 }),
            ("a/", KeyError::EmptySegment { offset: 2 }),
            ("a//b", KeyError::EmptySegment { offset: 2 }),
            (
                "a/./b",
                KeyError::ReservedSegment {
                    segment: ".",
                    offset: 2,
                },
            ),
            (
                "a/..",
                KeyError::ReservedSegment {
                    segment: "..",
                    offset: 2,
                },
            ),
            (
                ".git/config",
                KeyError::ReservedSegment {
                    segment: ".git",
                    offset: 0,
                },
            ),
            (
                "x/.GIT",
                KeyError::ReservedSegment {
                    segment: ".git",
                    offset: 2,
                },
            ),
            ("a\0b", KeyError::Nul { offset: 1 }),
            (
                "a\nb",
                KeyError::Control {
                    code: 10,
                    offset: 1,
                },
            ),
            (
                "a\u{7f}",
                KeyError::Control {
                    code: 0x7f,
                    offset: 1,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(Key::new(input).err().as_ref(), Some(want), "{input:?}");
        }
        assert_eq!(
            Key::from_utf8(b"a\xffb").err(),
            Some(KeyError::NotUtf8 { offset: 1 })
        );
        assert_eq!(
            Key::with_limit("abcdef", 4).err(),
            Some(KeyError::TooLong { len: 6, max: 4 })
        );
    }
}
