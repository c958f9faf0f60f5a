#!/usr/bin/env bash
# Set up a machine for the project: Debian packages (as root) and the virtualenv in .venv.
# Usage: scripts/bootstrap.sh demo|test     Idempotent: a second run only checks.
set -euo pipefail

profile="${1:-demo}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
python="${PYTHON:-python3}"

say() { printf '[bootstrap] %s\n' "$*"; }

# 1. Debian packages for this profile.
missing=()
while read -r package profiles; do
    [[ -z "$package" || "$package" == \#* ]] && continue
    [[ " $profiles " == *" $profile "* ]] || continue
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done < scripts/apt-packages.txt
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        say "installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
        # The packaged services are not needed: the project starts its own instances.
        for service in mosquitto influxdb postgresql; do
            if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$service" >/dev/null 2>&1 || true; fi
        done
    else
        say "missing Debian packages: ${missing[*]}"
        say "install them with: sudo apt-get install ${missing[*]}"
        [[ "$profile" == demo ]] && exit 1
        say "continuing: tests that need them will be skipped"
    fi
fi

# 2. Python virtualenv with the project and its dependencies.
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
    say "Python 3.11 or newer is needed ($python is $("$python" --version 2>&1))"; exit 1; }
[[ -x "$venv/bin/python" ]] || { say "creating $venv"; "$python" -m venv "$venv"; }
stamp="$venv/.installed"
wanted="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    say "installing Python packages into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -U pip "setuptools<81" wheel
    "$venv/bin/pip" install -q --disable-pip-version-check -e ".[dev]"
    # face_recognition's metadata asks for a source build of dlib; dlib-bin (a dependency) provides it.
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "face_recognition>=1.3,<2"
    # The plate reader's PP-OCRv4 models ship in this wheel; only its model files are used (its own
    # dependencies would pull in opencv-python beside opencv-python-headless).
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "rapidocr_onnxruntime==1.4.4"
    echo "$wanted" > "$stamp"
fi
# face_recognition_models exits silently without pkg_resources: check it really loads.
"$venv/bin/python" -W ignore -c 'import face_recognition, face_recognition_models; face_recognition_models.pose_predictor_model_location()' \
    || { say "face_recognition does not load (is setuptools < 81 installed in .venv?)"; exit 1; }
say "ready ($profile)"
