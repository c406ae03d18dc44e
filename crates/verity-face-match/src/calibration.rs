//! From a face-descriptor distance to `matchConfidenceScore`.
//!
//! dlib's ResNet face descriptor (the local provider's model) puts two photos of the same
//! person at a Euclidean distance below 0.6, its authors' recommended decision point (99.38%
//! on LFW at that threshold). The score maps that point to [`DEFAULT_THRESHOLD`], so "score >=
//! 70" means "the model's own same-person decision", and is linear on each side:
//!
//! | distance | 0 | 0.3 | 0.5 | 0.6 | 0.8 | 1.0 | >= 1.2 |
//! |---|---|---|---|---|---|---|---|
//! | score | 100 | 85 | 75 | 70 | 46.7 | 23.3 | 0 |
//!
//! (same person: distance 0 to 0.6 -> score 100 to 70; different: 0.6 to 1.2 -> 70 to 0).
//! Measured distances and scores of same-person and different-person pairs are in
//! docs/FACE_CHECK.md.

/// The hosted service's default `matchConfidenceThreshold`.
pub const DEFAULT_THRESHOLD: u8 = 70;
/// The descriptor distance at which the model decides "same person".
pub const SAME_PERSON_DISTANCE: f64 = 0.6;
/// The distance that scores 0.
const ZERO_SCORE_DISTANCE: f64 = 1.2;

/// The score (0-100, rounded) of a descriptor distance; NaN and negative distances score as
/// the worst and best cases they cannot be.
pub fn score_from_distance(distance: f64) -> u8 {
    let d = if distance.is_nan() {
        ZERO_SCORE_DISTANCE
    } else {
        distance.max(0.0)
    };
    let threshold = f64::from(DEFAULT_THRESHOLD);
    let score = if d <= SAME_PERSON_DISTANCE {
        100.0 - (100.0 - threshold) * d / SAME_PERSON_DISTANCE
    } else {
        threshold * (ZERO_SCORE_DISTANCE - d).max(0.0)
            / (ZERO_SCORE_DISTANCE - SAME_PERSON_DISTANCE)
    };
    // In 0..=100 by construction.
    score.round().clamp(0.0, 100.0) as u8
}

/// The score (0-100, rounded) of a remote service's similarity in 0..=1, given the similarity
/// at which that service decides "same person" (`same_person_similarity`, e.g. 0.5 for
/// CompreFace): linear from 0 to that point (score 0 to [`DEFAULT_THRESHOLD`]) and from it to 1
/// (score [`DEFAULT_THRESHOLD`] to 100), so that "score >= 70" is again the model's own decision.
/// Out-of-range and NaN similarities are clamped (NaN scores 0); a decision point outside
/// (0, 1) is treated as 0.5.
pub fn score_from_similarity(similarity: f64, same_person_similarity: f64) -> u8 {
    let t = if same_person_similarity > 0.0 && same_person_similarity < 1.0 {
        same_person_similarity
    } else {
        0.5
    };
    let s = if similarity.is_nan() {
        0.0
    } else {
        similarity.clamp(0.0, 1.0)
    };
    let threshold = f64::from(DEFAULT_THRESHOLD);
    let score = if s >= t {
        threshold + (100.0 - threshold) * (s - t) / (1.0 - t)
    } else {
        threshold * s / t
    };
    score.round().clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_sits_at_the_models_decision_point() {
        assert_eq!(score_from_distance(SAME_PERSON_DISTANCE), DEFAULT_THRESHOLD);
        assert!(score_from_distance(0.59) >= DEFAULT_THRESHOLD);
        assert!(score_from_distance(0.61) < DEFAULT_THRESHOLD);
    }

    #[test]
    fn the_table_of_the_module_doc() {
        for (d, s) in [
            (0.0, 100),
            (0.3, 85),
            (0.5, 75),
            (0.8, 47),
            (1.0, 23),
            (1.2, 0),
            (3.0, 0),
            (-1.0, 100),
            (f64::NAN, 0),
        ] {
            assert_eq!(score_from_distance(d), s, "distance {d}");
        }
    }

    #[test]
    fn similarity_maps_the_services_decision_point_to_the_threshold() {
        assert_eq!(score_from_similarity(0.5, 0.5), DEFAULT_THRESHOLD);
        assert!(score_from_similarity(0.49, 0.5) < DEFAULT_THRESHOLD);
        assert!(score_from_similarity(0.51, 0.5) >= DEFAULT_THRESHOLD);
        assert_eq!(score_from_similarity(0.8, 0.8), DEFAULT_THRESHOLD);
        for (s, t, score) in [
            (0.0, 0.5, 0),
            (1.0, 0.5, 100),
            (0.75, 0.5, 85),
            (0.25, 0.5, 35),
            (1.7, 0.5, 100),
            (-0.2, 0.5, 0),
            (f64::NAN, 0.5, 0),
            // A nonsensical decision point falls back to 0.5.
            (0.5, 1.5, 70),
            (0.5, 0.0, 70),
        ] {
            assert_eq!(score_from_similarity(s, t), score, "similarity {s} at {t}");
        }
    }
}
