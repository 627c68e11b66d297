//! Running workloads, cutting them at every step, crashing, recovering, and checking.

use std::collections::HashMap;

use thermocline_core::engine::Ticket;
use thermocline_core::io::FailureClass;
use thermocline_core::recovery::WalReplay;
use thermocline_core::wal::Op;
use thermocline_core::{Config, Engine, Key, Lookup, Millis, SyncLevel, Value, WriteError};

use crate::disk::{Crash, Disk, WarmRec};
use crate::host::{Crashed, Fault, SimHost, StepError, WARM_RECORD_BYTES, loc};
use crate::model::{Model, State};
use crate::rng::Rng;
use crate::workload::{self, WorkOp};

const T0: Millis = Millis(1_700_000_000_000);

/// Why opening a simulated store did not produce an engine.
#[derive(Debug)]
pub enum OpenError {
    Crashed,
    /// An injected I/O failure during recovery: a typed error, the store stays closed.
    Io(FailureClass),
    /// Recovery refused the disk: for a disk that only crashes made, a violation.
    Failed(String),
}

impl From<Crashed> for OpenError {
    fn from(_: Crashed) -> Self {
        OpenError::Crashed
    }
}

impl From<StepError> for OpenError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Crashed => OpenError::Crashed,
            StepError::Failed(class) => OpenError::Io(class),
        }
    }
}

/// Opens a store on `disk`: the native recovery order (cold tip, warm scan, WAL replay).
pub fn open(config: &Config, host: &mut SimHost, now: Millis) -> Result<Engine, OpenError> {
    let fail = |what: String| OpenError::Failed(what);
    let mut engine = Engine::new(config.clone()).map_err(|e| fail(e.to_string()))?;
    host.io_step("git open")?;
    if host.disk.git.lock_live.is_some() {
        host.io_step("git remove stale lock")?;
        host.disk.git.lock_live = None;
        host.disk.git.lock_durable = None;
    }
    let tip = match host.disk.git.ref_live {
        Some(id) => Some(
            host.disk
                .git
                .commits
                .get(&id)
                .cloned()
                .ok_or_else(|| fail(format!("ref names missing commit {id}")))?,
        ),
        None => None,
    };
    let cold_through = tip.as_ref().map_or(0, |t| t.through_seq);
    engine.restore_cold_through(cold_through);

    // Warm: groups of records count once their marker is read; the newest record per key wins.
    let mut newest: HashMap<String, (u64, Option<(usize, u32)>)> = HashMap::new();
    let mut warm_through = 0;
    let ids: Vec<u32> = host.disk.warm.keys().copied().collect();
    for (i, id) in ids.iter().enumerate() {
        let records = host.disk.warm[id].records.clone();
        let mut group = Vec::new();
        let mut committed = 0;
        for (index, r) in records.iter().enumerate() {
            match r {
                WarmRec::Marker { through_seq } => {
                    for (key, seq, at) in group.drain(..) {
                        if newest.get(&key).is_none_or(|(s, _)| *s <= seq) {
                            newest.insert(key, (seq, at));
                        }
                    }
                    warm_through = warm_through.max(*through_seq);
                    committed = index + 1;
                }
                WarmRec::Put { seq, key, .. } => {
                    group.push((key.clone(), *seq, Some((index, *id))))
                }
                WarmRec::Tombstone { seq, key } => group.push((key.clone(), *seq, None)),
            }
        }
        if committed < records.len() {
            if i + 1 != ids.len() {
                return Err(fail(format!(
                    "sealed warm segment {id} ends without a marker"
                )));
            }
            host.io_step("warm cut interrupted flush")?;
            let seg = host.disk.warm.get_mut(id).expect("listed");
            seg.records.truncate(committed);
            seg.durable = committed;
        }
        let bytes = host.disk.warm[id].records.len() as u64 * u64::from(WARM_RECORD_BYTES);
        engine.restore_warm_segment(*id, bytes, i + 1 == ids.len());
    }
    if let Some(tip) = &tip {
        for (key, value) in &tip.tree {
            if !newest.contains_key(key) {
                let key = Key::new(key).map_err(|e| fail(e.to_string()))?;
                engine.restore_cold(now, key, value.len() as u64);
            }
        }
    }
    for (key, (seq, at)) in newest {
        let key = Key::new(&key).map_err(|e| fail(e.to_string()))?;
        match at {
            Some((index, segment)) => {
                let len = host
                    .read_warm(loc(segment, index))
                    .map_or(0, |v| v.len() as u64);
                engine.restore_warm(now, key, seq, loc(segment, index), len);
            }
            None => engine.restore_warm_tombstone(now, key, seq),
        }
    }
    engine.restore_warm_through(warm_through);

    // WAL: replay what the warm and cold tiers do not hold yet.
    let mut replay = WalReplay::new(warm_through.max(cold_through));
    let wal_ids: Vec<u64> = host.disk.wal.keys().copied().collect();
    let mut kept = Vec::new();
    for (i, id) in wal_ids.iter().enumerate() {
        let is_last = i + 1 == wal_ids.len();
        let bytes = host.disk.wal[id].live.clone();
        let plan = replay
            .segment(*id, &bytes, is_last)
            .map_err(|e| fail(e.to_string()))?;
        for r in &plan.replay {
            engine.replay(now, r);
        }
        if let Some(len) = plan.truncate_to {
            host.io_step("wal cut torn tail")?;
            let f = host.disk.wal.get_mut(id).expect("listed");
            f.live.truncate(len as usize);
            f.durable = f.live.clone();
        }
        if is_last {
            host.io_step("wal sync replayed segment")?;
            let f = host.disk.wal.get_mut(id).expect("listed");
            f.durable = f.live.clone();
        }
        kept.push((*id, plan.first_seq, host.disk.wal[id].live.len() as u64));
    }
    host.set_current_wal(None);
    engine.start(now, &kept, wal_ids.last().map_or(1, |l| l + 1));
    host.drive(&mut engine, now)?;
    Ok(engine)
}

