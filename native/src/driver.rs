//! The driver: carries out the engine's actions on files, on the caller's thread for the WAL
//! and on a background tokio thread for everything else.
//!
//! Threads share one `Mutex<State>`. WAL appends and writes happen under it, so log order is
//! queue order. A `SyncWal` is the exception: the thread that polled it releases the lock for
//! the fdatasync, so other writers keep appending meanwhile and the next sync covers them all
//! (group commit). Warm flushes, compaction and deletions go to the background thread, which
//! also fires the engine's timer.
//!
//! A writer waiting for its level parks its own thread and is woken alone, by whichever thread
//! carried out the completion that reached it: with 128 writers sharing one `fdatasync`, a
//! condition variable woken for every completion would wake all 128 to find 127 still waiting.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use thermocline_core::io::{Action, ColdBatch, Completion, HostOp};
use thermocline_core::{Engine, Millis, Ticket, WriteError};

use crate::cold::ColdRepo;
use crate::error::{Error, classify};
use crate::options::Clock;
use crate::wal_file::{self, WalWriter};
use crate::warm::{WarmReader, WarmStore};

/// Longest the background thread sleeps without looking at the engine's timer: a manual
/// clock moved forward is noticed within this.
const BACKGROUND_TICK_MS: u64 = 200;

#[derive(Debug)]
pub(crate) struct State {
    pub engine: Engine,
    pub wal: WalWriter,
    /// Actions for the background thread, in order.
    bg: VecDeque<Action>,
    bg_busy: bool,
    closing: bool,
    /// The I/O error behind a poisoning, for messages.
    pub failure: Option<String>,
    /// Threads parked in [`Shared::wait`], each with the ticket it waits for.
    waiters: Vec<(Ticket, Thread)>,
    /// A completion arrived since the waiters were last checked.
    completed: bool,
    /// Waiters found reached, to unpark once the lock is released.
    to_wake: Vec<Thread>,
}

impl State {
    /// Fires the engine's timers. Whatever they finish counts as a completion for the waiters.
    pub(crate) fn handle_timeout(&mut self, now: Millis) {
        self.engine.handle_timeout(now);
        self.completed = true;
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    wake_bg: tokio::sync::Notify,
    clock: Arc<dyn Clock>,
    pub warm_reader: WarmReader,
    pub cold: Option<Arc<ColdRepo>>,
    pub dir: PathBuf,
}

impl Shared {
    pub(crate) fn new(
        engine: Engine,
        wal: WalWriter,
        clock: Arc<dyn Clock>,
        warm_reader: WarmReader,
        cold: Option<Arc<ColdRepo>>,
        dir: PathBuf,
    ) -> Shared {
        Shared {
            state: Mutex::new(State {
                engine,
                wal,
                bg: VecDeque::new(),
                bg_busy: false,
                closing: false,
                failure: None,
                waiters: Vec::new(),
                completed: false,
                to_wake: Vec::new(),
            }),
            cond: Condvar::new(),
            wake_bg: tokio::sync::Notify::new(),
            clock,
            warm_reader,
            cold,
            dir,
        }
    }

    pub(crate) fn now(&self) -> Millis {
        Millis(self.clock.now_ms())
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic on another thread while holding the lock leaves the engine as it was at the
        // panic; its own assertions guard consistency, so carrying on is the useful choice.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Carries out every queued action. May release and retake the lock (for a WAL sync).
    pub(crate) fn drain<'a>(&'a self, mut g: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let mut progressed = false;
        while let Some(action) = g.engine.poll_action() {
            match action {
                Action::AppendWal { bytes, .. } => g.wal.append(&bytes),
                Action::WriteWal { upto } => {
                    let result = g.wal.write_out();
                    self.complete(
                        &mut g,
                        result,
                        HostOp::WalWrite,
                        Completion::WalWritten { upto },
                    );
                    progressed = true;
                }
                Action::RotateWal { segment_id, header } => {
                    let result = g.wal.rotate(segment_id, &header);
                    self.complete(
                        &mut g,
                        result,
                        HostOp::WalRotate,
                        Completion::WalRotated { segment_id },
                    );
                    progressed = true;
                }
                Action::SyncWal { upto } => {
                    let file = g.wal.sync_handle();
                    let wake = std::mem::take(&mut g.to_wake);
                    drop(g);
                    // The writers the last sync covered run while this one waits for the disk.
                    for thread in wake {
                        thread.unpark();
                    }
                    let result = match file {
                        Some(f) => f.sync_data(),
                        None => Ok(()),
                    };
                    g = self.lock();
                    self.complete(
                        &mut g,
                        result,
                        HostOp::WalSync,
                        Completion::WalSynced { upto },
                    );
                    // Before the next sync this thread may start: the writers this one covered
                    // go on meanwhile, and their next writes join that sync.
                    Self::collect_reached(&mut g);
                    progressed = true;
                }
                other => {
                    g.bg.push_back(other);
                    self.wake_bg.notify_one();
                }
            }
        }
        while g.engine.poll_event().is_some() {}
        Self::wake_reached(&mut g);
        if progressed {
            self.cond.notify_all();
        }
        g
    }

