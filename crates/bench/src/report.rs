//! The side-by-side table: one column per target, the first being the direct run, and for
//! every other target what it adds to the direct figure (latency) or its ratio to it
//! (throughput, CPU, memory), since absolute numbers vary by machine.

use std::time::Duration;

/// One figure.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Num(f64),
    Missing,
}

impl Value {
    pub fn num(v: f64) -> Value {
        if v.is_finite() {
            Value::Num(v)
        } else {
            Value::Missing
        }
    }

    fn get(self) -> Option<f64> {
        match self {
            Value::Num(v) => Some(v),
            Value::Missing => None,
        }
    }
}

/// How a target's figure is set against the direct run.
#[derive(Debug, Clone, Copy)]
pub enum Compare {
    /// `+x` over the direct figure (latencies).
    Added,
    /// `×r` of the direct figure.
    Ratio,
    None,
}

pub struct Table {
    title: String,
    targets: Vec<&'static str>,
    rows: Vec<(String, Vec<Value>, Compare)>,
}

impl Table {
    pub fn new(title: &str, targets: Vec<&'static str>) -> Table {
        Table {
            title: title.to_owned(),
            targets,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, label: &str, values: Vec<Value>, compare: Compare) {
        self.rows.push((label.to_owned(), values, compare));
    }

    pub fn print(&self) {
        const LABEL: usize = 58;
        const COL: usize = 26;
        println!("\n== {} ==", self.title);
        let mut head = format!("{:<LABEL$}", "");
        for t in &self.targets {
            head.push_str(&format!("{t:>COL$}"));
        }
        println!("{head}");
        for (label, values, compare) in &self.rows {
            let mut line = format!("{label:<LABEL$}");
            let base = values.first().and_then(|v| v.get());
            for (i, v) in values.iter().enumerate() {
                let cell = match (v.get(), base, i, compare) {
                    (None, ..) => "-".to_owned(),
                    (Some(x), Some(b), 1.., Compare::Added) => {
                        format!("{} ({})", fmt(x), fmt_signed(x - b))
                    }
                    (Some(x), Some(b), 1.., Compare::Ratio) if b > 0.0 => {
                        format!("{} (x{:.2})", fmt(x), x / b)
                    }
                    (Some(x), ..) => fmt(x),
                };
                line.push_str(&format!("{cell:>COL$}"));
            }
            println!("{line}");
        }
    }
}

fn fmt(x: f64) -> String {
    if x.abs() >= 100.0 || x == x.trunc() {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

fn fmt_signed(x: f64) -> FmtSigned {
    FmtSigned(x)
}

/// A difference printed with its sign.
struct FmtSigned(f64);

impl std::fmt::Display for FmtSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 >= 0.0 { "+" } else { "-" };
        write!(f, "{sign}{}", fmt(self.0.abs()))
    }
}

/// The `q` quantile (nearest rank) in microseconds; `q = 1.0` is the maximum.
pub fn percentile_us(samples: &[Duration], q: f64) -> Value {
    if samples.is_empty() {
        return Value::Missing;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Value::num(sorted[rank - 1].as_secs_f64() * 1e6)
}
