//! The `shell` line protocol: one command a line in, exactly one line out, in order.
//!
//! ```text
//! put KEY VALUE  -> ok           VALUE is the rest of the line; ok once durable at --sync
//! get KEY        -> value VALUE | none
//! del KEY        -> ok
//! sync [LEVEL]   -> ok
//! begin          -> ok           puts and dels up to commit form one atomic transaction
//! commit         -> ok
//! anything wrong -> err MESSAGE  and the shell goes on
//! ```

use std::io::{BufRead, Write};

use anyhow::Result;
use thermocline::{Batch, Store, SyncLevel};

pub(crate) fn run(
    store: &Store,
    level: SyncLevel,
    input: impl BufRead,
    out: &mut impl Write,
) -> Result<()> {
    let mut tx: Option<Batch> = None;
    for line in input.split(b'\n') {
        let line = line?;
        let line = String::from_utf8_lossy(&line);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let answer = match handle(store, level, &mut tx, line) {
            Ok(answer) => answer,
            Err(e) => format!("err {}", one_line(&e.to_string())),
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn handle(store: &Store, level: SyncLevel, tx: &mut Option<Batch>, line: &str) -> Result<String> {
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    match cmd {
        "put" => {
            let Some((key, value)) = rest.split_once(' ') else {
                anyhow::bail!("usage: put KEY VALUE");
            };
            match tx {
                Some(batch) => {
                    batch.put(key, value)?;
                }
                None => store.put_with(key, value, level)?,
            }
            Ok("ok".into())
        }
        "get" => {
            let key = one_arg(rest, "get KEY")?;
            Ok(match store.get(key)? {
                Some(v) => format!("value {}", one_line(&String::from_utf8_lossy(&v))),
                None => "none".into(),
            })
        }
        "del" => {
            let key = one_arg(rest, "del KEY")?;
            match tx {
                Some(batch) => {
                    batch.delete(key)?;
                }
                None => store.delete_with(key, level)?,
            }
            Ok("ok".into())
        }
        "sync" => {
            let target = if rest.trim().is_empty() {
                level
            } else {
                rest.trim().parse::<SyncLevel>()?
            };
            store.sync(target)?;
            Ok("ok".into())
        }
        "begin" => {
            anyhow::ensure!(tx.is_none(), "a transaction is already open");
            *tx = Some(Batch::new());
            Ok("ok".into())
        }
        "commit" => {
            let Some(batch) = tx.take() else {
                anyhow::bail!("no transaction is open (begin first)");
            };
            store.commit_with(batch, level)?;
            Ok("ok".into())
        }
        "" => anyhow::bail!("empty command"),
        other => anyhow::bail!("unknown command {other:?} (put, get, del, sync, begin, commit)"),
    }
}

fn one_arg<'a>(rest: &'a str, usage: &str) -> Result<&'a str> {
    let arg = rest.trim();
    anyhow::ensure!(!arg.is_empty() && !arg.contains(' '), "usage: {usage}");
    Ok(arg)
}
