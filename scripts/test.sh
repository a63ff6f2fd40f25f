#!/usr/bin/env bash
# The whole test suite; CI runs exactly this (.ci/run).
#
#   scripts/test.sh [ARGS...]     ARGS go to the final `cargo test`,
#                                 e.g. scripts/test.sh -- --nocapture
#
# Steps, stopping at the first failure: setup, rustfmt, clippy for the UI
# (wasm32), the UI's unit tests (host), the UI build (dist/), clippy for the
# rest (host), the build of every binary and test, then `cargo test
# --workspace` inside a fresh, private session (Xvfb, D-Bus, gnome-keyring,
# dunst; scripts/with-session.sh --fresh), so no test touches the user's
# display, keyring or data.
#
# Honours CARGO_TARGET_DIR. With CI set (CI=true), cargo runs with --locked.
# A cold run on 2 cores takes a while (tool installs plus two Tauri builds:
# check and debug); a warm one mostly runs tests.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

locked=()
case "${CI:-}" in
    "" | false | 0) ;;
    *) locked=(--locked) ;;
esac

duration() {
    printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

summary=()
current=""
finish() {
    local status=$?
    if ((${#summary[@]})); then
        echo
        echo "test.sh: time per step"
        printf '  %s\n' "${summary[@]}"
    fi
    if ((status)); then
        echo "test.sh: FAILED in step '$current' (exit $status) after $(duration "$SECONDS")" >&2
    else
        echo "test.sh: all steps passed in $(duration "$SECONDS")"
    fi
}
trap finish EXIT

# step NAME COMMAND...: run COMMAND, print and record its time.
step() {
    current=$1
    shift
    echo
    echo "==> $current: $*"
    local start=$SECONDS
    "$@"
    local took=$((SECONDS - start))
    summary+=("$(printf '%8s  %s' "$(duration "$took")" "$current")")
    echo "<== $current: $(duration "$took")"
}

# Sourced, so that ~/.cargo/bin is on PATH from here on.
step "setup" source scripts/setup.sh
# The fresh session below moves XDG_CACHE_HOME, so name setup's SQLCipher 4
# Python (for tests/privacy_promises.rs) before it does.
export PARLEY_SQLCIPHER4_PYTHON="${PARLEY_SQLCIPHER4_PYTHON:-${XDG_CACHE_HOME:-$HOME/.cache}/parley/sqlcipher-venv/bin/python}"
step "rustfmt" cargo fmt --all --check
# Also checks, under CI, that Cargo.lock is up to date before build-ui.sh
# (which has no --locked) builds anything.
step "clippy (UI, wasm32)" \
    cargo clippy "${locked[@]}" -p parley-ui --target wasm32-unknown-unknown -- -D warnings
step "UI unit tests (host)" cargo test "${locked[@]}" -p parley-ui
# tauri.conf.json's frontendDist must exist before anything compiles the app crate.
step "build UI" scripts/build-ui.sh
step "clippy (workspace, host)" \
    cargo clippy "${locked[@]}" --workspace --all-targets -- -D warnings
# The tests start parley-relay, parley-sandbox and parleyctl from the target
# directory, so every binary is built first. --tests is not only for speed:
# it makes cargo resolve features with dev-dependencies, as `cargo test`
# does; a plain `cargo build --workspace --bins` would compile the Tauri graph
# a second time with other features.
step "build binaries and tests" cargo build "${locked[@]}" --workspace --bins --tests
step "cargo test (fresh session)" \
    scripts/with-session.sh --fresh -- cargo test "${locked[@]}" --workspace "$@"
