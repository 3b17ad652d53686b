#!/usr/bin/env bash
# Installs everything the build, the demo and the tests need on a fresh
# Debian machine with Rust (rustup), Node.js 20+ and npm. Idempotent: a
# second run only checks. Used by the README's commands and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # must equal the `wasm-bindgen = "=…"` pin in Cargo.toml

rustup target add wasm32-unknown-unknown
rustup component add clippy rustfmt rust-src   # rust-src: the React Native build rebuilds std (-Zbuild-std)

if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  # No --locked: its lockfile names crate versions newer than some registries serve.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# Debian packages: Chromium + ChromeDriver (browser tests), PostgreSQL (the
# service's tests run against a throwaway server on loopback as well as SQLite),
# SoftHSM2 (the PKCS#11 KMS's tests: a software token behind the HSM interface).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
  || [ ! -f /usr/lib/softhsm/libsofthsm2.so ] || [ ! -x /usr/bin/softhsm2-util ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium chromium-driver postgresql softhsm2
fi

# The openssl CLI: the PostgreSQL-over-TLS test makes its CA and certificates with it.
if ! command -v openssl >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends openssl
fi

# moto's server (`python3 -m moto.server`): a real AWS KMS API on loopback for the service's AWS
# KMS backend tests (service/tests/kms_backends.rs) and the bench; it implements KMS with real
# AES-GCM and checks the encryption context. Debian's own python3 refuses pip installs into the
# system (PEP 668) unless told.
if ! python3 -c 'import moto.server, flask' >/dev/null 2>&1; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends python3-pip
  fi
  python3 -m pip install --quiet 'moto[server]' \
    || python3 -m pip install --quiet --break-system-packages 'moto[server]'
fi

npm ci --no-audit --no-fund
echo "setup complete"
