//! What every workload shares: the clock, random numbers, Zipf, process and device counters.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The one place the harness reads the clock (the workspace's clippy.toml bans `Instant::now`
/// so that the store reads time only through its `Clock`; a benchmark has to measure it).
#[allow(clippy::disallowed_methods)]
#[must_use]
pub fn now() -> Instant {
    Instant::now()
}

/// xorshift64*: fast, reproducible, good enough to pick keys.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    #[must_use]
    pub fn new(seed: u64) -> Rng {
        Rng(splitmix(seed) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// SplitMix64 finaliser: scrambles an index into a well-spread 64-bit key.
#[must_use]
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Zipf over ranks `0..n` with exponent `s`: P(rank r) ∝ 1 / (r + 1)^s, sampled by inverting
/// the exact cumulative distribution (binary search in a precomputed table).
#[derive(Debug)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    #[must_use]
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for r in 0..n {
            sum += 1.0 / ((r + 1) as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    pub fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u64
    }
}

/// This process's I/O counters (`/proc/self/io`): bytes handed to `write(2)` and friends
/// (`wchar`) and bytes this process caused to be sent to the storage layer (`write_bytes`,
/// page-granular, counted when pages are dirtied, including by mmap).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcIo {
    pub wchar: u64,
    pub write_bytes: u64,
    /// Bytes this process caused to be read from the storage layer (not from the page cache).
    pub read_bytes: u64,
}

impl ProcIo {
    #[must_use]
    pub fn read() -> ProcIo {
        let mut io = ProcIo::default();
        if let Ok(text) = fs::read_to_string("/proc/self/io") {
            for line in text.lines() {
                let mut parts = line.split(':');
                let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let value = value.trim().parse().unwrap_or(0);
                match name {
                    "wchar" => io.wchar = value,
                    "write_bytes" => io.write_bytes = value,
                    "read_bytes" => io.read_bytes = value,
                    _ => {}
                }
            }
        }
        io
    }

    #[must_use]
    pub fn since(self, earlier: ProcIo) -> ProcIo {
        ProcIo {
            wchar: self.wchar.saturating_sub(earlier.wchar),
            write_bytes: self.write_bytes.saturating_sub(earlier.write_bytes),
            read_bytes: self.read_bytes.saturating_sub(earlier.read_bytes),
        }
    }
}

/// The block device a directory lives on, as named in `/proc/diskstats`, for the machine's
/// description.
#[derive(Clone, Debug)]
pub struct Device {
    pub name: String,
    major: u64,
    minor: u64,
}

impl Device {
    #[must_use]
    pub fn of(path: &Path) -> Option<Device> {
        let dev = fs::metadata(path).ok()?.dev();
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        let mut device = Device {
            name: String::new(),
            major,
            minor,
        };
        device.name = device.line()?.get(2)?.to_string();
        Some(device)
    }

    fn line(&self) -> Option<Vec<String>> {
        let text = fs::read_to_string("/proc/diskstats").ok()?;
        text.lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|f| {
                f.len() > 3 && f[0].parse() == Ok(self.major) && f[1].parse() == Ok(self.minor)
            })
    }

    /// The model of the device as sysfs names it, or the driver for virtual disks.
    #[must_use]
    pub fn describe(&self) -> String {
        let base = self.name.trim_end_matches(|c: char| c.is_ascii_digit());
        let sys = format!("/sys/block/{base}");
        let read = |f: &str| {
            fs::read_to_string(format!("{sys}/{f}"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let model = read("device/model");
        let rotational = read("queue/rotational");
        let cache = read("queue/write_cache");
        let kind = if base.starts_with("vd") {
            "virtio block device".to_string()
        } else if base.starts_with("nvme") {
            "NVMe".to_string()
        } else {
            String::new()
        };
        let mut parts = vec![format!("/dev/{}", self.name)];
        for p in [kind, model] {
            if !p.is_empty() {
                parts.push(p);
            }
        }
        if rotational == "0" {
            parts.push("non-rotational".into());
        } else if rotational == "1" {
            parts.push("rotational".into());
        }
        if !cache.is_empty() {
            parts.push(format!("write cache: {cache}"));
        }
        parts.join(", ")
    }
}

/// Counters sampled around one measured run.
#[derive(Debug)]
pub struct Counters {
    pub io: ProcIo,
    pub at: Instant,
    syncs: Option<SyncCounter>,
}

impl Counters {
    /// Starts the clock and the counters; with `count_syncs`, also counts sync system calls
    /// (attaching `perf` first, outside the timed span).
    #[must_use]
    pub fn take(tmp: &Path, count_syncs: bool) -> Counters {
        let syncs = if count_syncs {
            SyncCounter::start(tmp)
        } else {
            None
        };
        Counters {
            io: ProcIo::read(),
            at: now(),
            syncs,
        }
    }
}

/// What one measured run did: operations, time, and the counters' deltas.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub ops: u64,
    pub elapsed: Duration,
    pub io: ProcIo,
    /// `fsync`, `fdatasync`, `sync_file_range` and `msync` calls of the process and its
    /// children (counted with `perf`), when available.
    pub sync_calls: Option<u64>,
    /// fdatasyncs the system itself reports (Thermocline's `wal_syncs`), if it does.
    pub syncs: Option<u64>,
}

impl Run {
    #[must_use]
    pub fn finish(start: Counters, ops: u64) -> Run {
        let elapsed = start.at.elapsed();
        let io = ProcIo::read().since(start.io);
        Run {
            ops,
            elapsed,
            io,
            sync_calls: start.syncs.and_then(SyncCounter::stop),
            syncs: None,
        }
    }

    #[must_use]
    pub fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    #[must_use]
    pub fn secs_per_op(&self) -> f64 {
        self.elapsed.as_secs_f64() / (self.ops.max(1) as f64)
    }
}

/// The order in which the systems of a workload run in round `round`: rotated each round so
/// that no system always runs first (after a warm-up) or always right after the same neighbour.
#[must_use]
pub fn rotation<T: Clone>(items: &[T], round: usize) -> Vec<T> {
    let n = items.len().max(1);
    let mut v = items.to_vec();
    v.rotate_left(round % n);
    v
}

/// Counts the `fsync`-family system calls of this process (every thread, and child processes
/// such as `git`) during a run, with `perf stat` on the syscall tracepoints. Optional: where
/// `perf` or the tracepoints are unavailable the count is simply not reported.
#[derive(Debug)]
pub struct SyncCounter {
    child: std::process::Child,
    out: std::path::PathBuf,
}

const SYNC_EVENTS: &str = "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_sync_file_range,syscalls:sys_enter_msync";

impl SyncCounter {
    /// Whether `perf` can count the tracepoints here (asked once).
    #[must_use]
    pub fn available() -> bool {
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            std::process::Command::new("perf")
                .args(["stat", "-x,", "-e", SYNC_EVENTS, "true"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .output()
                .is_ok_and(|o| {
                    o.status.success()
                        && String::from_utf8_lossy(&o.stderr).contains("sys_enter_fdatasync")
                        && !String::from_utf8_lossy(&o.stderr).contains("<not supported>")
                })
        })
    }

    /// Attaches `perf stat` to this process and waits until it counts (its first interval
    /// report is written).
    #[must_use]
    pub fn start(dir: &Path) -> Option<SyncCounter> {
        if !Self::available() {
            return None;
        }
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = dir.join(format!("perf-syncs-{}-{n}.csv", std::process::id()));
        let child = std::process::Command::new("perf")
            .args(["stat", "-x,", "-I", "50", "-e", SYNC_EVENTS, "-o"])
            .arg(&out)
            .args(["-p", &std::process::id().to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut counter = SyncCounter { child, out };
        let deadline = now() + Duration::from_secs(5);
        while now() < deadline {
            let attached = fs::read_to_string(&counter.out)
                .is_ok_and(|t| t.lines().any(|l| l.contains("sys_enter_")));
            if attached {
                return Some(counter);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        counter.kill();
        None
    }

    fn kill(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Stops counting; the number of sync calls since `start`.
    #[must_use]
    pub fn stop(mut self) -> Option<u64> {
        self.kill();
        let text = fs::read_to_string(&self.out).ok()?;
        let _ = fs::remove_file(&self.out);
        let mut total = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            // interval mode: time,count,unit,event,...
            let f: Vec<&str> = line.split(',').collect();
            if f.len() > 3 && f[3].contains("sys_enter_") {
                total += f[1].trim().parse::<u64>().unwrap_or(0);
            }
        }
        Some(total)
    }
}

/// This process's resident memory (`VmRSS` in `/proc/self/status`), in bytes; 0 where the
/// file is not there.
#[must_use]
pub fn rss_bytes() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Samples this process's resident memory on a thread of its own every 100 ms, so that "memory
/// stays bounded" is a number: the peak over a run, next to the resident memory before it.
#[derive(Debug)]
pub struct RssSampler {
    pub before: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    #[must_use]
    pub fn start() -> RssSampler {
        use std::sync::atomic::Ordering;
        let before = rss_bytes();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = rss_bytes();
            while !flag.load(Ordering::Relaxed) {
                std::thread::park_timeout(Duration::from_millis(100));
                peak = peak.max(rss_bytes());
            }
            peak
        });
        RssSampler {
            before,
            stop,
            thread,
        }
    }

    /// Stops sampling (with one last sample): the peak resident memory seen, in bytes.
    #[must_use]
    pub fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.thread().unpark();
        self.thread.join().unwrap_or(0).max(rss_bytes())
    }
}

/// This benchmark's own executable, to be run with a hidden first argument (`--child-…`,
/// routed by `main` before the options are parsed). For what needs a process of its own: a
/// writer to SIGKILL, or a memory baseline that the earlier workloads' freed memory (kept by
/// the allocator) does not blur.
#[must_use]
pub fn child_command(role: &str) -> std::process::Command {
    let exe = std::env::current_exe().expect("path of the running executable");
    let mut cmd = std::process::Command::new(exe);
    cmd.arg(role);
    cmd
}
