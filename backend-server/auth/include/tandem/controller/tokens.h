// Bearer tokens: random secrets, stored only as SHA-256 hashes, compared in constant time.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "tandem/common/status.h"

namespace tandem::controller {

// Fills `out` with `n` random bytes; false when no randomness is available.
using RandomFill = bool (*)(unsigned char* out, size_t n);
// OpenSSL's CSPRNG (RAND_bytes).
bool cryptoRandom(unsigned char* out, size_t n);

// 32 random bytes from `fill`, hex-encoded (64 characters). kInternal when `fill` fails: no
// randomness means no safe token.
Result<std::string> newToken(RandomFill fill = cryptoRandom);
// Lower-case hex SHA-256 of the token.
std::string hashToken(std::string_view token);
// Constant-time comparison (for equal lengths; different lengths compare unequal).
bool tokensEqual(std::string_view a, std::string_view b);

}  // namespace tandem::controller
