#!/usr/bin/env bash
# Installs the Debian packages plaster needs, only those missing; prints what it installs.
# Idempotent: a second run installs nothing. Run as root (or through sudo).
set -euo pipefail

BUILD=(build-essential cmake pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev zlib1g-dev
       libjpeg-dev libpng-dev libcmocka-dev clang libclang-rt-14-dev libomp-dev
       libdnnl-dev ocl-icd-libopencl1)  # oneDNN 2.6 (its Debian build links the OpenCL loader)
DATA=(libonnx-testdata dataset-fashion-mnist)
PYTHON=(python3-onnx python3-numpy python3-torch python3-torchvision python3-venv python3-jsonschema python3-pil)
BROWSER=(chromium)  # opens report.html in the report test

want=("${BUILD[@]}" "${DATA[@]}")
if [ "${PL_DEPS_PYTHON:-1}" = 1 ]; then want+=("${PYTHON[@]}" "${BROWSER[@]}"); fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#want[@]} Debian packages are installed"
    exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${#missing[@]} package(s)"