/// Everything the store holds, read through the engine and the host.
pub fn read_state(engine: &mut Engine, host: &SimHost, now: Millis) -> Result<State, String> {
    let mut state = State::new();
    for key in engine.list("") {
        let value = match engine.handle_get(now, &key) {
            Lookup::Hit(v) => v.to_vec(),
            Lookup::Warm(l) => host
                .read_warm(l)
                .ok_or_else(|| format!("{key}: warm record missing"))?,
            Lookup::Cold => host
                .read_cold(&key)
                .ok_or_else(|| format!("{key}: not at the git tip"))?,
            Lookup::Absent => return Err(format!("{key} is listed but absent")),
        };
        state.insert(key.as_str().to_owned(), value);
    }
    Ok(state)
}

/// A workload run up to the end or to the host's crash point.
#[derive(Debug)]
pub struct Run {
    pub engine: Engine,
    pub host: SimHost,
    pub now: Millis,
    pub model: Model,
    pending: Vec<Ticket>,
    /// The highest sequence numbers acknowledged at `os` and at a level surviving power loss.
    pub acked_os: u64,
    pub acked_power: u64,
    pub crashed: bool,
    /// Writes refused because an injected failure poisoned the engine.
    pub refused: u64,
}

impl Run {
    /// Runs `ops` from an empty disk; stops at step `crash_at` when given.
    pub fn new(ops: &[WorkOp], crash_at: Option<u64>) -> Result<Run, String> {
        Run::with_fault(ops, crash_at, None)
    }

    /// Like [`Run::new`], with a fault injected into the host.
    pub fn with_fault(
        ops: &[WorkOp],
        crash_at: Option<u64>,
        fault: Option<Fault>,
    ) -> Result<Run, String> {
        let mut host = SimHost::new(Disk::default());
        host.crash_at = crash_at;
        host.fault = fault;
        let config = workload::config();
        let engine = match open(&config, &mut host, T0) {
            Ok(engine) => engine,
            Err(OpenError::Crashed | OpenError::Io(_)) => {
                let engine = Engine::new(config).map_err(|e| e.to_string())?;
                return Ok(Run {
                    engine,
                    host,
                    now: T0,
                    model: Model::new(),
                    pending: Vec::new(),
                    acked_os: 0,
                    acked_power: 0,
                    crashed: true,
                    refused: 0,
                });
            }
            Err(OpenError::Failed(e)) => return Err(e),
        };
        let mut run = Run {
            engine,
            host,
            now: T0,
            model: Model::new(),
            pending: Vec::new(),
            acked_os: 0,
            acked_power: 0,
            crashed: false,
            refused: 0,
        };
        for op in ops {
            match run.apply(op) {
                Ok(()) => {}
                Err(OpenError::Crashed) => {
                    run.crashed = true;
                    break;
                }
                // An injected failure while reopening: the store stays closed.
                Err(OpenError::Io(_)) => break,
                Err(OpenError::Failed(e)) => return Err(e),
            }
        }
        Ok(run)
    }

