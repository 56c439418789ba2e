// The events2 libFuzzer target (replication/drbd/fuzz/events2_fuzzer.cc) run as a plain test: g++
// has no libFuzzer, so this standalone driver feeds it the checked-in corpus
// (replication/drbd/fuzz/corpus: real line formats, malformed and truncated lines), every prefix
// of each file (truncated streams) and deterministic one-byte mutations. Under the test build's
// ASan/UBSan a crash or sanitizer report fails the test. The real fuzzer (clang) is documented in
// docs/drbd.md and in the target's source.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tandem/drbd/events2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace tandem::drbd {
namespace {

std::vector<std::pair<std::string, std::string>> corpus() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(TANDEM_SOURCE_DIR) + "/replication/drbd/fuzz/corpus")) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    out.emplace_back(entry.path().filename().string(), text.str());
  }
  return out;
}

int feed(const std::string& bytes) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// Every corpus file, whole and cut at every byte, and mutated at every byte: no crash.
TEST(DrbdEvents2FuzzCorpus, RunsTheCorpusTruncatedAndMutated) {
  auto files = corpus();
  ASSERT_GE(files.size(), 5u) << "the corpus is missing";
  size_t runs = 0;
  for (const auto& [name, bytes] : files) {
    SCOPED_TRACE(name);
    EXPECT_EQ(feed(bytes), 0);
    for (size_t cut = 0; cut < bytes.size(); ++cut, ++runs) feed(bytes.substr(0, cut));
    for (size_t i = 0; i < bytes.size(); ++i) {
      for (char c : {':', ' ', '\n', '>', '\0', '-'}) {
        std::string mutated = bytes;
        mutated[i] = c;
        feed(mutated);
        ++runs;
      }
    }
  }
  EXPECT_GT(runs, 10000u);
}

// The well-formed corpus files are real events2 lines: every line parses.
TEST(DrbdEvents2FuzzCorpus, WellFormedFilesParseCleanly) {
  for (const auto& [name, bytes] : corpus()) {
    if (name.rfind("malformed", 0) == 0) continue;
    std::istringstream lines(bytes);
    std::string line;
    while (std::getline(lines, line)) {
      EXPECT_TRUE(parseEvents2Line(line).isOk()) << name << ": " << line;
    }
  }
}

}  // namespace
}  // namespace tandem::drbd
