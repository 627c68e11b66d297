//! The driver: carries out the engine's actions on IndexedDB, on the page's event loop.
//!
//! Everything runs on one thread. An operation applies itself to the engine at once and
//! schedules a *drain* as a task (`spawn_local`), so every operation started in the same turn
//! of the event loop is in the engine before the drain turns their WAL records into one
//! IndexedDB transaction (see [`crate::wal_log`]). Transactions complete as spawned tasks that
//! report to the engine and drain again; the engine's timer is a `setTimeout`.
//!
//! Failures: as natively, a failed transaction poisons the engine. A full quota is the one
//! failure a browser app must live with, so it gets a recovery path: IndexedDB aborted the
//! transaction whole, so what it holds is exactly the acknowledged state, and the host rebuilds
//! a fresh engine from it in place (a reopen without closing). Writers whose writes were not
//! acknowledged get `QuotaExceededError`; the store stays open and readable, and writes succeed
//! again once space is free.

mod commits;
mod reads;
mod rebuild;

pub(crate) use rebuild::Rebuild;
mod transactions;
mod waiting;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use thermocline_core::io::{Action, Completion};
use thermocline_core::{Config, Engine, Key, Millis, Stats, WriteError};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::IdbDatabase;

use crate::error::Error;
use crate::notify::Notify;
use crate::options::Clock;
use crate::recovery::{OpenReport, Recovered};
use crate::wal_log::WalLog;
use crate::warm;
use crate::web::{HeldLock, Storage, Timeout};

/// The longest the engine's timer is armed for: a clock moved by a test (or a wall clock that
/// jumped) is noticed within this.
const TIMER_MAX_MS: u64 = 1_000;

/// Counters the browser host adds to the engine's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostCounters {
    /// Read-write IndexedDB transactions started: WAL and warm flushes.
    pub write_transactions: u64,
    /// Read-only transactions started for warm reads: concurrent reads share them.
    pub read_transactions: u64,
    /// Writes refused because the quota was exhausted.
    pub quota_errors: u64,
    /// Times the engine was rebuilt from IndexedDB after a full quota.
    pub quota_recoveries: u64,
}

#[derive(Debug)]
pub(crate) struct State {
    pub engine: Engine,
    /// Counts engines: completions of an older engine's transactions are ignored.
    generation: u64,
    wal: WalLog,
    /// Bytes of live warm records (the size reported for the one warm segment).
    warm_bytes: u64,
    warm_in_flight: bool,
    /// Warm tombstones (with the git cold tier): deletions the tip of `main` may not have yet,
    /// as of the transactions created so far.
    tombstones: HashMap<Key, u64>,
    commit_in_flight: bool,
    /// Warm flushes completed: writers held back by backpressure wait for the next.
    warm_flushes: u64,
    drain_scheduled: bool,
    reads: reads::Reads,
    timer: Option<Timeout>,
    /// The first WAL transaction of this engine committed (its start worked).
    started: bool,
    /// What went wrong when the engine was poisoned.
    failure: Option<String>,
    recovering: bool,
    closed: bool,
    counters: HostCounters,
    pub report: OpenReport,
}

impl State {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// An import is about to replace what the engine knows: everyone waits for the rebuild.
    pub(crate) fn recovering_for_import(&mut self) {
        self.recovering = true;
    }
}

/// One open store: the database, the engine and everything in flight.
#[derive(Debug)]
pub(crate) struct Host {
    pub db: IdbDatabase,
    pub storage: Storage,
    pub name: String,
    config: Config,
    clock: Clock,
    /// Name and email of the cold tier's commits.
    author: (String, String),
    last_now: Cell<u64>,
    pub st: RefCell<State>,
    progress: Notify,
    lock: RefCell<Option<HeldLock>>,
}

/// What opening a store gathered before the host can run it.
#[derive(Debug)]
pub(crate) struct Opened {
    pub name: String,
    pub db: IdbDatabase,
    pub storage: Storage,
    pub lock: HeldLock,
    pub config: Config,
    pub clock: Clock,
    pub author: (String, String),
    pub now: Millis,
}

impl Host {
    pub(crate) fn new(opened: Opened, recovered: Recovered) -> Rc<Host> {
        let Opened {
            name,
            db,
            storage,
            lock,
            config,
            clock,
            author,
            now,
        } = opened;
        Rc::new(Host {
            db,
            storage,
            name,
            config,
            clock,
            author,
            last_now: Cell::new(now.0),
            st: RefCell::new(State {
                engine: recovered.engine,
                generation: 1,
                wal: recovered.wal,
                warm_bytes: recovered.warm_bytes,
                warm_in_flight: false,
                tombstones: recovered.tombstones,
                commit_in_flight: false,
                warm_flushes: 0,
                drain_scheduled: false,
                reads: reads::Reads::default(),
                timer: None,
                started: false,
                failure: None,
                recovering: false,
                closed: false,
                counters: HostCounters::default(),
                report: recovered.report,
            }),
            progress: Notify::default(),
            lock: RefCell::new(Some(lock)),
        })
    }

    /// The store's clock, never moving backwards (a wall clock may jump; the engine assumes
    /// time does not).
    pub(crate) fn now(&self) -> Millis {
        let last = self.last_now.get();
        let now = self.clock.read().unwrap_or(last).max(last);
        self.last_now.set(now);
        Millis(now)
    }

