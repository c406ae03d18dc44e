//! Which matcher a process uses, and how it is built.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use verity_core::Secret;

use crate::{FaceMatchError, FaceMatcher};

/// The face matcher configuration (`[face_check]` in the server's configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaceMatchConfig {
    /// `auto` (the default: `local` when this binary has it and the model files are in
    /// `models_dir`, else none), `none`, `local` or `http`.
    pub provider: Provider,
    /// Where the `local` provider finds its model files (see `scripts/fetch-models.sh`).
    pub models_dir: PathBuf,
    /// `local`: comparisons computed at once (each takes one CPU core while it runs).
    pub max_concurrency: usize,
    /// `local`: comparisons that may wait for a free slot; one more is refused at once with
    /// [`FaceMatchError::Unavailable`].
    pub max_queue: usize,
    /// The `http` provider.
    pub http: HttpConfig,
}

impl Default for FaceMatchConfig {
    fn default() -> Self {
        Self {
            provider: Provider::Auto,
            models_dir: PathBuf::from(DEFAULT_MODELS_DIR),
            max_concurrency: 2,
            max_queue: 16,
            http: HttpConfig::default(),
        }
    }
}

/// The default models directory, relative to the working directory.
pub const DEFAULT_MODELS_DIR: &str = "face-models";

/// The matcher kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Auto,
    None,
    Local,
    Http,
}

/// A remote face-verification service with a CompreFace-compatible verify endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Base URL (`https://faces.example.com`); the provider posts to
    /// `{url}/api/v1/verification/verify`.
    pub url: Option<String>,
    /// The verification service's API key, sent as `x-api-key`. Never printed.
    pub api_key: Option<Secret>,
    /// Time allowed to open a connection, milliseconds.
    pub connect_timeout_ms: u64,
    /// Time allowed for the whole request (connect, upload, answer), milliseconds.
    pub timeout_ms: u64,
    /// The service's similarity (0..1) at which it decides "same person"; mapped to score 70.
    pub similarity_threshold: f64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            url: None,
            api_key: None,
            connect_timeout_ms: 3_000,
            timeout_ms: 10_000,
            similarity_threshold: 0.5,
        }
    }
}

/// What [`build_with_reason`] built, and a sentence for the start-up log saying which matcher
/// is active or why none is.
#[derive(Debug)]
pub struct Built {
    pub matcher: Option<Arc<dyn FaceMatcher>>,
    pub note: String,
}

/// Builds the configured matcher: `None` for `none` (and for `auto` without a usable local
/// matcher). A configuration that asks for a matcher that cannot be built is an error
/// ([`FaceMatchError::Matcher`]) naming what is missing.
pub fn build(config: &FaceMatchConfig) -> Result<Option<Arc<dyn FaceMatcher>>, FaceMatchError> {
    build_with_reason(config).map(|b| b.matcher)
}

/// [`build`], with the sentence that says what was chosen and why.
pub fn build_with_reason(config: &FaceMatchConfig) -> Result<Built, FaceMatchError> {
    if config.max_concurrency == 0 {
        return Err(FaceMatchError::Matcher(
            "face_check.max_concurrency must be at least 1".into(),
        ));
    }
    match config.provider {
        Provider::None => Ok(Built {
            matcher: None,
            note: "face check off (face_check.provider = \"none\")".into(),
        }),
        Provider::Http => {
            let m = crate::http::HttpFaceMatcher::new(&config.http)?;
            let note = format!("face check: http matcher at {}", m.endpoint());
            Ok(Built {
                matcher: Some(Arc::new(m)),
                note,
            })
        }
        Provider::Local => {
            let m = build_local(config)?;
            Ok(Built {
                matcher: Some(m),
                note: format!(
                    "face check: local matcher (dlib), models from {}",
                    config.models_dir.display()
                ),
            })
        }
        Provider::Auto => {
            if !LOCAL_COMPILED_IN {
                return Ok(Built {
                    matcher: None,
                    note: "face check off: this binary was built without the `local` matcher \
                           (cargo feature verity-face-match/local) and face_check.provider is \
                           not set"
                        .into(),
                });
            }
            if let Some(missing) = crate::models::missing(&config.models_dir) {
                return Ok(Built {
                    matcher: None,
                    note: format!("face check off: {missing}"),
                });
            }
            let m = build_local(config)?;
            Ok(Built {
                matcher: Some(m),
                note: format!(
                    "face check: local matcher (dlib), models from {}",
                    config.models_dir.display()
                ),
            })
        }
    }
}

/// Whether this build has the `local` provider.
pub const LOCAL_COMPILED_IN: bool = cfg!(feature = "local");

