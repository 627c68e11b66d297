//! `import` and `export`: JSON lines, one `{"key": ..., "value": ...}` a line.
//!
//! A JSON string value is stored as its text; any other JSON value is stored as readable JSON
//! (the form `put_json` writes, so git diffs stay meaningful). Export reverses it: a value
//! that is exactly such a JSON rendering is written as JSON, other UTF-8 as a string, and
//! anything else as `{"key": ..., "base64": ...}`, which import also accepts.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value as Json;
use thermocline::{Batch, Store};

/// Writes are committed in batches of this many keys: one WAL record and one fsync each.
const IMPORT_BATCH_KEYS: usize = 1_000;

pub(crate) fn import(store: &Store, path: &Path) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut progress = Progress::new(total_bytes);
    let mut reader = BufReader::new(file);
    let mut batch = Batch::new();
    let mut line = String::new();
    let (mut line_no, mut imported, mut read_bytes) = (0u64, 0u64, 0u64);
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        read_bytes += n as u64;
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) =
            parse_line(&line).with_context(|| format!("{}:{line_no}", path.display()))?;
        batch
            .put(&key, value)
            .with_context(|| format!("{}:{line_no}", path.display()))?;
        imported += 1;
        if batch.len() >= IMPORT_BATCH_KEYS {
            store.commit(std::mem::take(&mut batch))?;
            progress.show(read_bytes, imported);
        }
    }
    if !batch.is_empty() {
        store.commit(batch)?;
    }
    progress.finish(imported);
    eprintln!("imported {imported} keys from {}", path.display());
    Ok(())
}

fn parse_line(line: &str) -> Result<(String, Vec<u8>)> {
    let Json::Object(mut obj) = serde_json::from_str::<Json>(line).context("not a JSON object")?
    else {
        bail!("not a JSON object");
    };
    let Some(Json::String(key)) = obj.remove("key") else {
        bail!("missing \"key\" (a string)");
    };
    let value = match (obj.remove("value"), obj.remove("base64")) {
        (Some(Json::String(s)), None) => s.into_bytes(),
        (Some(v), None) => serde_json::to_vec_pretty(&v)?,
        (None, Some(Json::String(b64))) => base64_decode(&b64).context("bad base64")?,
        _ => bail!("needs exactly one of \"value\" or \"base64\""),
    };
    Ok((key, value))
}

pub(crate) fn export(store: &Store, out: &mut impl Write) -> Result<()> {
    for key in store.list("")? {
        let Some(bytes) = store.get(&key)? else {
            continue;
        };
        let line = match as_json(&bytes) {
            Some(json) => serde_json::json!({ "key": key, "value": json }),
            None => match std::str::from_utf8(&bytes) {
                Ok(text) => serde_json::json!({ "key": key, "value": text }),
                Err(_) => serde_json::json!({ "key": key, "base64": base64_encode(&bytes) }),
            },
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// The bytes as JSON, if they are exactly how import would have stored that JSON (and not a
/// string, which import stores as bare text).
fn as_json(bytes: &[u8]) -> Option<Json> {
    let json: Json = serde_json::from_slice(bytes).ok()?;
    if json.is_string() {
        return None;
    }
    let exact =
        serde_json::to_vec(&json).ok()? == bytes || serde_json::to_vec_pretty(&json).ok()? == bytes;
    exact.then_some(json)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Result<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = B64
            .iter()
            .position(|&b| b == c)
            .with_context(|| format!("invalid character {:?}", c as char))?;
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// A progress line on stderr, only when stderr is a terminal.
struct Progress {
    total_bytes: u64,
    tty: bool,
}

impl Progress {
    fn new(total_bytes: u64) -> Progress {
        Progress {
            total_bytes,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, read_bytes: u64, keys: u64) {
        if !self.tty {
            return;
        }
        let pct = (read_bytes * 100)
            .checked_div(self.total_bytes)
            .unwrap_or(100);
        let filled = (pct / 5) as usize;
        eprint!(
            "\r[{}{}] {pct:>3}%  {keys} keys",
            "#".repeat(filled),
            " ".repeat(20 - filled.min(20))
        );
    }

    fn finish(&mut self, keys: u64) {
        if self.tty {
            self.show(self.total_bytes, keys);
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for len in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        }
        assert_eq!(base64_encode(b"hi"), "aGk=");
    }

    #[test]
    fn values_map_to_json_and_back() {
        assert_eq!(
            parse_line(r#"{"key":"a","value":"text"}"#).unwrap().1,
            b"text"
        );
        assert_eq!(parse_line(r#"{"key":"a","value":42}"#).unwrap().1, b"42");
        let doc = parse_line(r#"{"key":"a","value":{"b":[1,2]}}"#).unwrap().1;
        assert_eq!(as_json(&doc), Some(serde_json::json!({"b": [1, 2]})));
        assert_eq!(as_json(b"\"quoted\""), None);
        assert_eq!(as_json(b" 42"), None);
        assert!(parse_line(r#"{"value":1}"#).is_err());
        assert!(parse_line("[1]").is_err());
    }
}
