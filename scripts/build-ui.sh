#!/usr/bin/env bash
# Builds the Yew UI into ./dist (tauri.conf.json's frontendDist).
#
#   scripts/build-ui.sh [--release]
#
# cargo (wasm32-unknown-unknown) -> wasm-bindgen --target web -> dist/.
# No trunk, no wasm-opt (Debian's binaryen is too old for today's wasm).
# Honours $CARGO_TARGET_DIR; $WASM_BINDGEN may point at the CLI.
set -euo pipefail

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

profile=debug
cargo_flags=()
for arg in "$@"; do
    case "$arg" in
        --release)
            profile=release
            cargo_flags+=(--release)
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "build-ui.sh: unknown argument: $arg" >&2
            usage >&2
            exit 2
            ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac

wasm_bindgen="${WASM_BINDGEN:-}"
if [[ -z "$wasm_bindgen" ]]; then
    if command -v wasm-bindgen >/dev/null 2>&1; then
        wasm_bindgen="$(command -v wasm-bindgen)"
    elif [[ -x "$HOME/.cargo/bin/wasm-bindgen" ]]; then
        wasm_bindgen="$HOME/.cargo/bin/wasm-bindgen"
    else
        echo "build-ui.sh: wasm-bindgen not found; install it with" >&2
        echo "  cargo install wasm-bindgen-cli --version 0.2.130" >&2
        exit 1
    fi
fi

# The CLI must match the wasm-bindgen crate in Cargo.lock exactly.
locked="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
cli="$("$wasm_bindgen" --version | awk '{ print $2 }')"
if [[ -n "$locked" && "$cli" != "$locked" ]]; then
    echo "build-ui.sh: wasm-bindgen CLI is $cli but Cargo.lock has $locked" >&2
    exit 1
fi

cargo build -p parley-ui --target wasm32-unknown-unknown ${cargo_flags[@]+"${cargo_flags[@]}"}

wasm="$target_dir/wasm32-unknown-unknown/$profile/parley_ui.wasm"
if [[ ! -f "$wasm" ]]; then
    echo "build-ui.sh: expected $wasm after the build" >&2
    exit 1
fi

dist="$root/dist"
mkdir -p "$dist"
rm -f "$dist"/parley_ui.js "$dist"/parley_ui_bg.wasm "$dist"/index.html "$dist"/main.js "$dist"/styles.css
"$wasm_bindgen" --target web --no-typescript --out-dir "$dist" --out-name parley_ui "$wasm"
cp ui/index.html ui/main.js ui/styles.css "$dist/"

echo "build-ui.sh: wrote $dist ($profile)"
