//! Git bundles: a header naming refs, then one pack. `git clone FILE` and `git fetch FILE` read
//! them, and `git bundle create` writes them; so does the store, to export its history.
//!
//! Format: git's `Documentation/gitformat-bundle.txt`. Version 2 is written; versions 2 and 3
//! are read. The header is untrusted and bounded ([`HEADER_BYTES_MAX`], [`REFS_MAX`]). The store
//! takes whole histories only, so a bundle with prerequisites (an incremental one, made with
//! `git bundle create FILE A..B`) or a filter (a partial one) is refused: both lack objects the
//! store would need.

use alloc::string::String;
use alloc::vec::Vec;

use super::objects::{Oid, hex, parse_hex};

const SIGNATURE_V2: &[u8] = b"# v2 git bundle";
const SIGNATURE_V3: &[u8] = b"# v3 git bundle";

/// Bytes of a bundle's header, signature to the blank line: a thousand times what a store's
/// one-ref bundle needs, and room for every branch and tag of a big repository.
pub const HEADER_BYTES_MAX: usize = 1 << 20;
/// Refs in one bundle.
pub const REFS_MAX: usize = 10_000;
/// Bytes of a refused capability or ref name quoted in an error.
const QUOTE_BYTES_MAX: usize = 100;

/// Writes a version-2 bundle: its signature, one `<id> <name>` line per ref, a blank line,
/// then `pack` (a complete pack, trailer included).
#[must_use]
pub fn write_bundle(refs: &[(&str, Oid)], pack: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + refs.len() * 64 + 1 + pack.len());
    out.extend_from_slice(SIGNATURE_V2);
    out.push(b'\n');
    for (name, oid) in refs {
        out.extend_from_slice(hex(oid).as_bytes());
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(pack);
    out
}

/// A parsed bundle: its refs, in header order, and its pack (not yet read; see
/// [`super::pack_read::read_pack`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleView<'a> {
    pub refs: Vec<(String, Oid)>,
    pub pack: &'a [u8],
}

/// Why a bundle is refused. Offsets are from the start of the bundle.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    #[error("not a git bundle: no \"# v2 git bundle\" or \"# v3 git bundle\" line at offset 0")]
    NotABundle,
    #[error("git bundle version {version:?} is not supported (only v2 and v3)")]
    UnsupportedVersion { version: String },
    #[error("bundle header ends at offset {offset} before the blank line that closes it")]
    Truncated { offset: u64 },
    #[error("bundle header is longer than {max} bytes")]
    HeaderTooLarge { max: u64 },
    #[error("bundle names more than {max} refs")]
    TooManyRefs { max: u64 },
    #[error("bundle uses object format {format:?}; only sha1 is supported")]
    UnsupportedObjectFormat { format: String },
    #[error(
        "bundle is filtered ({filter:?}), so it lacks objects; the store needs a bundle of \
         every object (`git bundle create FILE main`)"
    )]
    Filtered { filter: String },
    #[error("bundle has capability {capability:?} at offset {offset}, which is not supported")]
    UnknownCapability { capability: String, offset: u64 },
    #[error(
        "bundle is incremental: it requires commit {} (prerequisite at offset {offset}) to be \
         present already; the store needs the whole history (`git bundle create FILE main`, \
         without a range)",
        hex(.commit)
    )]
    Prerequisite { commit: Oid, offset: u64 },
    #[error("bundle header line at offset {offset} is not \"<40 hex digits> <ref name>\"")]
    BadRefLine { offset: u64 },
    #[error("bundle names no refs")]
    NoRefs,
    #[error("bundle data at offset {offset} is not a pack (no \"PACK\" signature)")]
    NotAPack { offset: u64 },
}

/// Parses the header of `bytes` and returns its refs and the pack that follows. Nothing of the
/// pack is read but its signature.
pub fn parse_bundle(bytes: &[u8]) -> Result<BundleView<'_>, BundleError> {
    let mut pos = 0usize;
    let (signature, next) = line_at(bytes, pos)?;
    let v3 = match signature {
        SIGNATURE_V2 => false,
        SIGNATURE_V3 => true,
        other => {
            return Err(
                match other
                    .strip_prefix(b"# ")
                    .and_then(|rest| rest.strip_suffix(b" git bundle"))
                {
                    Some(version) => BundleError::UnsupportedVersion {
                        version: quote(version),
                    },
                    None => BundleError::NotABundle,
                },
            );
        }
    };
    pos = next;
    let mut refs: Vec<(String, Oid)> = Vec::new();
    loop {
        let (line, next) = line_at(bytes, pos)?;
        let offset = pos as u64;
        if line.is_empty() {
            pos = next;
            break;
        }
        if let Some(capability) = line.strip_prefix(b"@").filter(|_| v3) {
            check_capability(capability, offset)?;
        } else if let Some(prerequisite) = line.strip_prefix(b"-") {
            let commit = prerequisite
                .get(..40)
                .and_then(parse_hex)
                .filter(|_| matches!(prerequisite.get(40), None | Some(b' ')))
                .ok_or(BundleError::BadRefLine { offset })?;
            return Err(BundleError::Prerequisite { commit, offset });
        } else {
            if refs.len() >= REFS_MAX {
                return Err(BundleError::TooManyRefs {
                    max: REFS_MAX as u64,
                });
            }
            refs.push(ref_line(line).ok_or(BundleError::BadRefLine { offset })?);
        }
        pos = next;
    }
    if refs.is_empty() {
        return Err(BundleError::NoRefs);
    }
    let pack = bytes.get(pos..).unwrap_or_default();
    if !pack.starts_with(b"PACK") {
        return Err(BundleError::NotAPack { offset: pos as u64 });
    }
    Ok(BundleView { refs, pack })
}

