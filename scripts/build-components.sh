#!/usr/bin/env bash
# Builds the Wasm guest crates (wasm32-wasip2 components) and puts the Linear connector's
# component next to its manifest in connectors/, where the host loads it from.
#   target/guests/wasm32-wasip2/guest/patchbay_linear.wasm             Linear connector
#   target/guests/wasm32-wasip2/guest/patchbay_manifest_component.wasm  engine for `connector build`
#   …/patchbay_hostile_component.wasm, …/patchbay_forbidden_import_component.wasm  sandbox tests
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --profile guest --locked --target wasm32-wasip2 --target-dir target/guests \
  -p patchbay-linear -p patchbay-manifest-component \
  -p patchbay-hostile-component -p patchbay-forbidden-import-component
cp target/guests/wasm32-wasip2/guest/patchbay_linear.wasm connectors/linear.wasm
echo "components built; connectors/linear.wasm updated"
