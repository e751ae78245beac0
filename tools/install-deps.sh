#!/usr/bin/env bash
# Installs the Debian 12 packages gptrec needs to build and test (as root, or through sudo).
# Packages already present are left alone; apt-get update runs only when something is missing.
# libopenblas0-openmp: python3-torch calls whichever libblas.so.3 the system provides, and without
# it that is the reference BLAS, on which tools/train.py runs about 5x slower (it warns then).
set -euo pipefail
packages=(build-essential cmake pkg-config libeigen3-dev nlohmann-json3-dev libcli11-dev
          libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev libpcre2-dev python3 python3-numpy
          python3-torch libopenblas0-openmp python3-dev pybind11-dev python3-distributed
          libsqlite3-dev libcpp-httplib-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
run() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
run apt-get update
run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
