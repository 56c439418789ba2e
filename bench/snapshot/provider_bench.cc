// tandem-provider-bench: a small CLI over the file storage provider, for benchmarks.
//   tandem-provider-bench <pool-dir> create <volume> <bytes> [thin|thick]
//   tandem-provider-bench <pool-dir> fill <volume> <bytes> [every-nth-MiB]
//       writes <bytes> of non-zero data in 1 MiB blocks, one block every n MiB (default 1)
//   tandem-provider-bench <pool-dir> snapshot <volume> <snapshot>
//       prints "<seconds> <method>" where method is reflink or copy (per the pool's capabilities)
//   tandem-provider-bench <pool-dir> list
// Exit code 0 on success, 1 on a provider error (printed to stderr), 2 on bad usage.
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tandem/common/clock.h"
#include "tandem/devices/provider_factory.h"

namespace {

using tandem::Status;
using namespace tandem::devices;

int usage() {
  std::fprintf(stderr,
               "usage: tandem-provider-bench <pool-dir> create <volume> <bytes> [thin|thick]\n"
               "       tandem-provider-bench <pool-dir> fill <volume> <bytes> [every-nth-MiB]\n"
               "       tandem-provider-bench <pool-dir> snapshot <volume> <snapshot>\n"
               "       tandem-provider-bench <pool-dir> list\n");
  return 2;
}

bool parseU64(const char* s, uint64_t* out) {
  const char* end = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, end, *out);
  return ec == std::errc() && p == end && p != s;
}

int fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.toString().c_str());
  return 1;
}

int fill(StorageProvider& provider, const std::string& volume, uint64_t bytes, uint64_t every) {
  auto dev = provider.open(volume);
  if (!dev.isOk()) return fail(dev.status());
  constexpr uint64_t kMiB = 1 << 20;
  std::vector<std::byte> block(kMiB);
  uint64_t written = 0;
  for (uint64_t off = 0; written < bytes && off + kMiB <= (*dev)->sizeBytes(); off += every * kMiB) {
    for (size_t i = 0; i < block.size(); i += 8) {
      uint64_t v = (off + i) * 0x9E3779B97F4A7C15ull | 1;
      std::memcpy(&block[i], &v, 8);
    }
    Status s = (*dev)->write(off, block, false);
    if (!s.isOk()) return fail(s);
    written += kMiB;
  }
  Status s = (*dev)->flush();
  if (!s.isOk()) return fail(s);
  std::printf("%llu\n", static_cast<unsigned long long>(written));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  PoolConfig config;
  config.provider = "file";
  config.path = argv[1];
  auto made = makeProvider(config);
  if (!made.isOk()) return fail(made.status());
  StorageProvider& provider = **made;
  const std::string cmd = argv[2];

  if (cmd == "create" && (argc == 5 || argc == 6)) {
    uint64_t bytes = 0;
    if (!parseU64(argv[4], &bytes)) return usage();
    Provisioning p =
        (argc == 6 && std::string(argv[5]) == "thick") ? Provisioning::kThick : Provisioning::kThin;
    Status s = provider.create(argv[3], bytes, p);
    return s.isOk() ? 0 : fail(s);
  }
  if (cmd == "fill" && (argc == 5 || argc == 6)) {
    uint64_t bytes = 0, every = 1;
    if (!parseU64(argv[4], &bytes) || (argc == 6 && (!parseU64(argv[5], &every) || every == 0)))
      return usage();
    return fill(provider, argv[3], bytes, every);
  }
  if (cmd == "snapshot" && argc == 5) {
    const tandem::Clock& clock = tandem::RealClock::instance();
    auto start = clock.steadyNow();
    Status s = provider.snapshot(argv[3], argv[4], {});
    std::chrono::duration<double> took = clock.steadyNow() - start;
    if (!s.isOk()) return fail(s);
    std::printf("%.3f %s\n", took.count(), provider.capabilities().reflink ? "reflink" : "copy");
    return 0;
  }
  if (cmd == "list" && argc == 3) {
    auto list = provider.list();
    if (!list.isOk()) return fail(list.status());
    for (const auto& v : *list) {
      std::printf("%s%s%s size=%llu allocated=%llu\n", v.is_snapshot ? v.parent.c_str() : "",
                  v.is_snapshot ? "@" : "", v.name.c_str(), static_cast<unsigned long long>(v.size_bytes),
                  static_cast<unsigned long long>(v.allocated_bytes));
    }
    return 0;
  }
  return usage();
}
