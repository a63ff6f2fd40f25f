#!/usr/bin/env bash
# Installs what building, running and testing Parley needs, skipping whatever
# is already there (so a second run takes a few seconds):
#   - Debian/Ubuntu packages, with apt-get (through sudo when not root);
#   - Rust through rustup if cargo is missing; the wasm32-unknown-unknown
#     target, rustfmt and clippy;
#   - wasm-bindgen-cli 0.2.130 and tauri-driver 2.1.0 (cargo install; the
#     first install compiles them, about 10 minutes on 2 cores).
#
#   scripts/setup.sh                 # or, from a bash script:
#   source scripts/setup.sh          # also puts ~/.cargo/bin on the caller's PATH

# Build (Tauri/WebKitGTK), headless tests (Xvfb, D-Bus, keyring, notifications,
# WebDriver), screenshots (imagemagick). The tests also open a profile database
# with the sqlcipher CLI and with the SQLCipher 4 Python module below (to prove
# the file is standard SQLCipher) and parse the exported CSV files with
# Python's csv module; strace records every connection the app makes, to prove
# it talks to nothing but loopback in sandbox mode.
_parley_packages=(
    build-essential pkg-config curl
    libwebkit2gtk-4.1-dev libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev
    libdbus-1-dev
    xvfb xauth webkit2gtk-driver dbus-x11 gnome-keyring dunst
    imagemagick sqlcipher python3 python3-venv strace xdg-utils
)
_parley_wasm_bindgen_version=0.2.130
_parley_tauri_driver_version=2.1.0
# Debian 12's sqlcipher CLI is SQLCipher 3.4, which cannot read the SQLCipher 4
# format at all; this wheel bundles SQLCipher 4 (4.12), an implementation
# independent of the one the app links, for the test that opens the file.
_parley_sqlcipher_wheel="sqlcipher3-binary==0.6.0"
_parley_venv="${XDG_CACHE_HOME:-$HOME/.cache}/parley/sqlcipher-venv"

_parley_cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in
    *":$_parley_cargo_bin:"*) ;;
    *) export PATH="$_parley_cargo_bin:$PATH" ;;
esac

# The work runs in a subshell, so strict mode and helper names stay out of a
# script that sources this file. It is the file's last command: its status is
# the status of `scripts/setup.sh` and of `source scripts/setup.sh`.
(
    set -euo pipefail

    say() {
        echo "setup.sh: $*" >&2
    }

    as_root() {
        if [[ "$(id -u)" == 0 ]]; then
            "$@"
        elif command -v sudo >/dev/null 2>&1; then
            sudo "$@"
        else
            say "need root for: $*  (not root, and no sudo)"
            return 1
        fi
    }

    # System packages.
    if ! command -v dpkg-query >/dev/null 2>&1; then
        say "not a Debian/Ubuntu system; install the equivalents of: ${_parley_packages[*]}"
        exit 1
    fi
    missing=()
    for pkg in "${_parley_packages[@]}"; do
        if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]})); then
        say "installing ${missing[*]}"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    fi

    # Rust.
    if ! command -v cargo >/dev/null 2>&1; then
        say "installing Rust (rustup, minimal profile)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    fi
    if command -v rustup >/dev/null 2>&1; then
        targets="$(rustup target list --installed)"
        if ! grep -qx wasm32-unknown-unknown <<<"$targets"; then
            rustup target add wasm32-unknown-unknown
        fi
        components="$(rustup component list --installed)"
        for component in rustfmt clippy; do
            if ! grep -q "^$component" <<<"$components"; then
                rustup component add "$component"
            fi
        done
    else
        say "cargo is not managed by rustup; make sure the wasm32-unknown-unknown target, rustfmt and clippy are installed"
    fi

    # Pinned cargo tools, built in cargo's temporary directory rather than a
    # CARGO_TARGET_DIR shared with the workspace.
    if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $_parley_wasm_bindgen_version" ]]; then
        say "installing wasm-bindgen-cli $_parley_wasm_bindgen_version"
        # No --locked: its lockfile names a crate version the registry lacks.
        env -u CARGO_TARGET_DIR cargo install wasm-bindgen-cli --version "$_parley_wasm_bindgen_version"
        found="$(wasm-bindgen --version 2>/dev/null || true)"
        if [[ "$found" != "wasm-bindgen $_parley_wasm_bindgen_version" ]]; then
            say "after the install, wasm-bindgen on PATH is '$found' ($(command -v wasm-bindgen || echo none)); expected $_parley_wasm_bindgen_version"
            exit 1
        fi
    fi
    # tauri-driver has no --version; ask cargo what it installed.
    installed="$(cargo install --list)"
    if ! grep -qx "tauri-driver v$_parley_tauri_driver_version:" <<<"$installed" ||
        [[ ! -x "$_parley_cargo_bin/tauri-driver" ]]; then
        say "installing tauri-driver $_parley_tauri_driver_version"
        env -u CARGO_TARGET_DIR cargo install tauri-driver --version "$_parley_tauri_driver_version" --locked
    fi

    # A Python with SQLCipher 4, for tests/pipeline.rs (PARLEY_SQLCIPHER4_PYTHON).
    if ! "$_parley_venv/bin/python" -c 'import sqlcipher3' >/dev/null 2>&1; then
        say "installing $_parley_sqlcipher_wheel into $_parley_venv"
        python3 -m venv "$_parley_venv"
        "$_parley_venv/bin/pip" install --quiet --disable-pip-version-check "$_parley_sqlcipher_wheel"
    fi

    say "ready: system packages, $(rustc --version | cut -d' ' -f1-2), wasm32 target, wasm-bindgen $_parley_wasm_bindgen_version, tauri-driver $_parley_tauri_driver_version"
)
