//! Results as data, and their rendering as Markdown and JSON.
//!
//! A [`Table`] is one workload: rows are its cells (a value size, a trace and capacity, a number
//! of writers), columns its systems, `systems[0]` being Thermocline. Each system has one sample
//! per round; rounds are interleaved, so a ratio is taken within a round (ours and the peer
//! measured a few seconds apart) and the median and min–max of those ratios are reported.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value as Json, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Seconds per operation (lower is better).
    Time,
    /// Operations per second (higher is better).
    Rate,
    /// Percent (hit ratios; higher is better); compared by difference in points, not ratio.
    Percent,
    /// Bytes per second (higher is better).
    Bandwidth,
}

impl Unit {
    #[must_use]
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Unit::Time)
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Unit::Time => "time per operation",
            Unit::Rate => "operations per second",
            Unit::Percent => "percent",
            Unit::Bandwidth => "bytes per second",
        }
    }

    #[must_use]
    pub fn format(self, v: f64) -> String {
        if !v.is_finite() {
            return "–".into();
        }
        match self {
            Unit::Time => {
                if v < 1e-6 {
                    format!("{:.1} ns", v * 1e9)
                } else if v < 1e-3 {
                    format!("{:.2} µs", v * 1e6)
                } else if v < 1.0 {
                    format!("{:.2} ms", v * 1e3)
                } else {
                    format!("{v:.2} s")
                }
            }
            Unit::Rate => {
                if v >= 1e6 {
                    format!("{:.2} M/s", v / 1e6)
                } else if v >= 1e4 {
                    format!("{:.1} k/s", v / 1e3)
                } else {
                    format!("{v:.0} /s")
                }
            }
            Unit::Percent => format!("{v:.2} %"),
            Unit::Bandwidth => format!("{:.0} MB/s", v / 1e6),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Row {
    pub label: String,
    /// System → one sample per round (all systems run in every round, so index = round).
    pub samples: BTreeMap<String, Vec<f64>>,
    /// System → count name → one value per round (counts that do not drift: syncs per commit,
    /// bytes per operation).
    pub counts: BTreeMap<String, BTreeMap<String, Vec<f64>>>,
}

impl Row {
    #[must_use]
    pub fn new(label: impl Into<String>) -> Row {
        Row {
            label: label.into(),
            ..Row::default()
        }
    }

    pub fn push(&mut self, system: &str, value: f64) {
        self.samples
            .entry(system.to_string())
            .or_default()
            .push(value);
    }

    pub fn count(&mut self, system: &str, name: &str, value: f64) {
        self.counts
            .entry(system.to_string())
            .or_default()
            .entry(name.to_string())
            .or_default()
            .push(value);
    }

    #[must_use]
    pub fn median(&self, system: &str) -> Option<f64> {
        self.samples.get(system).and_then(|s| median(s))
    }

    #[must_use]
    pub fn count_median(&self, system: &str, name: &str) -> Option<f64> {
        self.counts
            .get(system)
            .and_then(|c| c.get(name))
            .and_then(|s| median(s))
    }

    /// One count's value in every round (empty when the system has no such count).
    #[must_use]
    pub fn count_values(&self, system: &str, name: &str) -> &[f64] {
        self.counts
            .get(system)
            .and_then(|c| c.get(name))
            .map_or(&[], Vec::as_slice)
    }

    /// Median, min and max of a count over the rounds.
    #[must_use]
    pub fn count_spread(&self, system: &str, name: &str) -> Option<(f64, f64, f64)> {
        spread3(self.count_values(system, name))
    }

    /// Per-round ratios ours ÷ peer (for percentages: ours − peer, in points).
    #[must_use]
    pub fn ratios(&self, unit: Unit, ours: &str, peer: &str) -> Vec<f64> {
        let (Some(a), Some(b)) = (self.samples.get(ours), self.samples.get(peer)) else {
            return Vec::new();
        };
        a.iter()
            .zip(b)
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| if unit == Unit::Percent { x - y } else { x / y })
            .collect()
    }

    /// Median, min and max of the per-round ratios.
    #[must_use]
    pub fn ratio(&self, unit: Unit, ours: &str, peer: &str) -> Option<(f64, f64, f64)> {
        spread3(&self.ratios(unit, ours, peer))
    }
}

/// Median, min and max of finite samples.
#[must_use]
pub fn spread3(samples: &[f64]) -> Option<(f64, f64, f64)> {
    let m = median(samples)?;
    let finite = samples.iter().copied().filter(|x| x.is_finite());
    let lo = finite.clone().fold(f64::INFINITY, f64::min);
    let hi = finite.fold(f64::NEG_INFINITY, f64::max);
    Some((m, lo, hi))
}

#[must_use]
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    })
}

