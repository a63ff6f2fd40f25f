#!/usr/bin/env bash
# Runs a command with what the desktop app needs around it: an X display, a
# D-Bus session, an unlocked Secret Service (gnome-keyring) and a
# notification server (dunst).
#
#   scripts/with-session.sh [--fresh] [--] COMMAND [ARGS...]
#
# Default: use the desktop's display and session when they are usable and
# supply only what is missing:
#   - no DISPLAY or WAYLAND_DISPLAY: a virtual X server (xvfb-run, 1280x800);
#   - no session bus, or one without a Secret Service: a private D-Bus session
#     with its own gnome-keyring, unlocked with a throwaway password. That
#     keyring and XDG_DATA_HOME (so the app's data too) live in
#     $PARLEY_SESSION_DIR (default ~/.local/state/parley/session) and are kept,
#     so the database key survives a restart. The real keyring is not touched;
#   - no notification server on the bus: dunst, stopped again afterwards.
# --fresh: always a new Xvfb display, a new D-Bus session, a new keyring and
#   new XDG directories in a temporary directory that is deleted afterwards.
#   scripts/test.sh uses it: tests never see the user's display, keyring or
#   data, even on a desktop.
set -euo pipefail

self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
xvfb_args=(-a -s "-screen 0 1280x800x24")
# Guards a keyring that holds nothing but sandbox and test secrets.
keyring_password=pw

usage() {
    sed -n '2,20p' "$self" | sed 's/^# \{0,1\}//'
}

log() {
    echo "with-session.sh: $*" >&2
}

# Is NAME owned on the session bus?
bus_has() {
    local reply
    reply="$(dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus \
        /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner "string:$1" 2>/dev/null)" ||
        return 1
    [[ "$reply" == *true* ]]
}

# Wait up to ~10 s for NAME to appear on the session bus.
wait_for_name() {
    local i
    for ((i = 0; i < 100; i++)); do
        bus_has "$1" && return 0
        sleep 0.1
    done
    return 1
}

# The pid of NAME's owner on the session bus.
bus_pid() {
    local reply
    reply="$(dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus \
        /org/freedesktop/DBus org.freedesktop.DBus.GetConnectionUnixProcessID "string:$1" \
        2>/dev/null)" || return 0
    awk '{ print $2 }' <<<"$reply"
}

# Stop the keyring and dunst that stage two started (an EXIT trap).
# shellcheck disable=SC2317
stop_started() {
    local pid
    for pid in ${started_pids[@]+"${started_pids[@]}"}; do
        kill "$pid" 2>/dev/null || true
    done
}

# Stage two, inside the display and the session bus chosen by stage one:
#   --inner KEYRING(0|1) XVFB(0|1) -- COMMAND...
inner() {
    local start_keyring=$1 on_xvfb=$2
    shift 3
    started_pids=()
    trap stop_started EXIT

    if [[ "$start_keyring" == 1 ]]; then
        local out line pid
        out="$(printf '%s' "$keyring_password" |
            gnome-keyring-daemon --unlock --components=secrets)"
        while IFS= read -r line; do
            [[ "$line" =~ ^[A-Z_]+= ]] && export "${line?}"
        done <<<"$out"
        if ! wait_for_name org.freedesktop.secrets; then
            log "gnome-keyring did not register the Secret Service on the bus"
            exit 1
        fi
        pid="$(bus_pid org.freedesktop.secrets)"
        [[ -n "$pid" ]] && started_pids+=("$pid")
    fi

    if ! bus_has org.freedesktop.Notifications; then
        dunst >/dev/null 2>&1 &
        started_pids+=("$!")
        wait_for_name org.freedesktop.Notifications ||
            log "warning: dunst did not start; desktop notifications will fail"
    fi

    if [[ "$on_xvfb" == 1 ]]; then
        log "note: no display, so the window is on a virtual X server ($DISPLAY) and invisible."
        log "      screenshot: DISPLAY=$DISPLAY XAUTHORITY=${XAUTHORITY:-} import -window root shot.png"
    fi

    local status=0
    "$@" || status=$?
    exit "$status"
}

if [[ "${1:-}" == --inner ]]; then
    shift
    inner "$@"
fi

mode=auto
while (($#)); do
    case "$1" in
        --fresh)
            mode=fresh
            shift
            ;;
        --)
            shift
            break
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*)
            log "unknown option: $1"
            usage >&2
            exit 2
            ;;
        *) break ;;
    esac
done
if (($# == 0)); then
    usage >&2
    exit 2
fi

for tool in xvfb-run dbus-run-session dbus-send gnome-keyring-daemon dunst; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "$tool is missing; run scripts/setup.sh"
        exit 1
    fi
done

tmp=""
# shellcheck disable=SC2317  # an EXIT trap
cleanup() {
    if [[ -n "$tmp" ]]; then
        # xdg-document-portal, if the app woke it, mounts a FUSE file system
        # here; it goes away with the session, but may still be there now.
        if mountpoint -q "$tmp/run/doc" 2>/dev/null; then
            fusermount3 -u -z "$tmp/run/doc" 2>/dev/null || fusermount -u -z "$tmp/run/doc" 2>/dev/null || true
        fi
        rm -rf "$tmp" 2>/dev/null || true
    fi
}
trap cleanup EXIT

wrap=()
keyring=0
xvfb=0
if [[ "$mode" == fresh ]]; then
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/parley-session.XXXXXX")"
    mkdir -m 700 "$tmp/data" "$tmp/config" "$tmp/cache" "$tmp/state" "$tmp/run"
    export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" \
        XDG_CACHE_HOME="$tmp/cache" XDG_STATE_HOME="$tmp/state" XDG_RUNTIME_DIR="$tmp/run"
    unset DISPLAY WAYLAND_DISPLAY XAUTHORITY DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL
    # Xvfb only: a desktop's Wayland compositor is not the tests' to use.
    export GDK_BACKEND=x11
    wrap=(xvfb-run "${xvfb_args[@]}" dbus-run-session --)
    keyring=1
else
    if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
        wrap+=(xvfb-run "${xvfb_args[@]}")
        xvfb=1
    fi
    if [[ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]] || ! bus_has org.freedesktop.secrets; then
        state="${PARLEY_SESSION_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/parley/session}"
        mkdir -p "$state/data"
        chmod 700 "$state" "$state/data"
        # A private runtime dir: gnome-keyring's control socket must not meet
        # a daemon of the user's own login session.
        tmp="$(mktemp -d "${TMPDIR:-/tmp}/parley-session.XXXXXX")"
        export XDG_DATA_HOME="$state/data" XDG_RUNTIME_DIR="$tmp"
        unset DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL
        wrap+=(dbus-run-session --)
        keyring=1
        log "note: no usable D-Bus session with a Secret Service; using a private one."
        log "      Its keyring and the app's data are kept in $state"
    fi
fi

status=0
${wrap[@]+"${wrap[@]}"} "$self" --inner "$keyring" "$xvfb" -- "$@" || status=$?
exit "$status"
