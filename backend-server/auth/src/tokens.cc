#include "tandem/controller/tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace tandem::controller {
namespace {
std::string toHex(const unsigned char* data, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}
}  // namespace

bool cryptoRandom(unsigned char* out, size_t n) { return RAND_bytes(out, static_cast<int>(n)) == 1; }

Result<std::string> newToken(RandomFill fill) {
  unsigned char bytes[32];
  if (!fill(bytes, sizeof bytes)) {
    return Status(ErrorCode::kInternal, "no random bytes for a new token (the host's CSPRNG failed)");
  }
  return toHex(bytes, sizeof bytes);
}

std::string hashToken(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), digest, &len, EVP_sha256(), nullptr);
  return toHex(digest, len);
}

bool tokensEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tandem::controller