    fn write(&mut self, ops: Vec<Op>, level: SyncLevel) -> Result<(), OpenError> {
        for _ in 0..3 {
            match self.engine.handle_batch(self.now, ops.clone(), level) {
                Ok(ticket) => {
                    self.model.apply(ticket.seq, &ops);
                    self.pending.push(ticket);
                    self.drive()?;
                    return Ok(());
                }
                Err(WriteError::Backpressure { .. }) => self.drive()?,
                // After an injected failure the engine refuses writes: expected, and the write
                // is not in the model.
                Err(WriteError::Poisoned { .. }) if self.engine.poisoned().is_some() => {
                    self.refused += 1;
                    return Ok(());
                }
                Err(e) => return Err(OpenError::Failed(format!("write refused: {e}"))),
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: &WorkOp) -> Result<(), OpenError> {
        let key = |k: &str| Key::new(k).expect("workload keys are valid");
        match op {
            WorkOp::Put {
                key: k,
                value,
                level,
            } => {
                self.write(
                    vec![Op::Put {
                        key: key(k),
                        value: Value::from(value.as_slice()),
                    }],
                    *level,
                )?;
            }
            WorkOp::Delete { key: k, level } => {
                self.write(vec![Op::Delete { key: key(k) }], *level)?
            }
            WorkOp::Batch { ops, level } => {
                let ops = ops
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => Op::Put {
                            key: key(k),
                            value: Value::from(v.as_slice()),
                        },
                        None => Op::Delete { key: key(k) },
                    })
                    .collect();
                self.write(ops, *level)?;
            }
            WorkOp::Sync { level } => match self.engine.handle_sync(self.now, *level) {
                Ok(ticket) => {
                    self.pending.push(ticket);
                    self.drive()?;
                }
                Err(WriteError::Poisoned { .. }) => self.refused += 1,
                Err(e) => return Err(OpenError::Failed(e.to_string())),
            },
            WorkOp::Flush => {
                self.engine.handle_flush(self.now);
                self.drive()?;
            }
            WorkOp::Advance { ms } => {
                self.now = self.now.plus_ms(*ms);
                self.engine.handle_timeout(self.now);
                self.drive()?;
            }
            WorkOp::Reopen => {
                self.engine.handle_flush(self.now);
                self.drive()?;
                let mut rng = Rng::new(0);
                let disk = self.host.disk.after_crash(Crash::Process, &mut rng);
                let mut host = SimHost::new(disk);
                host.steps = self.host.steps;
                host.crash_at = self.host.crash_at;
                host.trace_hash = self.host.trace_hash;
                // Whatever happens, the run continues (or was cut) on this host's disk.
                let opened = open(&workload::config(), &mut host, self.now);
                self.host = host;
                self.engine = opened?;
                // The reopened store holds exactly the writes up to its last sequence number;
                // writes after it were never durable (a failure poisoned the engine first), and
                // their numbers will be handed out again.
                let last = self.engine.stats(self.now).last_seq;
                let state = read_state(&mut self.engine, &self.host, self.now)
                    .map_err(OpenError::Failed)?;
                if last > self.model.last_seq() || self.model.at(last) != &state {
                    return Err(OpenError::Failed(format!(
                        "reopened as of seq {last} to {state:?}"
                    )));
                }
                if self.acked_os.max(self.acked_power) > last {
                    return Err(OpenError::Failed(format!(
                        "an acknowledged write after seq {last} was lost"
                    )));
                }
                self.model.truncate(last);
                self.pending.clear();
            }
        }
        self.collect_acks();
        Ok(())
    }

    fn drive(&mut self) -> Result<(), Crashed> {
        let (pending, os, power) = (&mut self.pending, &mut self.acked_os, &mut self.acked_power);
        self.host
            .drive_observed(&mut self.engine, self.now, &mut |engine| {
                collect_acks(engine, pending, os, power);
            })
    }

