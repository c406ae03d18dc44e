#!/usr/bin/env bash
# Fetches the public-domain test photos of the face-match tests into DIR (never committed):
# obama.jpg, obama2.jpg, obama3.jpg, biden.jpg from the test images of the PyPI source package
# face_recognition 1.3.0 (official White House photographs; see tests/README.md for the
# licence). Needs pip (or pip3) and tar. Idempotent.
set -euo pipefail

dir="${1:?usage: fetch-test-photos.sh DIR}"
files=(obama.jpg obama2.jpg obama3.jpg biden.jpg)

have_all() { for f in "${files[@]}"; do [ -s "$dir/$f" ] || return 1; done; }
if have_all; then
  exit 0
fi

pip_cmd=""
for p in pip pip3; do command -v "$p" >/dev/null 2>&1 && { pip_cmd="$p"; break; }; done
if [ -z "$pip_cmd" ] && command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
  pip_cmd="python3 -m pip"
fi
[ -n "$pip_cmd" ] || { echo "fetch-test-photos: pip is needed (apt-get install python3-pip)" >&2; exit 1; }

mkdir -p "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
$pip_cmd download --quiet --no-deps --no-binary :all: face_recognition==1.3.0 -d "$tmp" >&2
members=()
for f in "${files[@]}"; do members+=("face_recognition-1.3.0/tests/test_images/$f"); done
tar -xzf "$tmp/face_recognition-1.3.0.tar.gz" -C "$tmp" "${members[@]}"
for f in "${files[@]}"; do mv "$tmp/face_recognition-1.3.0/tests/test_images/$f" "$dir/$f"; done
have_all