#[cfg(feature = "local")]
fn build_local(config: &FaceMatchConfig) -> Result<Arc<dyn FaceMatcher>, FaceMatchError> {
    let m = crate::local::LocalFaceMatcher::load(
        &config.models_dir,
        config.max_concurrency,
        config.max_queue,
    )?;
    Ok(Arc::new(m))
}

#[cfg(not(feature = "local"))]
fn build_local(_config: &FaceMatchConfig) -> Result<Arc<dyn FaceMatcher>, FaceMatchError> {
    Err(FaceMatchError::Matcher(
        "face_check.provider = \"local\", but this binary was built without the local matcher: \
         rebuild with the cargo feature verity-face-match/local (needs libdlib-dev and \
         libopenblas-dev), or use provider \"http\" or \"none\""
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn defaults_and_a_full_toml_section() {
        let c: FaceMatchConfig = toml::from_str("").unwrap();
        assert_eq!(c, FaceMatchConfig::default());
        assert_eq!(c.provider, Provider::Auto);
        let c: FaceMatchConfig = toml::from_str(
            r#"
            provider = "http"
            models_dir = "/opt/models"
            max_concurrency = 4
            max_queue = 8
            [http]
            url = "https://faces.example.com"
            api_key = "k-123"
            connect_timeout_ms = 500
            timeout_ms = 2000
            similarity_threshold = 0.6
            "#,
        )
        .unwrap();
        assert_eq!(c.provider, Provider::Http);
        assert_eq!(c.models_dir, PathBuf::from("/opt/models"));
        assert_eq!((c.max_concurrency, c.max_queue), (4, 8));
        assert_eq!(c.http.api_key.as_ref().unwrap().expose(), "k-123");
        assert_eq!((c.http.connect_timeout_ms, c.http.timeout_ms), (500, 2000));
    }

    #[test]
    fn unknown_keys_and_providers_are_refused() {
        let e = toml::from_str::<FaceMatchConfig>("provder = \"none\"").unwrap_err();
        assert!(e.to_string().contains("provder"), "{e}");
        let e = toml::from_str::<FaceMatchConfig>("provider = \"cloud\"").unwrap_err();
        assert!(e.to_string().contains("cloud"), "{e}");
        let e = toml::from_str::<FaceMatchConfig>("[http]\napikey = \"x\"").unwrap_err();
        assert!(e.to_string().contains("apikey"), "{e}");
    }

    #[test]
    fn the_api_key_is_never_printed() {
        let mut c = FaceMatchConfig::default();
        c.http.api_key = Some(Secret::new("very-secret-key"));
        assert!(!format!("{c:?}").contains("very-secret-key"));
        assert!(!toml::to_string(&c).unwrap().contains("very-secret-key"));
    }

    #[test]
    fn none_builds_nothing() {
        let c = FaceMatchConfig {
            provider: Provider::None,
            ..Default::default()
        };
        let b = build_with_reason(&c).unwrap();
        assert!(b.matcher.is_none());
        assert!(b.note.contains("off"), "{}", b.note);
    }

    #[test]
    fn zero_concurrency_is_refused() {
        let c = FaceMatchConfig {
            provider: Provider::None,
            max_concurrency: 0,
            ..Default::default()
        };
        let e = build(&c).unwrap_err();
        assert!(e.to_string().contains("max_concurrency"), "{e}");
    }

    #[test]
    fn auto_without_models_builds_nothing_and_says_why() {
        let c = FaceMatchConfig {
            models_dir: PathBuf::from("/nonexistent/face-models"),
            ..Default::default()
        };
        let b = build_with_reason(&c).unwrap();
        assert!(b.matcher.is_none());
        if LOCAL_COMPILED_IN {
            assert!(
                b.note.contains("shape_predictor_5_face_landmarks.dat"),
                "{}",
                b.note
            );
        } else {
            assert!(b.note.contains("built without"), "{}", b.note);
        }
    }

    #[cfg(not(feature = "local"))]
    #[test]
    fn local_without_the_feature_says_how_to_get_it() {
        let c = FaceMatchConfig {
            provider: Provider::Local,
            ..Default::default()
        };
        let e = build(&c).unwrap_err();
        assert_eq!(e.code(), "FACE-007");
        assert!(e.to_string().contains("built without"), "{e}");
        assert!(e.to_string().contains("verity-face-match/local"), "{e}");
    }

    #[cfg(feature = "local")]
    #[test]
    fn local_with_a_missing_model_file_names_it_and_how_to_get_it() {
        let dir = std::env::temp_dir().join(format!("verity-no-models-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = FaceMatchConfig {
            provider: Provider::Local,
            models_dir: dir.clone(),
            ..Default::default()
        };
        let e = build(&c).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("shape_predictor_5_face_landmarks.dat"),
            "{msg}"
        );
        assert!(msg.contains("fetch-models.sh"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
