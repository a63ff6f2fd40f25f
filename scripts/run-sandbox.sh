#!/usr/bin/env bash
# Builds Parley and starts it in sandbox mode: with no Meta account connected,
# the app runs a simulated Graph API and relay in-process, and simulated
# customers start writing within seconds.
#
#   scripts/run-sandbox.sh [APP ARGS...]
#
# App arguments, for example:
#   --data-dir DIR             keep the profiles in DIR (also $PARLEY_DATA_DIR);
#                              default: the platform's data directory
#                              (~/.local/share/app.parley.desktop)
#   --demo-autochat-secs N     how often simulated customers write; 0 = never
#
# On a desktop the app uses your session and keyring as they are. Without a
# display or a session bus (ssh, containers) scripts/with-session.sh supplies
# Xvfb, a private D-Bus session, gnome-keyring and dunst, and says so; the
# profiles and that keyring then live in ~/.local/state/parley/session.
# If the data directory holds a connected Meta account, the app opens that
# instead; give the sandbox its own with --data-dir.
# The first run installs tools and compiles everything (long on 2 cores);
# later runs start in seconds. Honours CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

source scripts/setup.sh
scripts/build-ui.sh
# The same binaries `scripts/test.sh` builds, with the same features: there
# are no examples, but --examples makes cargo include dev-dependencies when it
# resolves features, as test.sh's build and `cargo test` do. Without it this
# build and the tests' would each compile the Tauri graph.
cargo build --workspace --bins --examples

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac

echo "run-sandbox.sh: starting $target_dir/debug/parley (Ctrl-C to stop)"
exec scripts/with-session.sh -- "$target_dir/debug/parley" "$@"
