//! The `local` provider: on-box matching with dlib's face models (cargo feature `local`).
//!
//! Per image: [`check_image`] -> decode (JPEG/PNG, EXIF orientation applied) -> dlib's HOG
//! frontal face detector on a working copy scaled so its longer side is at most
//! [`DETECT_MAX_SIDE`] (images under [`DETECT_MIN_SIDE`] are doubled, so faces down to ~40 px
//! are found) -> exactly one face -> 5-point landmarks -> 150x150 aligned chip -> ResNet
//! descriptor. When the reduced copy shows no face, the detector looks again at full size (a
//! small face in a large photo). The score is [`score_from_distance`] of the Euclidean distance
//! between the two descriptors; the reference's quality comes from [`crate::quality::assess`]
//! on the original pixels.
//!
//! Why the HOG detector rather than dlib's CNN (`mmod_human_face_detector.dat`): it needs no
//! model file, runs in tens of milliseconds on one core where the CNN takes seconds without a
//! GPU, and both inputs here are frontal by nature (an ID photo, a selfie).
//!
//! The models load once (about a second) in [`LocalFaceMatcher::load`]. dlib's detector and
//! network are not safe to share between threads, so the matcher keeps one set per slot
//! (`max_concurrency` copies, cloned from the loaded one) and runs each comparison in
//! `tokio::task::spawn_blocking` on a free set. At most `max_concurrency` comparisons compute at
//! once and `max_queue` more wait; beyond that a comparison is refused at once with
//! [`FaceMatchError::Unavailable`]. Images live only in memory for the comparison.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, Mutex};

use dlib_face_recognition::{
    FaceDetector, FaceDetectorTrait, FaceEncoderNetwork, FaceEncoderTrait, FaceEncoding,
    ImageMatrix, LandmarkPredictor, LandmarkPredictorTrait, Rectangle,
};
use image::imageops::{self, FilterType};
use image::{DynamicImage, RgbImage};
use tokio::sync::Semaphore;

use crate::quality::{self, FaceBox, QualityReport};
use crate::{
    CheckedImage, FaceComparison, FaceMatchError, FaceMatcher, ImageRole, check_image,
    decode_checked, models, score_from_distance,
};

/// Longest side of the copy the detector looks at, pixels.
pub const DETECT_MAX_SIDE: u32 = 1024;
/// Images whose longer side is under this are doubled before detection.
pub const DETECT_MIN_SIDE: u32 = 600;

/// The on-box matcher. Cheap to share (`Arc` inside).
pub struct LocalFaceMatcher {
    inner: Arc<Inner>,
}

struct Inner {
    workers: Mutex<Vec<Worker>>,
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    max_concurrency: usize,
    max_queue: usize,
}

/// One set of models, used by one comparison at a time.
struct Worker {
    detector: FaceDetector,
    landmarks: LandmarkPredictor,
    descriptor: FaceEncoderNetwork,
}

impl std::fmt::Debug for LocalFaceMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFaceMatcher")
            .field("max_concurrency", &self.inner.max_concurrency)
            .field("max_queue", &self.inner.max_queue)
            .finish_non_exhaustive()
    }
}

/// A comparison with what the local model measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalComparison {
    pub comparison: FaceComparison,
    /// Euclidean distance of the two face descriptors (same person below 0.6).
    pub distance: f64,
    /// The reference photo's quality measures.
    pub reference_quality: QualityReport,
}

