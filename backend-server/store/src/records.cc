#include "tandem/controller/records.h"

#include "tandem/common/name_table.h"

namespace tandem::controller {
namespace {

constexpr NameEntry<AttachMode> kAttachModes[] = {
    {AttachMode::kBlock, "block"},
    {AttachMode::kNbd, "nbd"},
};

}  // namespace

std::string_view name(AttachMode mode) { return nameIn(kAttachModes, mode); }
std::optional<AttachMode> parseAttachMode(std::string_view text) { return valueIn(kAttachModes, text); }

}  // namespace tandem::controller