    /// Runs the drain as a task, once, after whatever else this turn of the event loop does.
    pub(crate) fn schedule_drain(self: &Rc<Self>) {
        {
            let mut st = self.st.borrow_mut();
            if st.drain_scheduled || st.closed {
                return;
            }
            st.drain_scheduled = true;
        }
        let host = Rc::clone(self);
        spawn_local(async move { host.drain() });
    }

    /// Carries out every queued action, starts the next WAL transaction, arms the timer.
    pub(crate) fn drain(self: &Rc<Self>) {
        let mut st = self.st.borrow_mut();
        st.drain_scheduled = false;
        if st.closed || st.recovering {
            return;
        }
        let now = self.now();
        if st.engine.poisoned().is_some() {
            // Nothing more is written for a poisoned engine: it is rebuilt from what IndexedDB
            // holds (after a full quota) or the store is reopened.
            while st.engine.poll_action().is_some() {}
            st.timer = None;
            drop(st);
            self.progress.notify();
            return;
        }
        while let Some(action) = st.engine.poll_action() {
            match action {
                Action::AppendWal { seq, bytes } => st.wal.append(seq, &bytes),
                Action::WriteWal { upto } => {
                    if let Some(done) = st.wal.want(upto, false, Completion::WalWritten { upto }) {
                        st.engine.handle_completion(now, done);
                    }
                }
                Action::SyncWal { upto } => {
                    if let Some(done) = st.wal.want(upto, true, Completion::WalSynced { upto }) {
                        st.engine.handle_completion(now, done);
                    }
                }
                Action::RotateWal { segment_id, header } => st.wal.rotate(segment_id, header),
                Action::DeleteWalSegments { segment_ids } => st.wal.delete(&segment_ids),
                Action::FlushWarm(batch) => self.start_warm_flush(&mut st, batch),
                // IndexedDB reclaims the space of replaced records itself: there is nothing to
                // rewrite, and the one segment stays (see `warm`).
                Action::CompactWarm { segment } => {
                    let segment_bytes = vec![(warm::SEGMENT, st.warm_bytes)];
                    st.engine.handle_completion(
                        now,
                        Completion::WarmCompacted {
                            segment,
                            moves: Vec::new(),
                            segment_bytes,
                        },
                    );
                }
                Action::DeleteWarmSegment { .. } => {}
                Action::CommitCold(batch) => self.start_cold_commit(&mut st, batch),
            }
        }
        while st.engine.poll_event().is_some() {}
        if let Some(txn) = st.wal.start() {
            self.start_wal_txn(&mut st, txn);
        }
        self.arm_timer(&mut st, now);
        drop(st);
        self.progress.notify();
    }

    /// Nothing of the host's is pending or in flight.
    pub(crate) fn idle(st: &State) -> bool {
        st.wal.is_idle()
            && !st.warm_in_flight
            && !st.commit_in_flight
            && !st.drain_scheduled
            && !st.recovering
    }

    pub(crate) fn write_error(&self, e: WriteError) -> Error {
        let st = self.st.borrow();
        Error::from_write(e, st.failure.as_deref())
    }

    pub(crate) fn stats(&self) -> (Stats, HostCounters) {
        let now = self.now();
        let st = self.st.borrow();
        (st.engine.stats(now), st.counters)
    }

    /// Stops the timer, closes the database and lets go of the lock. Idempotent.
    pub(crate) async fn shut(&self) {
        {
            let mut st = self.st.borrow_mut();
            if st.closed {
                return;
            }
            st.closed = true;
            st.timer = None;
        }
        self.db.close();
        self.progress.notify();
        let lock = self.lock.borrow_mut().take();
        if let Some(lock) = lock {
            lock.release().await;
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.st.borrow().closed
    }

    /// Arms the timer for the engine's next deadline, unless an earlier one is armed.
    fn arm_timer(self: &Rc<Self>, st: &mut State, now: Millis) {
        let Some(deadline) = st.engine.poll_timeout() else {
            st.timer = None;
            return;
        };
        let delay_ms = deadline.0.saturating_sub(now.0).min(TIMER_MAX_MS) as f64;
        let fires_at = js_sys::Date::now() + delay_ms;
        if st.timer.as_ref().is_some_and(|t| t.fires_at <= fires_at) {
            return;
        }
        let host: Weak<Host> = Rc::downgrade(self);
        let callback = Closure::<dyn FnMut()>::new(move || {
            // The timer's own closure must not be dropped while it runs: the work is a task.
            let host = host.clone();
            spawn_local(async move {
                if let Some(host) = host.upgrade() {
                    host.on_timer();
                }
            });
        });
        st.timer = Some(Timeout::new(delay_ms, callback));
    }

    fn on_timer(self: &Rc<Self>) {
        {
            let mut st = self.st.borrow_mut();
            st.timer = None;
            if st.closed || st.recovering {
                return;
            }
            let now = self.now();
            st.engine.handle_timeout(now);
        }
        self.drain();
    }

    /// Runs the engine's timers now, as if the timer fired.
    pub(crate) fn run_timers(self: &Rc<Self>) {
        self.on_timer();
    }
}

impl Drop for Host {
    /// A store dropped without `close()` still lets go of its lock and database, so another
    /// tab can open it; its unflushed writes are in the WAL at the level they were written.
    fn drop(&mut self) {
        let closed = self.st.get_mut().closed;
        if !closed {
            self.db.close();
        }
    }
}
