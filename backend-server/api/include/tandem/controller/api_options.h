// Settings of the controller's REST API (ApiRouter).
#pragma once

#include <chrono>
#include <string>

namespace tandem::controller {

struct ApiOptions {
  std::string admin_token;                          // full access
  std::chrono::milliseconds long_poll_max{30000};   // cap of ?wait= on the desired-state poll
  std::string version = "0.1.0";
  std::string service_token{};                      // volumes, read pools/groups (Cinder, libvirt); empty: none
  std::string join_token{};                         // node registration only; empty: none
};

}  // namespace tandem::controller
