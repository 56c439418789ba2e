// Bearer tokens: random secrets, stored only as SHA-256 hashes, compared in constant time.
#pragma once

#include <string>
#include <string_view>

namespace tandem::controller {

// 32 random bytes from OpenSSL's CSPRNG, hex-encoded (64 characters).
std::string newToken();
// Lower-case hex SHA-256 of the token.
std::string hashToken(std::string_view token);
// Constant-time comparison (for equal lengths; different lengths compare unequal).
bool tokensEqual(std::string_view a, std::string_view b);

}  // namespace tandem::controller
