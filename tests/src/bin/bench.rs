//! Benchmarks of `verity serve` as users deploy it (docs/BENCHMARKS.md).
//!
//! Build both binaries, then run from the repository root:
//!
//! ```sh
//! cargo build --release -p verity -p verity-tests --bin verity --bin bench
//! ./target/release/bench issuance --backend sqlite --count 2000 --concurrency 32
//! ```
//!
//! The bench starts `target/release/verity serve` in its own process on a fresh database,
//! drives full flows over loopback HTTP with the reference wallet's logic, reads the server's
//! CPU time from /proc, measures the signature floor of verity-jose in the same run, and ends
//! with one `RESULT ...` line.

use std::path::PathBuf;
use std::process::ExitCode;

use verity_jose::Algorithm;
use verity_tests::Backend;
use verity_tests::benches::{self, MAX_CONCURRENCY, MAX_COUNT, Options};

const USAGE: &str = "usage: bench issuance|presentation|revocation|sweep|vc-api-verify [--backend sqlite|postgres] \
[--count N] [--concurrency C] [--warmup W] [--floor-ops N] [--holder-alg EdDSA|ES256] \
[--verity PATH] [--perf FILE] [--replicas N (postgres: N serve processes behind a round-robin proxy)]";

/// The value after `--name` (None when absent); an error when the flag has no value.
fn arg(args: &[String], name: &str) -> Result<Option<String>, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .filter(|v| !v.starts_with("--"))
            .cloned()
            .map(Some)
            .ok_or_else(|| format!("{name} needs a value")),
    }
}

/// `--name N` within `min..=max` (runs stay bounded on a shared machine), or `default`.
fn number(
    args: &[String],
    name: &str,
    default: usize,
    (min, max): (usize, usize),
) -> Result<usize, String> {
    match arg(args, name)? {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| format!("{name} must be a whole number from {min} to {max}, got `{v}`")),
    }
}

fn parse(args: &[String]) -> Result<(String, Options), String> {
    let what = args.get(1).cloned().unwrap_or_default();
    let known = [
        "--backend",
        "--count",
        "--concurrency",
        "--warmup",
        "--floor-ops",
        "--holder-alg",
        "--verity",
        "--perf",
        "--replicas",
    ];
    let mut i = 2;
    while i < args.len() {
        if !known.contains(&args[i].as_str()) {
            return Err(format!("unknown argument `{}`", args[i]));
        }
        i += 2;
    }
    let backend = match arg(args, "--backend")?.as_deref() {
        None | Some("sqlite") => Backend::Sqlite,
        Some("postgres") => Backend::Postgres,
        Some(other) => {
            return Err(format!(
                "--backend must be sqlite or postgres, got `{other}`"
            ));
        }
    };
    let holder_alg = match arg(args, "--holder-alg")? {
        None => None,
        Some(a) => match a.parse::<Algorithm>() {
            Ok(alg @ (Algorithm::ES256 | Algorithm::EdDSA)) => Some(alg),
            _ => return Err(format!("--holder-alg must be EdDSA or ES256, got `{a}`")),
        },
    };
    let default_count = if what == "revocation" { 50 } else { 1000 };
    let opts = Options {
        backend,
        count: number(args, "--count", default_count, (1, MAX_COUNT))?,
        concurrency: number(args, "--concurrency", 32, (1, MAX_CONCURRENCY))?,
        warmup: number(args, "--warmup", 50, (0, MAX_COUNT))?,
        floor_ops: number(args, "--floor-ops", 5000, (10, MAX_COUNT))?,
        verity: arg(args, "--verity")?
            .map(PathBuf::from)
            .unwrap_or_else(benches::server::default_binary),
        holder_alg,
        perf: arg(args, "--perf")?.map(PathBuf::from),
        replicas: match arg(args, "--replicas")? {
            None => None,
            Some(_) => Some(number(args, "--replicas", 1, (1, 8))?),
        },
    };
    Ok((what, opts))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (what, opts) = match parse(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let run = match what.as_str() {
        "issuance" => benches::issuance(&opts).await,
        "presentation" => benches::presentation(&opts).await,
        "revocation" => benches::revocation::revocation(&opts).await,
        "sweep" => benches::sweep::sweep(&opts).await,
        "vc-api-verify" => benches::vc_api::vc_api_verify(&opts).await,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
