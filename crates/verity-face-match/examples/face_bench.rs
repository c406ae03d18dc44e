//! Face comparisons per second of the `local` provider, and the calibration table of the
//! sample photos (docs/FACE_CHECK.md, docs/BENCHMARKS.md).
//!
//! ```text
//! bash crates/verity-face-match/scripts/fetch-models.sh face-models
//! bash crates/verity-face-match/scripts/fetch-test-photos.sh face-photos
//! cargo run --release -p verity-face-match --features local --example face_bench -- \
//!     --models face-models --photos face-photos --comparisons 40 --concurrency 2
//! ```
//!
//! Each comparison is a whole `FaceMatcher::compare` of two JPEGs as the server runs it:
//! checks, decoding, detection, landmarks and descriptors of both images, quality grade.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use verity_face_match::FaceMatcher;
use verity_face_match::local::LocalFaceMatcher;

const PHOTOS: [&str; 4] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];

struct Args {
    models: PathBuf,
    photos: PathBuf,
    comparisons: usize,
    concurrency: usize,
}

fn args() -> Args {
    let mut a = Args {
        models: PathBuf::from("face-models"),
        photos: PathBuf::from("face-photos"),
        comparisons: 40,
        concurrency: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--models" => a.models = value.into(),
            "--photos" => a.photos = value.into(),
            "--comparisons" => a.comparisons = value.parse().expect("--comparisons: a number"),
            "--concurrency" => a.concurrency = value.parse().expect("--concurrency: a number"),
            other => panic!(
                "unknown flag {other}; flags: --models DIR --photos DIR --comparisons N \
                 --concurrency N"
            ),
        }
    }
    a
}

/// utime + stime of this process, in clock ticks (Linux `/proc/self/stat`; 0 elsewhere).
fn cpu_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after ")".
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let a = args();
    let started = Instant::now();
    let matcher = Arc::new(
        LocalFaceMatcher::load(&a.models, a.concurrency, a.comparisons)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    println!(
        "models loaded in {:.2} s ({} model sets)",
        started.elapsed().as_secs_f64(),
        a.concurrency
    );
    let photos: Vec<(&str, Arc<Vec<u8>>)> = PHOTOS
        .iter()
        .map(|name| {
            let bytes = std::fs::read(a.photos.join(name))
                .unwrap_or_else(|e| panic!("{}: {e}", a.photos.join(name).display()));
            (*name, Arc::new(bytes))
        })
        .collect();

    println!("\ncalibration (reference vs probe: distance, score, reference quality)");
    for (i, (ra, rb)) in photos.iter().enumerate() {
        for (pa, pb) in photos.iter().skip(i + 1) {
            let d = matcher.compare_detailed(rb, pb).await.unwrap();
            let same = ra.starts_with("obama") == pa.starts_with("obama");
            println!(
                "  {ra:>10} vs {pa:<10} {:<9} distance {:.4}  score {:>3}  quality {:?}",
                if same { "same" } else { "different" },
                d.distance,
                d.comparison.match_confidence_score,
                d.comparison.source_photo_quality
            );
        }
    }

    // Same-person pairs, round robin, `concurrency` clients each running its share in turn.
    let pairs = [(0, 1), (0, 2), (1, 2), (0, 3)];
    for _ in 0..a.concurrency {
        matcher.compare(&photos[0].1, &photos[1].1).await.unwrap();
    }
    let started = Instant::now();
    let cpu_before = cpu_ticks();
    let mut clients = Vec::new();
    for c in 0..a.concurrency {
        let matcher = Arc::clone(&matcher);
        let photos: Vec<Arc<Vec<u8>>> = photos.iter().map(|(_, b)| Arc::clone(b)).collect();
        let share = a.comparisons / a.concurrency + usize::from(c < a.comparisons % a.concurrency);
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            for k in 0..share {
                let (r, p) = pairs[(c + k) % pairs.len()];
                let t = Instant::now();
                matcher.compare(&photos[r], &photos[p]).await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for c in clients {
        latencies.extend(c.await.unwrap());
    }
    let elapsed = started.elapsed();
    let cpu_s = (cpu_ticks() - cpu_before) as f64 / TICKS_PER_S;
    latencies.sort();
    println!(
        "\n{} comparisons, {} at a time: {:.2} s, {:.2} comparisons/s; latency p50 {} ms, p95 {} ms, max {} ms",
        latencies.len(),
        a.concurrency,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_millis(),
        percentile(&latencies, 0.95).as_millis(),
        latencies.last().map_or(0, |d| d.as_millis()),
    );
    let cpu_ms = cpu_s * 1000.0 / latencies.len() as f64;
    println!(
        "CPU {cpu_ms:.0} ms per comparison (this process, all threads): {:.2} comparisons/s per \
         idle core",
        1000.0 / cpu_ms
    );
}