/// The line starting at `pos` (without its `\n`) and where the next starts; every line of the
/// header ends within [`HEADER_BYTES_MAX`].
fn line_at(bytes: &[u8], pos: usize) -> Result<(&[u8], usize), BundleError> {
    let window = bytes
        .get(pos..HEADER_BYTES_MAX.min(bytes.len()))
        .unwrap_or_default();
    match window.iter().position(|&b| b == b'\n') {
        Some(len) => Ok((window.get(..len).unwrap_or_default(), pos + len + 1)),
        None if bytes.len() >= HEADER_BYTES_MAX => Err(BundleError::HeaderTooLarge {
            max: HEADER_BYTES_MAX as u64,
        }),
        None => Err(BundleError::Truncated {
            offset: bytes.len() as u64,
        }),
    }
}

fn check_capability(capability: &[u8], offset: u64) -> Result<(), BundleError> {
    let (key, value) = match capability.iter().position(|&b| b == b'=') {
        Some(eq) => (
            capability.get(..eq).unwrap_or_default(),
            capability.get(eq + 1..),
        ),
        None => (capability, None),
    };
    match (key, value) {
        (b"object-format", Some(b"sha1")) => Ok(()),
        (b"object-format", format) => Err(BundleError::UnsupportedObjectFormat {
            format: quote(format.unwrap_or_default()),
        }),
        (b"filter", filter) => Err(BundleError::Filtered {
            filter: quote(filter.unwrap_or_default()),
        }),
        _ => Err(BundleError::UnknownCapability {
            capability: quote(capability),
            offset,
        }),
    }
}

/// `<40 hex> <name>`: a name that is UTF-8, with no space or control character.
fn ref_line(line: &[u8]) -> Option<(String, Oid)> {
    let oid = parse_hex(line.get(..40)?)?;
    let name = line.get(40..)?.strip_prefix(b" ")?;
    if name.is_empty() || name.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return None;
    }
    let name = core::str::from_utf8(name).ok()?;
    Some((String::from(name), oid))
}

