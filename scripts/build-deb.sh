#!/usr/bin/env bash
# Optional: builds a Debian package of the desktop app with the Tauri CLI.
#
#   scripts/build-deb.sh
#
# Installs tauri-cli 2.12.x when missing (the first install compiles it,
# about 15 minutes on 2 cores), builds the UI and the app in release mode
# (another long compile when cold) and writes
# $CARGO_TARGET_DIR (default target)/release/bundle/deb/*.deb.
# Only .deb: AppImage bundling downloads its tools from GitHub.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tauri_cli_version=2.12.4

source scripts/setup.sh

if [[ "$(cargo tauri --version 2>/dev/null || true)" != "tauri-cli 2.12."* ]]; then
    echo "build-deb.sh: installing tauri-cli $tauri_cli_version"
    env -u CARGO_TARGET_DIR cargo install tauri-cli --version "$tauri_cli_version" --locked
fi

scripts/build-ui.sh --release
cargo tauri build --bundles deb

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
echo "build-deb.sh: built:"
ls -1 "$target_dir"/release/bundle/deb/*.deb