#[derive(Clone, Debug)]
pub struct Table {
    pub id: &'static str,
    pub title: String,
    /// What the figures mean and how they were taken (Markdown).
    pub about: String,
    pub unit: Unit,
    /// `systems[0]` is ours; ratios are taken against it.
    pub systems: Vec<String>,
    pub rows: Vec<Row>,
    /// Systems that were left out (feature off, tool missing) and why.
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
    pub rounds: usize,
}

impl Table {
    #[must_use]
    pub fn new(id: &'static str, title: &str, unit: Unit, systems: Vec<String>) -> Table {
        Table {
            id,
            title: title.into(),
            about: String::new(),
            unit,
            systems,
            rows: Vec::new(),
            skipped: Vec::new(),
            notes: Vec::new(),
            rounds: 0,
        }
    }

    #[must_use]
    pub fn ours(&self) -> &str {
        &self.systems[0]
    }

    #[must_use]
    pub fn row(&self, label: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.label == label)
    }

    pub fn row_mut(&mut self, label: &str) -> &mut Row {
        if let Some(i) = self.rows.iter().position(|r| r.label == label) {
            return &mut self.rows[i];
        }
        self.rows.push(Row::new(label));
        self.rows.last_mut().expect("just pushed")
    }

    fn markdown(&self, out: &mut String) {
        let _ = writeln!(out, "### {}\n", self.title);
        if !self.about.is_empty() {
            let _ = writeln!(out, "{}\n", self.about.trim());
        }
        let unit = self.unit;
        let ours = self.ours().to_string();
        let peers: Vec<&String> = self.systems.iter().skip(1).collect();
        let rel = if unit == Unit::Percent {
            "difference in points, ours − peer"
        } else {
            "ratio ours ÷ peer, median (min–max) over rounds"
        };
        let _ = writeln!(
            out,
            "Figures are medians over {} round(s); {} ({}), {}.\n",
            self.rounds,
            unit.name(),
            if unit.higher_is_better() {
                "higher is better"
            } else {
                "lower is better"
            },
            rel
        );
        let _ = write!(out, "| | **{ours}** |");
        for p in &peers {
            let _ = write!(out, " {p} |");
        }
        let _ = write!(out, "\n|---|---:|");
        for _ in &peers {
            let _ = write!(out, "---:|");
        }
        out.push('\n');
        for row in &self.rows {
            let _ = write!(out, "| {} |", row.label);
            let ours_v = row.median(&ours);
            let _ = write!(
                out,
                " **{}**{} |",
                ours_v.map_or("–".into(), |v| unit.format(v)),
                spread(row.samples.get(&ours), unit)
            );
            for p in &peers {
                let Some(v) = row.median(p) else {
                    let _ = write!(out, " – |");
                    continue;
                };
                let rel = match row.ratio(unit, &ours, p) {
                    Some((m, _, _)) if unit == Unit::Percent => format!(" ({m:+.2})"),
                    Some((m, lo, hi)) if self.rounds > 1 => {
                        format!(" · **{m:.2}×** ({lo:.2}–{hi:.2})")
                    }
                    Some((m, _, _)) => format!(" · **{m:.2}×**"),
                    None => String::new(),
                };
                let _ = write!(out, " {}{rel} |", unit.format(v));
            }
            out.push('\n');
        }
        out.push('\n');
        // Counts that do not drift, one line per system that has any.
        let count_names: Vec<String> = {
            let mut names: Vec<String> = Vec::new();
            for row in &self.rows {
                for c in row.counts.values() {
                    for n in c.keys() {
                        if !names.contains(n) {
                            names.push(n.clone());
                        }
                    }
                }
            }
            names
        };
        if !count_names.is_empty() {
            let _ = write!(out, "| | system |");
            for n in &count_names {
                let _ = write!(out, " {n} |");
            }
            let _ = write!(out, "\n|---|---|");
            for _ in &count_names {
                let _ = write!(out, "---:|");
            }
            out.push('\n');
            for row in &self.rows {
                for system in &self.systems {
                    if !row.counts.contains_key(system) {
                        continue;
                    }
                    let _ = write!(out, "| {} | {system} |", row.label);
                    for n in &count_names {
                        let v = row.count_median(system, n);
                        let _ = write!(out, " {} |", v.map_or("–".into(), fmt_count));
                    }
                    out.push('\n');
                }
            }
            out.push('\n');
        }
        for s in &self.skipped {
            let _ = writeln!(out, "- Not measured: {s}");
        }
        for n in &self.notes {
            let _ = writeln!(out, "- {n}");
        }
        if !self.skipped.is_empty() || !self.notes.is_empty() {
            out.push('\n');
        }
    }

    #[must_use]
    pub fn json(&self) -> Json {
        let ours = self.ours();
        let rows: Vec<Json> = self
            .rows
            .iter()
            .map(|row| {
                let systems: serde_json::Map<String, Json> = self
                    .systems
                    .iter()
                    .filter_map(|s| {
                        let samples = row.samples.get(s)?;
                        let ratio = (s != ours)
                            .then(|| row.ratio(self.unit, ours, s))
                            .flatten()
                            .map(|(m, lo, hi)| json!({"median": m, "min": lo, "max": hi}));
                        let counts: serde_json::Map<String, Json> = row
                            .counts
                            .get(s)
                            .map(|c| {
                                c.iter()
                                    .map(|(k, v)| {
                                        (k.clone(), json!({"median": median(v), "rounds": v}))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        Some((
                            s.clone(),
                            json!({
                                "median": median(samples),
                                "rounds": samples,
                                "ours_vs_this": ratio,
                                "counts": counts,
                            }),
                        ))
                    })
                    .collect();
                json!({"cell": row.label, "systems": systems})
            })
            .collect();
        json!({
            "id": self.id,
            "title": self.title,
            "unit": format!("{:?}", self.unit),
            "higher_is_better": self.unit.higher_is_better(),
            "ratio": if self.unit == Unit::Percent { "ours - peer (points)" } else { "ours / peer" },
            "ours": ours,
            "systems": self.systems,
            "rounds": self.rounds,
            "rows": rows,
            "skipped": self.skipped,
            "notes": self.notes,
        })
    }
}

fn spread(samples: Option<&Vec<f64>>, unit: Unit) -> String {
    let Some(s) = samples else {
        return String::new();
    };
    if s.len() < 2 {
        return String::new();
    }
    let lo = s.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(" ({}–{})", unit.format(lo), unit.format(hi))
}

#[must_use]
pub fn fmt_count(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    NotMeasured,
}

#[derive(Clone, Debug)]
pub struct Bar {
    pub workload: String,
    pub bar: String,
    pub verdict: Verdict,
    pub evidence: String,
}

impl Bar {
    #[must_use]
    pub fn json(&self) -> Json {
        json!({
            "workload": self.workload,
            "bar": self.bar,
            "verdict": match self.verdict {
                Verdict::Met => "met",
                Verdict::Missed => "missed",
                Verdict::NotMeasured => "not measured",
            },
            "evidence": self.evidence,
        })
    }
}

/// The generated part of BENCHMARKS.md.
#[must_use]
pub fn markdown(header: &str, tables: &[Table], bars: &[Bar]) -> String {
    let mut out = String::new();
    out.push_str(header);
    out.push_str("\n### Bars from issue 5: met and missed\n\n");
    out.push_str("| workload | bar | verdict | evidence (this run) |\n|---|---|---|---|\n");
    for b in bars {
        let v = match b.verdict {
            Verdict::Met => "met",
            Verdict::Missed => "**missed**",
            Verdict::NotMeasured => "not measured",
        };
        let _ = writeln!(out, "| {} | {} | {v} | {} |", b.workload, b.bar, b.evidence);
    }
    out.push('\n');
    for t in tables {
        t.markdown(&mut out);
    }
    out
}
