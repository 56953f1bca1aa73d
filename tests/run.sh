#!/usr/bin/env bash
# The whole test suite, as the README shows it: installs the `tansu` Kafka broker when
# the machine lacks it, then checks formatting and lints and runs every test (unit,
# simulator, and the real-broker end-to-end tests, which start their own broker and
# simulator on free loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v tansu >/dev/null 2>&1; then
  echo "==> tansu (Kafka-compatible broker) not found: installing it once with cargo (15 to 25 minutes)"
  cargo install tansu --locked --features dynostore,libsql
fi
echo "==> tansu: $(command -v tansu)"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy (warnings are errors)"
cargo clippy --all-targets -- -D warnings
echo "==> cargo test"
cargo test --all-targets "$@"
