// AttrStore: the owner, group and mode of each volume's file, which the controller does not
// keep (libvirt chowns a disk to the qemu user before starting a domain). Kept in one file,
// `<state-dir>/attrs-<group>`, one line per volume: "<uuid> <mode octal> <uid> <gid>", keyed by
// the volume's uuid so that a volume deleted and created again under the same name starts
// afresh. Every change rewrites the file atomically (temporary file, fsync, rename).
// Not thread-safe: the caller serialises.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>

#include "tandem/common/status.h"

namespace tandem::poolfs {

struct FileAttrs {
  mode_t mode = 0600;  // permission bits only
  uid_t uid = 0;
  gid_t gid = 0;
  bool operator==(const FileAttrs&) const = default;
};

class AttrStore {
 public:
  explicit AttrStore(std::string path) : path_(std::move(path)) {}
  // Reads the file (absent: empty); kInvalidArgument naming the line when it is malformed.
  Status load();
  // The stored attributes, or `fallback` when the volume has none.
  FileAttrs get(const std::string& uuid, const FileAttrs& fallback) const;
  Status set(const std::string& uuid, const FileAttrs& attrs);
  Status erase(const std::string& uuid);
  const std::string& path() const { return path_; }

 private:
  Status save() const;
  const std::string path_;
  std::map<std::string, FileAttrs> attrs_;
};

}  // namespace tandem::poolfs
