//! Test data for the real-model tests: dlib's models and public-domain photos, fetched at test
//! time (never committed) into a cache, see tests/README.md.
//!
//! - cache: `$VERITY_TEST_DATA_DIR`, else `$HOME/.cache/verity-test-data`;
//! - models: `$VERITY_FACE_MODELS_DIR`, else `<cache>/face-models`;
//! - photos: `<cache>/face-photos`.
//!
//! When they cannot be had, a test fails with the reason if `VERITY_TEST_REQUIRE_FACES=1` (CI),
//! and is skipped with a printed note otherwise.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestData {
    pub models: PathBuf,
    pub photos: PathBuf,
}

impl TestData {
    pub fn photo(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.photos.join(name))
            .unwrap_or_else(|e| panic!("test photo {name} in {}: {e}", self.photos.display()))
    }
}

fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VERITY_TEST_DATA_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache").join("verity-test-data")
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

fn run_fetch(script_name: &str, dir: &Path) -> Result<(), String> {
    let out = Command::new("bash")
        .arg(script(script_name))
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run {script_name}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{script_name} {} failed ({}): {}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn fetch() -> Result<TestData, String> {
    let cache = cache_dir();
    let models = std::env::var_os("VERITY_FACE_MODELS_DIR")
        .map_or_else(|| cache.join("face-models"), PathBuf::from);
    if verity_face_match::models::missing(&models).is_some() {
        run_fetch("fetch-models.sh", &models)?;
    }
    if let Some(m) = verity_face_match::models::missing(&models) {
        return Err(m);
    }
    let photos = cache.join("face-photos");
    run_fetch("fetch-test-photos.sh", &photos)?;
    Ok(TestData { models, photos })
}

/// The models and photos, or `None` (after printing why) when they cannot be had and
/// `VERITY_TEST_REQUIRE_FACES` is not `1`.
pub fn test_data() -> Option<&'static TestData> {
    static DATA: std::sync::OnceLock<Result<TestData, String>> = std::sync::OnceLock::new();
    match DATA.get_or_init(fetch) {
        Ok(d) => Some(d),
        Err(why) => {
            if std::env::var("VERITY_TEST_REQUIRE_FACES").as_deref() == Ok("1") {
                panic!(
                    "VERITY_TEST_REQUIRE_FACES=1 but the face models or test photos cannot be \
                     had: {why}"
                );
            }
            eprintln!(
                "SKIPPED: face models or test photos unavailable ({why}); set \
                 VERITY_TEST_REQUIRE_FACES=1 to make this a failure"
            );
            None
        }
    }
}