    fn collect_acks(&mut self) {
        collect_acks(
            &self.engine,
            &mut self.pending,
            &mut self.acked_os,
            &mut self.acked_power,
        );
    }
}

/// Records the tickets that reached their level: at `os`, or at a level that survives power loss.
fn collect_acks(engine: &Engine, pending: &mut Vec<Ticket>, os: &mut u64, power: &mut u64) {
    pending.retain(|t| match engine.reached(*t) {
        Ok(true) => {
            match t.level {
                SyncLevel::Memory => {}
                SyncLevel::Os => *os = (*os).max(t.seq),
                _ => *power = (*power).max(t.seq),
            }
            false
        }
        Ok(false) => true,
        Err(_) => false,
    });
}

/// What checking one workload found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub crash_images: u64,
    pub steps: u64,
    pub trace_hash: u64,
    pub violations: Vec<String>,
}

/// Runs the workload of `seed` to its end, then again cut at every step, and checks every crash
/// image of every kind (and a crash at every step of recovering from a power cut).
pub fn check_seed(seed: u64, len: usize) -> Outcome {
    let ops = workload::generate(seed, len);
    let mut out = Outcome::default();
    let full = match Run::new(&ops, None) {
        Ok(run) => run,
        Err(e) => {
            out.violations
                .push(format!("seed {seed:#x}: the uncut run failed: {e}"));
            return out;
        }
    };
    out.steps = full.host.steps;
    out.trace_hash = full.host.trace_hash;
    let config = workload::config();
    let mut rng = Rng::new(seed ^ 0x5eed);
    for cut in 0..=full.host.steps {
        let run = match Run::new(&ops, Some(cut)) {
            Ok(run) => run,
            Err(e) => {
                out.violations
                    .push(format!("seed {seed:#x} cut {cut}: {e}"));
                continue;
            }
        };
        for kind in Crash::ALL {
            let image = run.host.disk.after_crash(kind, &mut rng);
            out.crash_images += 1;
            let required = if kind.keeps_os_level() {
                run.acked_os.max(run.acked_power)
            } else {
                run.acked_power
            };
            let at = format!("seed {seed:#x} cut {cut} {kind:?}");
            let state = match recovered_state(&config, image.clone(), run.now) {
                Ok(state) => state,
                Err(e) => {
                    out.violations.push(format!("{at}: recovery failed: {e}"));
                    continue;
                }
            };
            let prefix = (required..=run.model.last_seq()).find(|p| run.model.at(*p) == &state);
            if prefix.is_none() {
                out.violations.push(format!(
                    "{at}: recovered {state:?} is no prefix state from seq {required} (acknowledged) to {}",
                    run.model.last_seq()
                ));
                continue;
            }
            if kind == Crash::Power {
                crash_during_recovery(&config, &image, run.now, &state, &at, &mut out);
            }
        }
    }
    out
}

fn recovered_state(config: &Config, disk: Disk, now: Millis) -> Result<State, String> {
    let mut host = SimHost::new(disk);
    match open(config, &mut host, now) {
        Ok(mut engine) => read_state(&mut engine, &host, now),
        Err(OpenError::Failed(e)) => Err(e),
        Err(OpenError::Io(class)) => Err(format!("injected {class:?} without a fault")),
        Err(OpenError::Crashed) => Err("crashed without a crash point".into()),
    }
}

/// Recovery itself writes (cuts a torn tail, syncs, starts a segment, deletes): a power cut at
/// each of those steps, then another recovery, must end in the same state.
fn crash_during_recovery(
    config: &Config,
    image: &Disk,
    now: Millis,
    want: &State,
    at: &str,
    out: &mut Outcome,
) {
    let mut probe = SimHost::new(image.clone());
    if open(config, &mut probe, now).is_err() {
        return;
    }
    let mut rng = Rng::new(probe.steps);
    for cut in 0..probe.steps {
        let mut host = SimHost::new(image.clone());
        host.crash_at = Some(cut);
        if !matches!(open(config, &mut host, now), Err(OpenError::Crashed)) {
            continue;
        }
        let disk = host.disk.after_crash(Crash::Power, &mut rng);
        out.crash_images += 1;
        match recovered_state(config, disk, now) {
            Ok(state) if &state == want => {}
            Ok(state) => out.violations.push(format!(
                "{at}, recovery cut at step {cut}: {state:?} instead of {want:?}"
            )),
            Err(e) => out
                .violations
                .push(format!("{at}, recovery cut at step {cut}: {e}")),
        }
    }
}

