//! The Node interop suites' plumbing (`tests/interop`, pinned with `package-lock.json`): whether
//! Node and the pinned libraries are installed, and running one of the scripts with a JSON input
//! file and reading its JSON answer.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `tests/interop`.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Whether Node and every package in `packages` (paths under `node_modules`) are installed;
/// otherwise a note, or a failure when `VERITY_TEST_REQUIRE_INTEROP=1` (as `.ci/run` sets).
pub fn available(packages: &[&str]) -> bool {
    let modules = interop_dir().join("node_modules");
    let ok = packages.iter().all(|p| modules.join(p).is_dir())
        && std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("VERITY_TEST_REQUIRE_INTEROP").as_deref() != Ok("1"),
            "VERITY_TEST_REQUIRE_INTEROP=1 but node or tests/interop/node_modules is missing (npm ci there)"
        );
        eprintln!(
            "note: node or tests/interop/node_modules missing (npm ci there); interop test skipped"
        );
    }
    ok
}

/// How to run one script.
#[derive(Debug, Default, Clone)]
pub struct Node<'a> {
    /// Extra `node` flags before the script.
    pub flags: &'a [&'a str],
    /// Extra environment.
    pub env: &'a [(&'a str, &'a str)],
}

impl Node<'_> {
    /// Runs `node [flags] <script> <command> <input file>` in `tests/interop` and returns the
    /// JSON it prints. Asynchronous, so a Verity app on the test's runtime keeps serving the
    /// script; the process is killed if the test ends first.
    pub async fn run(&self, script: &str, command: &str, input: &Value) -> Value {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("input.json");
        std::fs::write(&file, input.to_string()).unwrap();
        let mut cmd = tokio::process::Command::new("node");
        cmd.current_dir(interop_dir())
            .args(self.flags)
            .arg(script)
            .arg(command)
            .arg(&file)
            .kill_on_drop(true);
        for (k, v) in self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().await.unwrap();
        assert!(
            out.status.success(),
            "node {script} {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

/// [`Node::run`] with no flags or environment.
pub async fn node(script: &str, command: &str, input: &Value) -> Value {
    Node::default().run(script, command, input).await
}
