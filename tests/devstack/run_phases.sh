#!/usr/bin/env bash
# Runs the Tandem devstack plugin the way stack.sh / unstack.sh / clean.sh do, with
# devstack_functions.sh standing in for devstack. Usage: run_phases.sh stack|unstack|clean
# Needs the environment devstack would have (DEST, DATA_DIR, CINDER_CONF, TEMPEST_CONFIG,
# ENABLED_SERVICES, ...) plus SERVICE_DIR, LOGDIR and HARNESS_LOG for the harness.
set -eEuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugin_dir=$(cd "$here/../../devstack" && pwd)
# shellcheck source=tests/devstack/devstack_functions.sh
source "$here/devstack_functions.sh"
set +u  # devstack's own files run without nounset
# shellcheck source=devstack/settings
source "$plugin_dir/settings"
# shellcheck source=devstack/override-defaults
source "$plugin_dir/override-defaults"

case "$1" in
  stack)
    for phase in pre-install install; do
      # shellcheck source=devstack/plugin.sh
      source "$plugin_dir/plugin.sh" stack "$phase"
    done
    # What devstack's lib/cinder (configure_cinder) does for each backend it is given.
    for be in ${CINDER_ENABLED_BACKENDS//,/ }; do
      be_type=${be%%:*}
      be_name=${be##*:}
      if type "configure_cinder_backend_$be_type" >/dev/null 2>&1; then
        "configure_cinder_backend_$be_type" "$be_name"
      fi
    done
    names=()
    for be in ${CINDER_ENABLED_BACKENDS//,/ }; do names+=("${be##*:}"); done
    iniset "$CINDER_CONF" DEFAULT enabled_backends "$(IFS=,; echo "${names[*]}")"
    for phase in post-config extra test-config; do
      # shellcheck source=devstack/plugin.sh
      source "$plugin_dir/plugin.sh" stack "$phase"
    done
    ;;
  unstack|clean)
    # shellcheck source=devstack/plugin.sh
    source "$plugin_dir/plugin.sh" "$1"
    ;;
  *) echo "usage: $0 stack|unstack|clean" >&2; exit 2 ;;
esac
