//! Timing (median of several runs) and output.

use std::time::Instant;

/// Command-line arguments shared by every group.
pub struct Args {
    pub json: bool,
    pub only: Option<String>,
    /// Data size per case, MiB.
    pub mib: usize,
    /// Timed runs per case (the median is reported).
    pub runs: usize,
}

impl Args {
    pub fn parse() -> Self {
        let mut args = Args {
            json: false,
            only: None,
            mib: 256,
            runs: 5,
        };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let mut value =
                |what: &str| it.next().unwrap_or_else(|| panic!("{what} needs a value"));
            match a.as_str() {
                "--json" => args.json = true,
                "--only" => args.only = Some(value("--only")),
                "--mib" => args.mib = value("--mib").parse().expect("--mib N"),
                "--runs" => args.runs = value("--runs").parse().expect("--runs N"),
                other => panic!("unknown argument {other}; see the doc comment in main.rs"),
            }
        }
        args
    }

    pub fn bytes(&self) -> usize {
        self.mib << 20
    }
}

/// Median wall time of `runs` calls of `f` (after one warm-up call).
pub fn median_seconds(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// One measured case.
pub struct Case {
    pub name: String,
    pub bytes: usize,
    pub seconds: f64,
    /// The reference's name and our speed divided by its speed.
    pub ratio: Option<(String, f64)>,
}

impl Case {
    pub fn new(name: impl Into<String>, bytes: usize, seconds: f64) -> Self {
        Case {
            name: name.into(),
            bytes,
            seconds,
            ratio: None,
        }
    }

    /// Sets the ratio of our throughput to `reference`'s (same bytes).
    pub fn vs(mut self, reference: &Case) -> Self {
        self.ratio = Some((reference.name.clone(), reference.seconds / self.seconds));
        self
    }

    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds
    }

    pub fn print(&self, json: bool) {
        let (ref_name, ratio) = match &self.ratio {
            Some((n, r)) => (format!("\"{n}\""), format!("{r:.3}")),
            None => ("null".into(), "null".into()),
        };
        if json {
            println!(
                "{{\"name\":\"{}\",\"bytes\":{},\"seconds\":{:.6},\"mb_per_s\":{:.1},\"ratio\":{},\"reference\":{}}}",
                self.name,
                self.bytes,
                self.seconds,
                self.mb_per_s(),
                ratio,
                ref_name
            );
        } else {
            println!(
                "{:<48} {:>12} B {:>10.4} s {:>9.1} MB/s  ratio {:>6} vs {}",
                self.name,
                self.bytes,
                self.seconds,
                self.mb_per_s(),
                ratio,
                ref_name
            );
        }
    }
}
