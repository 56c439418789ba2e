#include "tandem/poolfs/attr_store.h"

#include <sstream>

#include "tandem/attach/attachment_files.h"

namespace tandem::poolfs {

Status AttrStore::load() {
  auto text = attach::readWholeFile(path_);
  if (!text.isOk()) return text.status().code() == ErrorCode::kNotFound ? Status::ok() : text.status();
  std::istringstream in(*text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string uuid;
    unsigned long mode = 0;
    unsigned long uid = 0, gid = 0;
    if (!(fields >> uuid >> std::oct >> mode >> std::dec >> uid >> gid) || mode > 07777) {
      return Status(ErrorCode::kInvalidArgument, path_ + ":" + std::to_string(number) + ": malformed line");
    }
    attrs_[uuid] = FileAttrs{static_cast<mode_t>(mode), static_cast<uid_t>(uid), static_cast<gid_t>(gid)};
  }
  return Status::ok();
}

FileAttrs AttrStore::get(const std::string& uuid, const FileAttrs& fallback) const {
  auto it = attrs_.find(uuid);
  return it == attrs_.end() ? fallback : it->second;
}

Status AttrStore::set(const std::string& uuid, const FileAttrs& attrs) {
  auto it = attrs_.find(uuid);
  if (it != attrs_.end() && it->second == attrs) return Status::ok();
  attrs_[uuid] = attrs;
  return save();
}

Status AttrStore::erase(const std::string& uuid) {
  if (attrs_.erase(uuid) == 0) return Status::ok();
  return save();
}

Status AttrStore::save() const {
  std::ostringstream out;
  for (const auto& [uuid, a] : attrs_) {
    out << uuid << ' ' << std::oct << a.mode << std::dec << ' ' << a.uid << ' ' << a.gid << '\n';
  }
  return attach::writeFileAtomically(path_, out.str());
}

}  // namespace tandem::poolfs
