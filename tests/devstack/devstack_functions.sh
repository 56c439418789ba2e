# shellcheck shell=bash
# Small stand-ins for the devstack functions the Tandem plugin uses (devstack's documented plugin
# interface: functions-common and inc/ini-config), so the plugin's phases run for real on a
# machine without devstack. Processes started by run_process are real; their PIDs live in
# $SERVICE_DIR/<service>.pid and their output in $LOGDIR/<service>.log.

: "${SERVICE_DIR:?}" "${LOGDIR:?}" "${HARNESS_LOG:?}"
ENABLED_SERVICES=${ENABLED_SERVICES:-}

function define_plugin { echo "define_plugin $*" >>"$HARNESS_LOG"; }
function plugin_requires { :; }

function enable_service {
    local s
    for s in "$@"; do
        if [[ ",$ENABLED_SERVICES," != *",$s,"* ]]; then
            ENABLED_SERVICES="${ENABLED_SERVICES:+$ENABLED_SERVICES,}$s"
        fi
    done
}

function is_service_enabled {
    local s
    for s in "$@"; do
        [[ ",$ENABLED_SERVICES," == *",$s,"* ]] && return 0
    done
    return 1
}

function echo_summary { echo "summary: $*"; }

function die {
    local line=$1
    shift
    echo "die (line $line): $*" >&2
    exit 1
}

# Packages come from script/deps in this harness: only record what was asked.
function install_package { echo "install_package $*" >>"$HARNESS_LOG"; }
function pip_install { echo "pip_install $*" >>"$HARNESS_LOG"; }

# iniset FILE SECTION OPTION VALUE / iniget FILE SECTION OPTION, with Python's configparser.
function iniset {
    /usr/bin/python3 - "$@" <<'PY'
import configparser, os, sys
path, section, option, value = sys.argv[1:5]
c = configparser.RawConfigParser(interpolation=None)
c.optionxform = str
if os.path.exists(path):
    c.read(path)
if section != 'DEFAULT' and not c.has_section(section):
    c.add_section(section)
c.set(section, option, value)
with open(path, 'w') as f:
    c.write(f)
PY
}

function iniget {
    /usr/bin/python3 - "$@" <<'PY'
import configparser, sys
path, section, option = sys.argv[1:4]
c = configparser.RawConfigParser(interpolation=None)
c.optionxform = str
c.read(path)
print(c.get(section, option, fallback=''))
PY
}

# run_process SERVICE COMMAND: starts COMMAND in its own session when SERVICE is enabled.
function run_process {
    local service=$1 command=$2
    is_service_enabled "$service" || return 0
    mkdir -p "$SERVICE_DIR" "$LOGDIR"
    # shellcheck disable=SC2086 # the command line is split like devstack's does
    setsid $command >>"$LOGDIR/$service.log" 2>&1 </dev/null &
    echo $! >"$SERVICE_DIR/$service.pid"
    echo "run_process $service $command" >>"$HARNESS_LOG"
}

# stop_process SERVICE: SIGTERM to the service's process group, waits (30 s) for it to end.
function stop_process {
    local service=$1 pidfile="$SERVICE_DIR/$1.pid"
    [[ -f "$pidfile" ]] || return 0
    local pid
    pid=$(cat "$pidfile")
    kill -TERM -- "-$pid" 2>/dev/null
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            kill -KILL -- "-$pid" 2>/dev/null
            break
        fi
        sleep 0.1
    done
    rm -f "$pidfile"
    echo "stop_process $service" >>"$HARNESS_LOG"
}