/// Untrusted header text for an error message: lossy, and cut short.
fn quote(bytes: &[u8]) -> String {
    let cut = bytes.get(..QUOTE_BYTES_MAX).unwrap_or(bytes);
    String::from_utf8_lossy(cut).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::cold::objects::{Kind, Object, write_pack};
    use crate::cold::pack_read::{PackLimits, read_pack};
    use alloc::vec;

    fn pack() -> Vec<u8> {
        write_pack(&[Object::new(Kind::Blob, b"hello\n".to_vec())]).pack
    }

    #[test]
    fn bundles_round_trip() {
        let pack = pack();
        let a = [1u8; 20];
        let b = [0xabu8; 20];
        let bytes = write_bundle(&[("refs/heads/main", a), ("refs/tags/v1", b)], &pack);
        let header = alloc::format!(
            "# v2 git bundle\n{} refs/heads/main\n{} refs/tags/v1\n\n",
            hex(&a),
            hex(&b)
        );
        assert_eq!(&bytes[..header.len()], header.as_bytes());
        let view = parse_bundle(&bytes).unwrap();
        assert_eq!(
            view.refs,
            vec![("refs/heads/main".into(), a), ("refs/tags/v1".into(), b)]
        );
        assert_eq!(view.pack, pack.as_slice());
        assert_eq!(
            read_pack(view.pack, &PackLimits::default()).unwrap().len(),
            1
        );
    }

    fn v3(capabilities: &str) -> Vec<u8> {
        let mut bytes = alloc::format!("# v3 git bundle\n{capabilities}{} HEAD\n\n", hex(&[2; 20]))
            .into_bytes();
        bytes.extend_from_slice(&pack());
        bytes
    }

    #[test]
    fn v3_capabilities_sha1_is_accepted_filters_and_the_unknown_are_not() {
        let bytes = v3("@object-format=sha1\n");
        let view = parse_bundle(&bytes).unwrap();
        assert_eq!(view.refs, vec![("HEAD".into(), [2; 20])]);
        assert!(parse_bundle(&v3("")).is_ok());
        assert_eq!(
            parse_bundle(&v3("@object-format=sha256\n")),
            Err(BundleError::UnsupportedObjectFormat {
                format: "sha256".into()
            })
        );
        assert_eq!(
            parse_bundle(&v3("@filter=blob:none\n")),
            Err(BundleError::Filtered {
                filter: "blob:none".into()
            })
        );
        assert_eq!(
            parse_bundle(&v3("@frobnicate\n")),
            Err(BundleError::UnknownCapability {
                capability: "frobnicate".into(),
                offset: 16
            })
        );
        // Capabilities are a v3 thing: in v2, an `@` line is a bad ref line.
        let mut v2 = v3("@object-format=sha1\n");
        v2[3] = b'2';
        assert_eq!(
            parse_bundle(&v2),
            Err(BundleError::BadRefLine { offset: 16 })
        );
    }

    #[test]
    fn incremental_bundles_are_refused_naming_the_prerequisite() {
        let mut bytes = alloc::format!(
            "# v2 git bundle\n-{} second commit\n{} refs/heads/main\n\n",
            hex(&[3; 20]),
            hex(&[4; 20])
        )
        .into_bytes();
        bytes.extend_from_slice(&pack());
        let err = parse_bundle(&bytes).unwrap_err();
        assert_eq!(
            err,
            BundleError::Prerequisite {
                commit: [3; 20],
                offset: 16
            }
        );
        assert!(alloc::format!("{err}").contains("incremental"));
    }

    #[test]
    fn bad_headers_are_errors() {
        assert_eq!(
            parse_bundle(b"PACK"),
            Err(BundleError::Truncated { offset: 4 })
        );
        assert_eq!(parse_bundle(b"hello\n"), Err(BundleError::NotABundle));
        assert_eq!(
            parse_bundle(b"# v4 git bundle\n"),
            Err(BundleError::UnsupportedVersion {
                version: "v4".into()
            })
        );
        let ok = alloc::format!("# v2 git bundle\n{} main\n\n", hex(&[5; 20]));
        assert_eq!(
            parse_bundle(ok.as_bytes()),
            Err(BundleError::NotAPack {
                offset: ok.len() as u64
            })
        );
        assert_eq!(
            parse_bundle(b"# v2 git bundle\n\nPACK"),
            Err(BundleError::NoRefs)
        );
        for line in [
            "zz main",
            "0123 main",
            &alloc::format!("{} ", hex(&[5; 20])),
            &alloc::format!("{}main", hex(&[5; 20])),
            &alloc::format!("{} a b", hex(&[5; 20])),
        ] {
            let bytes = alloc::format!("# v2 git bundle\n{line}\n\nPACK");
            assert_eq!(
                parse_bundle(bytes.as_bytes()),
                Err(BundleError::BadRefLine { offset: 16 }),
                "{line:?}"
            );
        }
        // A header with no end, past the bound.
        let mut long = b"# v2 git bundle\n".to_vec();
        long.resize(HEADER_BYTES_MAX + 10, b'a');
        assert_eq!(
            parse_bundle(&long),
            Err(BundleError::HeaderTooLarge {
                max: HEADER_BYTES_MAX as u64
            })
        );
        // More refs than allowed.
        let mut many = b"# v2 git bundle\n".to_vec();
        for _ in 0..=REFS_MAX {
            many.extend_from_slice(alloc::format!("{} r\n", hex(&[6; 20])).as_bytes());
        }
        many.extend_from_slice(b"\nPACK");
        assert_eq!(
            parse_bundle(&many),
            Err(BundleError::TooManyRefs {
                max: REFS_MAX as u64
            })
        );
    }

    #[test]
    fn every_cut_is_an_error_or_a_shorter_pack_never_a_panic() {
        let bytes = write_bundle(&[("refs/heads/main", [7; 20])], &pack());
        let header_len = bytes.len() - pack().len();
        for cut in 0..bytes.len() {
            match parse_bundle(&bytes[..cut]) {
                Ok(view) => {
                    assert!(cut >= header_len + 4, "cut {cut} parsed");
                    assert_eq!(view.pack, &bytes[header_len..cut]);
                    assert!(read_pack(view.pack, &PackLimits::default()).is_err());
                }
                Err(_) => assert!(cut < header_len + 4, "cut {cut} refused"),
            }
        }
        for i in 0..header_len {
            for flip in [0x01u8, 0x20, 0x80] {
                let mut damaged = bytes.clone();
                damaged[i] ^= flip;
                let _ = parse_bundle(&damaged);
            }
        }
    }
}
