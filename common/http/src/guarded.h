// Runs a callback body so that no exception escapes into Asio: anything thrown is logged
// under component "http" and swallowed. Used at every completion-handler boundary.
#pragma once

#include <exception>
#include <string>

#include "tandem/common/log.h"

namespace tandem::http {

template <typename F>
void guarded(const char* what, F&& body) noexcept {
  try {
    body();
  } catch (const std::exception& e) {
    try {
      log::error("http", std::string(what) + ": unexpected exception: " + e.what());
    } catch (...) {
    }
  } catch (...) {
    try {
      log::error("http", std::string(what) + ": unexpected non-standard exception");
    } catch (...) {
    }
  }
}

}  // namespace tandem::http