/// What fault injection found for one workload.
#[derive(Debug, Default)]
pub struct FaultOutcome {
    pub runs: u64,
    pub poisoned_runs: u64,
    pub refused_writes: u64,
    pub sites: std::collections::BTreeSet<&'static str>,
    pub violations: Vec<String>,
}

/// Injects EIO once and ENOSPC persistently at every step of the workload of `seed` (and at
/// steps of recovering from its power-cut images), then checks: the failure became a typed
/// error or poisoned the engine, nothing not durable was acknowledged, and reopening recovers a
/// prefix with every acknowledged write.
pub fn check_faults(seed: u64, len: usize) -> FaultOutcome {
    let ops = workload::generate(seed, len);
    let mut out = FaultOutcome::default();
    let Ok(full) = Run::new(&ops, None) else {
        out.violations
            .push(format!("seed {seed:#x}: the uncut run failed"));
        return out;
    };
    let config = workload::config();
    let mut rng = Rng::new(seed ^ 0xfa17);
    for at in 0..full.host.steps {
        for (persistent, class) in [(false, FailureClass::Io), (true, FailureClass::NoSpace)] {
            let fault = Fault {
                at,
                persistent,
                class,
            };
            let at_text = format!("seed {seed:#x} fault {fault:?}");
            let run = match Run::with_fault(&ops, None, Some(fault)) {
                Ok(run) => run,
                Err(e) => {
                    out.violations.push(format!("{at_text}: {e}"));
                    continue;
                }
            };
            out.runs += 1;
            out.sites.extend(run.host.faulted_sites.iter().copied());
            out.refused_writes += run.refused;
            if run.engine.poisoned().is_some() {
                out.poisoned_runs += 1;
            }
            for kind in [Crash::Process, Crash::Power] {
                let image = run.host.disk.after_crash(kind, &mut rng);
                let required = if kind.keeps_os_level() {
                    run.acked_os.max(run.acked_power)
                } else {
                    run.acked_power
                };
                match recovered_state(&config, image, run.now) {
                    Ok(state) => {
                        if !(required..=run.model.last_seq()).any(|p| run.model.at(p) == &state) {
                            out.violations.push(format!(
                                "{at_text} {kind:?}: reopened to {state:?}, no prefix from {required}"
                            ));
                        }
                    }
                    Err(e) => out
                        .violations
                        .push(format!("{at_text} {kind:?}: reopening failed: {e}")),
                }
            }
        }
    }
    // Failures while recovering from a power cut in the middle of the workload.
    for cut in (0..full.host.steps).step_by(7) {
        let Ok(run) = Run::new(&ops, Some(cut)) else {
            continue;
        };
        let image = run.host.disk.after_crash(Crash::PowerTorn, &mut rng);
        let mut probe = SimHost::new(image.clone());
        if open(&config, &mut probe, run.now).is_err() {
            continue;
        }
        for at in 0..probe.steps {
            let mut host = SimHost::new(image.clone());
            host.fault = Some(Fault {
                at,
                persistent: true,
                class: FailureClass::Io,
            });
            match open(&config, &mut host, run.now) {
                Ok(_) | Err(OpenError::Io(_)) => {}
                Err(e) => out.violations.push(format!(
                    "seed {seed:#x} cut {cut}: recovery with a fault at {at}: {e:?}"
                )),
            }
            out.runs += 1;
            out.sites.extend(host.faulted_sites.iter().copied());
            let reopened = host.disk.after_crash(Crash::Power, &mut rng);
            match recovered_state(&config, reopened, run.now) {
                Ok(state)
                    if (run.acked_power..=run.model.last_seq())
                        .any(|p| run.model.at(p) == &state) => {}
                other => out.violations.push(format!(
                    "seed {seed:#x} cut {cut} recovery fault at {at}: {other:?}"
                )),
            }
        }
    }
    out
}
