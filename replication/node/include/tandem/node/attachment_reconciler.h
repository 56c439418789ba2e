// AttachmentReconciler: makes this host's local block devices (replication/attach) match the
// block attachments of its desired state. Level-triggered and idempotent like the Reconciler,
// which calls it after the replicas (so that an attachment on the primary's own node finds its
// export): every desired attachment is attached (LocalDeviceManager::attach is idempotent and
// retargets a device whose primary moved; a device smaller than its volume is grown first, once
// per worker confirmed so that an interrupted `losetup -c` is redone), every other device of the
// host is detached without
// force — a mounted or open device is kept and reported busy, so the controller can refuse
// the detach with device_busy.
//
// The devices live on the host (their FUSE servers are processes of their own): a restarted
// node worker adopts them (LocalDeviceManager::adopt, before the first apply) and its first
// apply finds them attached instead of making duplicates.
//
// Thread-safety: apply() and report() may be called from different threads (internal mutex).
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tandem/attach/local_device_manager.h"
#include "tandem/common/status.h"
#include "tandem/nodeapi/messages.h"

namespace tandem::node {

class AttachmentReconciler {
 public:
  // `nbd_socket`: this node's NBD UNIX socket, used for attachments whose primary is this node;
  // `link_root`: the manager's link root (reported, so the controller knows the paths early).
  AttachmentReconciler(attach::LocalDeviceManager& devices, std::string nbd_socket, std::string link_root = "");

  // Applies the desired attachments; devices named in `force_detach` are detached even while
  // open (never while mounted). Failures of one attachment do not stop the others; they are
  // kept and reported. Returns the first failure (a busy detach included), or OK.
  Status apply(const std::vector<nodeapi::DesiredAttachment>& desired,
               const std::vector<std::string>& force_detach = {});

  // One report per desired attachment (health read from the host now, and the last error) and
  // per other device the host holds (busy when its detach was refused), named by the uuid kept
  // with the device on the host: a restarted worker reports a busy device it never saw desired.
  std::vector<nodeapi::AttachmentReport> report();

  const std::string& nbdSocket() const { return nbd_socket_; }
  const std::string& linkRoot() const { return link_root_; }

 private:
  attach::LocalDeviceManager& devices_;
  const std::string nbd_socket_;
  const std::string link_root_;

  std::mutex mu_;
  std::map<std::string, nodeapi::DesiredAttachment> desired_;  // by volume name
  std::map<std::string, std::string> uuids_;                   // volume name -> uuid, as last desired
  std::map<std::string, std::string> errors_;                  // by volume name: last attach error
  std::map<std::string, std::string> busy_;                    // by volume name: why the detach was refused
  std::set<std::string> sized_;  // devices whose size (loop device included) this worker has confirmed
};

}  // namespace tandem::node