    /// Moves the waiters whose tickets a completion has reached (or failed) to `to_wake`.
    fn collect_reached(g: &mut State) {
        if !std::mem::take(&mut g.completed) {
            return;
        }
        let State {
            engine,
            waiters,
            to_wake,
            ..
        } = g;
        waiters.retain(|(ticket, thread)| {
            let waiting = matches!(engine.reached(*ticket), Ok(false));
            if !waiting {
                to_wake.push(thread.clone());
            }
            waiting
        });
    }

    /// Unparks every waiter a completion has reached. Under the lock: the caller goes on
    /// holding it, so this is the last chance to deliver these wakeups without a lost one.
    fn wake_reached(g: &mut State) {
        Self::collect_reached(g);
        for thread in g.to_wake.drain(..) {
            thread.unpark();
        }
    }

    fn complete(&self, g: &mut State, result: std::io::Result<()>, op: HostOp, ok: Completion) {
        g.completed = true;
        let now = self.now();
        match result {
            Ok(()) => g.engine.handle_completion(now, ok),
            Err(e) => {
                let class = classify(&e);
                g.failure.get_or_insert_with(|| format!("{op:?}: {e}"));
                g.engine
                    .handle_completion(now, Completion::Failed { op, class });
            }
        }
    }

    /// Blocks until `ticket` reaches its level, doing whatever work the engine hands out.
    pub(crate) fn wait<'a>(
        &'a self,
        mut g: MutexGuard<'a, State>,
        ticket: Ticket,
    ) -> Result<MutexGuard<'a, State>, Error> {
        let me = std::thread::current();
        loop {
            g = self.drain(g);
            if g.engine.reached(ticket).map_err(|e| Self::error(&g, e))? {
                return Ok(g);
            }
            g.waiters.push((ticket, me.clone()));
            drop(g);
            // A wakeup that comes before `park` is kept as the thread's token, so none is lost;
            // a spurious one finds the entry still there and takes it out.
            std::thread::park();
            g = self.lock();
            let id = me.id();
            g.waiters.retain(|(_, thread)| thread.id() != id);
        }
    }

    /// A write error with the I/O failure behind a poisoning attached.
    pub(crate) fn error(g: &State, e: WriteError) -> Error {
        match Error::from(e) {
            Error::Poisoned { op, class, .. } => Error::Poisoned {
                op,
                class,
                detail: g.failure.clone().unwrap_or_default(),
            },
            other => other,
        }
    }

    /// Blocks until `done` holds, or the store is poisoned.
    pub(crate) fn wait_until<'a>(
        &'a self,
        mut g: MutexGuard<'a, State>,
        done: impl Fn(&State) -> bool,
    ) -> Result<MutexGuard<'a, State>, Error> {
        loop {
            g = self.drain(g);
            if done(&g) {
                return Ok(g);
            }
            if let Some((op, class)) = g.engine.poisoned() {
                let detail = g.failure.clone().unwrap_or_default();
                return Err(Error::Poisoned { op, class, detail });
            }
            g = self
                .cond
                .wait_timeout(g, Duration::from_millis(BACKGROUND_TICK_MS))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Whether the background thread has nothing queued or running.
    pub(crate) fn background_idle(g: &State) -> bool {
        g.bg.is_empty() && !g.bg_busy
    }

    /// Asks the background thread to stop once its queue is empty.
    pub(crate) fn stop_background(&self) {
        self.lock().closing = true;
        self.wake_bg.notify_one();
    }
}

/// Starts the background thread that owns the warm store.
pub(crate) fn spawn_background(
    shared: Arc<Shared>,
    warm: WarmStore,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("thermocline-bg".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(background(shared, warm)),
                Err(e) => {
                    let mut g = shared.lock();
                    g.failure = Some(format!("cannot start the background runtime: {e}"));
                    g.completed = true;
                    let now = shared.now();
                    g.engine.handle_completion(
                        now,
                        Completion::Failed {
                            op: HostOp::WarmFlush,
                            class: classify(&e),
                        },
                    );
                    Shared::wake_reached(&mut g);
                    shared.cond.notify_all();
                }
            }
        })
}