impl LocalFaceMatcher {
    /// Loads the models from `models_dir` once and prepares `max_concurrency` slots (at
    /// least one) with `max_queue` waiting places. A missing or unreadable model file is a
    /// [`FaceMatchError::Matcher`] naming it and how to get it.
    pub fn load(
        models_dir: &Path,
        max_concurrency: usize,
        max_queue: usize,
    ) -> Result<Self, FaceMatchError> {
        if let Some(missing) = models::missing(models_dir) {
            return Err(FaceMatchError::Matcher(missing));
        }
        let load_err = |file: &str, e: String| {
            FaceMatchError::Matcher(format!(
                "face model file {} cannot be loaded ({e}); {}",
                models::path(models_dir, file).display(),
                models::HOW_TO_FETCH
            ))
        };
        let landmarks = LandmarkPredictor::open(models::path(models_dir, models::LANDMARKS_FILE))
            .map_err(|e| load_err(models::LANDMARKS_FILE, e))?;
        let descriptor =
            FaceEncoderNetwork::open(models::path(models_dir, models::DESCRIPTOR_FILE))
                .map_err(|e| load_err(models::DESCRIPTOR_FILE, e))?;
        let max_concurrency = max_concurrency.max(1);
        let mut workers = Vec::with_capacity(max_concurrency);
        for _ in 1..max_concurrency {
            workers.push(Worker {
                detector: FaceDetector::new(),
                landmarks: landmarks.clone(),
                descriptor: descriptor.clone(),
            });
        }
        workers.push(Worker {
            detector: FaceDetector::new(),
            landmarks,
            descriptor,
        });
        Ok(Self {
            inner: Arc::new(Inner {
                workers: Mutex::new(workers),
                running: Arc::new(Semaphore::new(max_concurrency)),
                admitted: Arc::new(Semaphore::new(max_concurrency + max_queue)),
                max_concurrency,
                max_queue,
            }),
        })
    }

    /// [`FaceMatcher::compare`] with the distance and the reference's quality measures.
    pub async fn compare_detailed(
        &self,
        reference: &[u8],
        probe: &[u8],
    ) -> Result<LocalComparison, FaceMatchError> {
        let reference_checked = check_image(ImageRole::Reference, reference)?;
        let probe_checked = check_image(ImageRole::Probe, probe)?;
        let admitted = Arc::clone(&self.inner.admitted)
            .try_acquire_owned()
            .map_err(|_| {
                FaceMatchError::Unavailable(format!(
                    "the local face matcher is busy ({} comparisons running and {} waiting)",
                    self.inner.max_concurrency, self.inner.max_queue
                ))
            })?;
        let running = Arc::clone(&self.inner.running)
            .acquire_owned()
            .await
            .map_err(|_| FaceMatchError::Unavailable("the local face matcher is closed".into()))?;
        let inner = Arc::clone(&self.inner);
        let reference = reference.to_vec();
        let probe = probe.to_vec();
        // The permits move into the task: a caller that goes away does not free the slot
        // before the CPU work ends.
        let task = tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            let worker = inner
                .workers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let Some(worker) = worker else {
                return Err(FaceMatchError::Matcher(
                    "no free model set for a running comparison".into(),
                ));
            };
            let result = compare_with(
                &worker,
                (&reference, reference_checked),
                (&probe, probe_checked),
            );
            inner
                .workers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(worker);
            result
        });
        task.await.map_err(|e| {
            FaceMatchError::Matcher(format!("the face comparison stopped unexpectedly: {e}"))
        })?
    }
}

#[async_trait::async_trait]
impl FaceMatcher for LocalFaceMatcher {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn compare(
        &self,
        reference: &[u8],
        probe: &[u8],
    ) -> Result<FaceComparison, FaceMatchError> {
        self.compare_detailed(reference, probe)
            .await
            .map(|d| d.comparison)
    }
}

/// One face found in one image.
struct Face {
    descriptor: FaceEncoding,
    face_box: FaceBox,
}

