# Sourced by the bench scripts: sets BIN to the Tandem binaries to measure.
# With an argument, BIN is that folder and must hold `needed` (the caller's list of programs);
# without one, BIN is build/release/bin, built with script/build release when a program is missing.
# Expects ROOT (the repository) to be set; installs the Debian packages of script/deps $DEPS_KIND.
release_bin() {
  local needed=("$@")
  BIN=$(realpath -m "${BENCH_BIN_ARG:-$ROOT/build/release/bin}")
  "$ROOT/script/deps" "${DEPS_KIND:-test}" >/dev/null
  local p
  for p in "${needed[@]}"; do
    if [[ ! -x $BIN/$p ]]; then
      if [[ -n ${BENCH_BIN_ARG:-} ]]; then echo "$(basename "$0"): no $p in $BIN" >&2; exit 2; fi
      "$ROOT/script/build" release
      return
    fi
  done
}