async fn background(shared: Arc<Shared>, mut warm: WarmStore) {
    loop {
        let (action, deadline, closing) = {
            let mut g = shared.lock();
            let action = g.bg.pop_front();
            g.bg_busy = action.is_some();
            (action, g.engine.poll_timeout(), g.closing)
        };
        if let Some(action) = action {
            perform(&shared, &mut warm, action);
            continue;
        }
        if closing {
            return;
        }
        let now = shared.now();
        let wait_ms = deadline
            .map_or(BACKGROUND_TICK_MS, |d| d.0.saturating_sub(now.0))
            .min(BACKGROUND_TICK_MS);
        if wait_ms > 0 {
            tokio::select! {
                () = shared.wake_bg.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
            }
        }
        let mut g = shared.lock();
        let now = shared.now();
        g.handle_timeout(now);
        drop(shared.drain(g));
    }
}

/// Carries out one background action and reports it to the engine.
fn perform(shared: &Shared, warm: &mut WarmStore, action: Action) {
    let (op, result) = match action {
        Action::FlushWarm(batch) => (
            HostOp::WarmFlush,
            warm.write_batch(&batch).map(|(locations, segment_bytes)| {
                Some(Completion::WarmFlushed {
                    id: batch.id,
                    locations,
                    segment_bytes,
                })
            }),
        ),
        Action::CompactWarm { segment } => (
            HostOp::WarmCompact,
            compact(shared, warm, segment).map(Some),
        ),
        // Deletions need no answer: the engine forgot these files when it asked.
        Action::DeleteWarmSegment { segment } => (
            HostOp::WarmDelete,
            warm.delete_segment(segment).map(|()| None),
        ),
        Action::CommitCold(batch) => (HostOp::ColdCommit, commit_cold(shared, &batch).map(Some)),
        Action::DeleteWalSegments { segment_ids } => {
            let wal_dir = shared.dir.join(wal_file::WAL_DIR);
            (
                HostOp::WalDelete,
                wal_file::delete_segments(&wal_dir, &segment_ids).map(|()| None),
            )
        }
        other => unreachable!("{other:?} is carried out on the caller's thread"),
    };
    let mut g = shared.lock();
    let now = shared.now();
    g.completed = true;
    match result {
        Ok(Some(completion)) => g.engine.handle_completion(now, completion),
        Ok(None) => {}
        Err(e) => {
            let class = classify(&e);
            g.failure.get_or_insert_with(|| format!("{op:?}: {e}"));
            g.engine
                .handle_completion(now, Completion::Failed { op, class });
        }
    }
    g.bg_busy = false;
    drop(shared.drain(g));
    shared.cond.notify_all();
}

fn compact(shared: &Shared, warm: &mut WarmStore, segment: u32) -> std::io::Result<Completion> {
    let keep_tombstones = warm.has_older_than(segment);
    // Judged a chunk of records at a time (see `WarmStore::compact`): writers wait for the
    // engine's lock for one chunk, never for a whole segment.
    let (moves, segment_bytes) = warm.compact(segment, |records| {
        let g = shared.lock();
        let keep = records
            .iter()
            .map(|r| {
                if r.tombstone {
                    // A tombstone hides values in older segments, and values in the cold tier
                    // until the deletion is committed there too.
                    keep_tombstones || !g.engine.tombstone_droppable(r.seq)
                } else {
                    g.engine.warm_is_live(&r.key, r.loc)
                }
            })
            .collect();
        (keep, g.engine.warm_through_seq())
    })?;
    Ok(Completion::WarmCompacted {
        segment,
        moves,
        segment_bytes,
    })
}

/// Writes a cold commit: values come from their warm records.
fn commit_cold(shared: &Shared, batch: &ColdBatch) -> std::io::Result<Completion> {
    let to_io = |e: Error| std::io::Error::other(e.to_string());
    let Some(cold) = &shared.cold else {
        return Err(std::io::Error::other(
            "a cold commit was asked of a store without a cold tier",
        ));
    };
    let mut changes = Vec::with_capacity(batch.entries.len());
    for entry in &batch.entries {
        let value = match entry.warm {
            Some(loc) => Some(
                shared
                    .warm_reader
                    .read(&entry.key, loc)
                    .map_err(to_io)?
                    .to_vec(),
            ),
            None => None,
        };
        changes.push((entry.key.clone(), value));
    }
    let commit = cold
        .commit(&changes, batch.through_seq, shared.now().0)
        .map_err(to_io)?;
    cold.maybe_repack();
    Ok(Completion::ColdCommitted {
        id: batch.id,
        commit,
    })
}
