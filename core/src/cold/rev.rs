//! Revisions and what history reads return, shared by the hosts.
//!
//! The native store hands revisions to gix's full rev-parse; the browser has no such parser, so
//! the forms a user types for this store's linear history are parsed here: a full or
//! abbreviated commit id, `HEAD` / `main` / `refs/heads/main`, each optionally followed by
//! `~N`, `~` or `^` steps back along first parents.

use alloc::string::String;

use super::objects::{Oid, parse_hex};

/// One version of a key in the history: the commit that changed it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Version {
    /// Full commit id (hex).
    pub commit: String,
    /// Commit time, seconds since the Unix epoch.
    pub time_secs: i64,
    /// Value size in bytes, or `None` when this commit deleted the key.
    pub size: Option<u64>,
}

/// One commit of a log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogEntry {
    pub commit: String,
    pub time_secs: i64,
    /// The commit's subject line: which keys changed.
    pub summary: String,
}

/// Where a revision starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevBase {
    /// The tip of `main`.
    Tip,
    /// A full commit id.
    Id(Oid),
    /// An abbreviated id: 4 to 39 lower-case hex digits.
    Prefix(String),
}

/// A parsed revision: a base, then `back` steps along first parents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rev {
    pub base: RevBase,
    pub back: u32,
}

/// Why a revision does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "revision {rev:?} is not one this store reads: use a commit id (4 to 40 hex digits), HEAD \
     or main, optionally followed by ~N or ^"
)]
pub struct RevError {
    pub rev: String,
}

/// Abbreviated ids shorter than this are refused, as git does.
pub const ABBREV_MIN: usize = 4;

pub fn parse_rev(rev: &str) -> Result<Rev, RevError> {
    let bad = || RevError { rev: rev.into() };
    let split = rev.find(['~', '^']).unwrap_or(rev.len());
    let (base, mut steps) = rev.split_at(split);
    let base = match base {
        "HEAD" | "main" | "refs/heads/main" | "heads/main" => RevBase::Tip,
        hex if hex.len() == 40 => RevBase::Id(parse_hex(hex.as_bytes()).ok_or_else(bad)?),
        hex if (ABBREV_MIN..40).contains(&hex.len())
            && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            RevBase::Prefix(hex.to_ascii_lowercase())
        }
        _ => return Err(bad()),
    };
    let mut back: u32 = 0;
    while let Some(c) = steps.chars().next() {
        steps = steps.get(1..).unwrap_or_default();
        let digits = steps.bytes().take_while(u8::is_ascii_digit).count();
        let (n, rest) = steps.split_at(digits);
        let n: u32 = match (c, n) {
            ('~' | '^', "") => 1,
            ('~', n) => n.parse().map_err(|_| bad())?,
            // `^N` picks the N-th parent: this store's commits have one, so only `^1`.
            ('^', "1") => 1,
            _ => return Err(bad()),
        };
        back = back.checked_add(n).ok_or_else(bad)?;
        steps = rest;
    }
    Ok(Rev { base, back })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn revisions_users_type_parse_and_others_are_refused() {
        let tip = |back| Rev {
            base: RevBase::Tip,
            back,
        };
        assert_eq!(parse_rev("HEAD").unwrap(), tip(0));
        assert_eq!(parse_rev("main~3").unwrap(), tip(3));
        assert_eq!(parse_rev("HEAD^^").unwrap(), tip(2));
        assert_eq!(parse_rev("HEAD~").unwrap(), tip(1));
        assert_eq!(parse_rev("HEAD~2^").unwrap(), tip(3));
        assert_eq!(
            parse_rev("ABCD1~1").unwrap(),
            Rev {
                base: RevBase::Prefix("abcd1".into()),
                back: 1
            }
        );
        let full = "ce013625030ba8dba906f756967f9e9ca394464a";
        assert!(matches!(parse_rev(full).unwrap().base, RevBase::Id(_)));
        for bad in [
            "",
            "abc",
            "HEAD~x",
            "HEAD^2",
            "xyz1",
            "HEAD~99999999999",
            "main:a",
        ] {
            assert!(parse_rev(bad).is_err(), "{bad}");
        }
    }
}
