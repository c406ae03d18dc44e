//! Headless Chromium for end-to-end tests, driven through `tests/browser/driver.mjs`
//! (playwright-core on the system browser) one JSON command at a time, so the scenario and the
//! reference wallet stay in Rust.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The system Chromium, or `None` (with a note) when it or the driver is missing and
/// `VERITY_TEST_REQUIRE_BROWSER` is not `1`.
pub fn chromium() -> Option<PathBuf> {
    let required = std::env::var("VERITY_TEST_REQUIRE_BROWSER").as_deref() == Ok("1");
    let driver = driver_dir().join("node_modules/playwright-core");
    if !driver.is_dir() {
        assert!(
            !required,
            "VERITY_TEST_REQUIRE_BROWSER=1 but tests/browser has no node_modules (run npm ci there)"
        );
        eprintln!("skipping: tests/browser has no node_modules (npm ci there)");
        return None;
    }
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        assert!(
            !required,
            "VERITY_TEST_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)"
        );
        eprintln!("skipping: no chromium on PATH");
    }
    found
}

fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// One browser (one page at a time).
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    /// Launches `chromium` headless.
    pub async fn launch(chromium: &Path) -> Self {
        let mut child = Command::new("node")
            .current_dir(driver_dir())
            .arg("driver.mjs")
            .arg(chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs tests/browser/driver.mjs");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// Sends one command; its answer's `value`, or the driver's error.
    pub async fn try_cmd(&mut self, cmd: Value) -> Result<Value, String> {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the browser did not answer {cmd} within 60 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("the browser driver exited during {cmd}"));
        let answer: Value = serde_json::from_str(&answer).unwrap();
        if answer["ok"] == true {
            Ok(answer["value"].clone())
        } else {
            Err(answer["error"].as_str().unwrap_or_default().to_owned())
        }
    }

    /// Like [`Browser::try_cmd`]; a failure panics with the page's text.
    pub async fn cmd(&mut self, cmd: Value) -> Value {
        match self.try_cmd(cmd.clone()).await {
            Ok(v) => v,
            Err(e) => {
                let page = self
                    .try_cmd(json!({"op": "html"}))
                    .await
                    .unwrap_or_default();
                panic!("browser command {cmd} failed: {e}\npage: {page}");
            }
        }
    }

    pub async fn goto(&mut self, url: &str) {
        self.cmd(json!({"op": "goto", "url": url})).await;
    }

    pub async fn fill(&mut self, selector: &str, value: &str) {
        self.cmd(json!({"op": "fill", "selector": selector, "value": value}))
            .await;
    }

    pub async fn click(&mut self, selector: &str) {
        self.cmd(json!({"op": "click", "selector": selector})).await;
    }

    /// Waits until `body[data-status]` is `status`.
    pub async fn wait_status(&mut self, status: &str) {
        self.cmd(json!({"op": "waitStatus", "status": status}))
            .await;
    }

    /// `body[data-status]` now.
    pub async fn status(&mut self) -> String {
        self.cmd(json!({"op": "status"}))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The trimmed text of the first element matching `selector`.
    pub async fn text(&mut self, selector: &str) -> String {
        self.cmd(json!({"op": "text", "selector": selector}))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML.
    pub async fn html(&mut self) -> String {
        self.cmd(json!({"op": "html"}))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A full-page PNG at `path`.
    pub async fn screenshot(&mut self, path: &Path) {
        self.cmd(json!({"op": "screenshot", "path": path})).await;
    }

    /// A fresh context: no cookies, as another person's browser.
    pub async fn new_context(&mut self) {
        self.cmd(json!({"op": "newContext"})).await;
    }

    /// Closes the browser.
    pub async fn close(mut self) {
        let _ = self.try_cmd(json!({"op": "close"})).await;
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
