// Small state files of the node worker (its identity, revert markers), replaced atomically:
// the text goes to `<path>.tmp`, is fsynced and renamed over `<path>`, then the directory is
// fsynced, so a crash leaves either the old file or the new one. Thread-safety: callers serialise
// writes of one path.
#pragma once

#include <string>

#include "tandem/common/status.h"

namespace tandem::node {

// Replaces `dir`/`name` with `text` (mode 0600).
Status writeFileAtomically(const std::string& dir, const std::string& name, const std::string& text);

}  // namespace tandem::node