fn compare_with(
    worker: &Worker,
    reference: (&[u8], CheckedImage),
    probe: (&[u8], CheckedImage),
) -> Result<LocalComparison, FaceMatchError> {
    let reference_image = decode_checked(ImageRole::Reference, reference.0, reference.1)?;
    let reference_face = one_face(worker, ImageRole::Reference, &reference_image)?;
    let probe_image = decode_checked(ImageRole::Probe, probe.0, probe.1)?;
    let probe_face = one_face(worker, ImageRole::Probe, &probe_image)?;
    let distance = reference_face.descriptor.distance(&probe_face.descriptor);
    let reference_quality = quality::assess(&reference_image.to_luma8(), reference_face.face_box);
    Ok(LocalComparison {
        comparison: FaceComparison {
            match_confidence_score: score_from_distance(distance),
            source_photo_quality: reference_quality.quality,
            reference_faces: 1,
            probe_faces: 1,
        },
        distance,
        reference_quality,
    })
}

/// Finds exactly one face in `image` and describes it.
fn one_face(
    worker: &Worker,
    role: ImageRole,
    image: &DynamicImage,
) -> Result<Face, FaceMatchError> {
    let rgb = image.to_rgb8();
    let (w, h) = rgb.dimensions();
    let long = w.max(h);
    let mut scale = if long > DETECT_MAX_SIDE {
        f64::from(DETECT_MAX_SIDE) / f64::from(long)
    } else if long < DETECT_MIN_SIDE {
        2.0
    } else {
        1.0
    };
    // A face too small for the reduced copy is looked for again at full size.
    let mut found = detect(worker, &rgb, scale)?;
    if found.1.is_empty() && scale < 1.0 {
        scale = 1.0;
        found = detect(worker, &rgb, scale)?;
    }
    let (matrix, faces) = found;
    match faces.len() {
        0 => return Err(FaceMatchError::NoFace { image: role }),
        1 => {}
        count => return Err(FaceMatchError::MultipleFaces { image: role, count }),
    }
    let rect = faces[0];
    let landmarks = worker.landmarks.face_landmarks(&matrix, &rect);
    let descriptors = worker
        .descriptor
        .get_face_encodings(&matrix, &[landmarks], 0);
    let descriptor = descriptors.first().cloned().ok_or_else(|| {
        FaceMatchError::Matcher(format!("the face model gave no descriptor for {role}"))
    })?;
    // Back to the original pixels, clipped to the image.
    let unscale = |v: std::os::raw::c_long, max: u32| -> u32 {
        let v = (v as f64 / scale).round();
        v.clamp(0.0, f64::from(max)) as u32
    };
    let left = unscale(rect.left, w);
    let top = unscale(rect.top, h);
    let right = unscale(rect.right, w);
    let bottom = unscale(rect.bottom, h);
    Ok(Face {
        descriptor,
        face_box: FaceBox {
            left,
            top,
            width: right.saturating_sub(left).max(1),
            height: bottom.saturating_sub(top).max(1),
        },
    })
}

/// The working copy at `scale` and the faces the detector finds in it.
fn detect(
    worker: &Worker,
    rgb: &RgbImage,
    scale: f64,
) -> Result<(ImageMatrix, Vec<Rectangle>), FaceMatchError> {
    let (w, h) = rgb.dimensions();
    let work: Cow<'_, RgbImage> = if scale == 1.0 {
        Cow::Borrowed(rgb)
    } else {
        let sw = ((f64::from(w) * scale).round() as u32).max(1);
        let sh = ((f64::from(h) * scale).round() as u32).max(1);
        Cow::Owned(imageops::resize(rgb, sw, sh, FilterType::Triangle))
    };
    let matrix = to_matrix(&work)?;
    let faces = worker.detector.face_locations(&matrix).to_vec();
    Ok((matrix, faces))
}

/// Copies pixels into dlib's matrix (through the image version its safe constructor takes).
fn to_matrix(rgb: &RgbImage) -> Result<ImageMatrix, FaceMatchError> {
    let (w, h) = rgb.dimensions();
    let copy = image024::RgbImage::from_raw(w, h, rgb.as_raw().clone())
        .ok_or_else(|| FaceMatchError::Matcher("pixel buffer of the wrong size".into()))?;
    Ok(ImageMatrix::from_image(&copy))
}
