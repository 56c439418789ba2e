# shellcheck shell=bash
# Tandem devstack plugin: called as `source plugin.sh <mode> [phase]` by stack.sh, unstack.sh
# and clean.sh. The work is in lib/tandem.

TANDEM_PLUGIN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=devstack/lib/tandem
source "$TANDEM_PLUGIN_DIR/lib/tandem"

if is_service_enabled tandem-ctl || is_service_enabled tandem-node; then
    case "$1/${2:-}" in
        stack/pre-install)
            echo_summary "Installing Tandem's build and runtime packages"
            install_tandem_packages
            ;;
        stack/install)
            echo_summary "Building Tandem and installing its Cinder driver"
            install_tandem
            ;;
        stack/post-config)
            # Before Cinder's services start: cinder-volume checks the controller and the
            # default resource group when it starts.
            echo_summary "Configuring and starting Tandem"
            configure_tandem
            start_tandem
            init_tandem
            ;;
        stack/test-config)
            if is_service_enabled tempest; then
                echo_summary "Configuring Tempest for Tandem"
                configure_tempest_for_tandem
            fi
            ;;
        unstack/*)
            echo_summary "Stopping Tandem"
            stop_tandem
            ;;
        clean/*)
            echo_summary "Removing Tandem's state"
            cleanup_tandem
            ;;
    esac
fi
