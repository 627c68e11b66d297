#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

extern crate std;

use alloc::string::{String, ToString};
use std::collections::HashSet;

use super::*;

fn path(s: &str) -> String {
    key_to_path(&Key::new(s).unwrap())
}

#[test]
fn examples() {
    let table = [
        ("notes/today", "notes/today.v"),
        ("a", "a.v"),
        ("a/b", "a/b.v"),
        ("README", "%52%45%41%44%4d%45.v"),
        (".gitignore", "%2egitignore.v"),
        ("dir.v/x", "dir%2ev/x.v"),
        ("x.v", "x.v.v"),
        ("trailing.", "trailing%2e.v"),
        ("a b", "a%20b.v"),
        ("100%", "100%25.v"),
        ("é", "%c3%a9.v"),
        ("...", "%2e.%2e.v"),
    ];
    for (key, want) in table {
        assert_eq!(path(key), want, "{key}");
        assert_eq!(path_to_key(want).unwrap().as_str(), key);
    }
}

#[test]
fn refuses_paths_it_never_produces() {
    for bad in [
        "a",
        "a.V",
        "A.v",
        "%2E.v",
        "%61.v",
        "a%2.v",
        "a%zz.v",
        ".git/x.v",
        "a//b.v",
        "../x.v",
        "/a.v",
        "dir.v/x.v",
        "%00.v",
        "a%2fb.v",
    ] {
        assert!(path_to_key(bad).is_err(), "{bad} accepted");
    }
}

/// xorshift64*, fixed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn random_key(rng: &mut Rng) -> Option<Key> {
    // Pieces chosen to hit every rule: case, dots at both ends, the leaf suffix, escapes,
    // multi-byte characters, and names that differ only by case or normalisation.
    const PIECES: &[&str] = &[
        "a", "b", "z", "A", "B", "Z", ".", "..", ".v", "v", "git", ".git", "GIT", "%", "%25", "-",
        "_", " ", "~", "é", "e\u{301}", "É", "ß", "ẞ", "日本", "0", "9", "con", "CON", "x.v.v",
    ];
    let segments = 1 + rng.next() % 4;
    let mut key = String::new();
    for s in 0..segments {
        if s > 0 {
            key.push('/');
        }
        for _ in 0..1 + rng.next() % 4 {
            key.push_str(rng.pick(PIECES));
        }
    }
    Key::new(&key).ok()
}

#[test]
fn property_injective_reversible_contained_case_safe() {
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    let mut paths = HashSet::new();
    let mut folded = HashSet::new();
    let mut keys = HashSet::new();
    let mut generated = 0;
    while generated < 100_000 {
        let Some(key) = random_key(&mut rng) else {
            continue;
        };
        generated += 1;
        let p = key_to_path(&key);
        // Reversible.
        assert_eq!(path_to_key(&p).as_ref(), Ok(&key), "{key:?} -> {p}");
        // Contained: relative, no empty, `.`/`..`/`.git` or hidden segment.
        assert!(!p.starts_with('/'));
        for seg in p.split('/') {
            assert!(
                !seg.is_empty() && !seg.starts_with('.') && !seg.ends_with('.'),
                "{p}"
            );
        }
        // Case- and normalisation-safe: lower-case ASCII only.
        assert!(
            p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.%/".contains(&b)),
            "{p}"
        );
        if keys.insert(key.to_string()) {
            // Injective, also after case folding.
            assert!(paths.insert(p.clone()), "two keys map to {p}");
            assert!(
                folded.insert(p.to_ascii_lowercase()),
                "case collision at {p}"
            );
        }
    }
    // No file is also a directory: no path, minus its suffix, is a directory of another.
    let dirs: HashSet<&str> = paths
        .iter()
        .flat_map(|p| p.match_indices('/').map(move |(i, _)| &p[..i]))
        .collect();
    for p in &paths {
        assert!(!dirs.contains(p.as_str()), "{p} is both file and directory");
    }
    assert!(
        keys.len() > 50_000,
        "the generator should produce many distinct keys: {}",
        keys.len()
    );
}
