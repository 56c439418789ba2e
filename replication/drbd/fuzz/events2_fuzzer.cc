// libFuzzer target for the events2 line parser and state fold (events2.h): any bytes, split into
// lines, are parsed and applied; the contract is no crash, no sanitizer report, and a state that
// can still be mapped onto a replica report. Built with clang when TANDEM_FUZZ is ON:
//   cmake -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DTANDEM_FUZZ=ON && ninja -C build/fuzz drbd_events2_fuzzer
//   build/fuzz/bin/drbd_events2_fuzzer -max_total_time=60 replication/drbd/fuzz/corpus
// Without clang, tests/unit/drbd/events2_fuzz_corpus_test.cc links this file into the unit tests
// and runs the corpus (whole, truncated, mutated) under ASan/UBSan in ctest.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tandem/drbd/events2.h"
#include "tandem/drbd/replica_report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  tandem::drbd::Events2State state;
  while (!input.empty()) {
    size_t nl = input.find('\n');
    std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
    auto event = tandem::drbd::parseEvents2Line(line);
    if (event.isOk()) (void)state.apply(*event);
  }
  for (const auto& [name, resource] : state.resources()) {
    (void)tandem::drbd::drbdReplicaReport(name, uint64_t{1} << 40, &resource);
  }
  return 0;
}
