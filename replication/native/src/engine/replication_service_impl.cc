// The ReplicationService implementation: a listener thread, one thread per incoming replica
// session, and the volumes (each with its own peer links).
#include <condition_variable>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "engine/primary_device.h"
#include "engine/replica_session.h"
#include "engine/volume.h"
#include "metadata/replica_metadata.h"
#include "net/socket.h"
#include "tandem/common/log.h"
#include "tandem/replication/replication_service.h"

namespace tandem::replication {
namespace {

constexpr std::string_view kLog = "replication";

// Every field counts (quorum included) except new_device, which describes how the caller
// obtained the device, not the volume.
bool sameConfig(VolumeConfig a, VolumeConfig b) {
  a.new_device = b.new_device = false;
  return a == b;
}

class ReplicationServiceImpl final : public ReplicationService {
 public:
  ReplicationServiceImpl(const ServiceOptions& options, Clock& clock, std::unique_ptr<net::Listener> listener)
      : options_(options), clock_(clock), listener_(std::move(listener)), random_(std::random_device{}()) {}

  ~ReplicationServiceImpl() override { stop(); }

  void startAccepting() {
    accept_thread_ = std::thread([this] { acceptLoop(); });
  }

  uint16_t port() const override { return listener_->port(); }

  Status addVolume(const VolumeConfig& config, std::shared_ptr<devices::BlockDevice> local,
                   const std::string& metadata_path) override {
    std::lock_guard lock(mu_);
    if (stopped_) return Status(ErrorCode::kUnavailable, "replication service stopped");
    auto it = volumes_.find(config.volume_uuid);
    if (it != volumes_.end()) {
      if (sameConfig(it->second->config(), config)) return Status::ok();
      return Status(ErrorCode::kAlreadyExists,
                    "volume " + config.volume_uuid + " exists with another config");
    }
    VolumeEnv env;
    env.options = options_;
    env.clock = &clock_;
    env.new_generation = [this] { return newGeneration(); };
    env.on_change = [this] { notifyChange(); };
    ASSIGN_OR_RETURN(auto volume, Volume::open(config, std::move(local), metadata_path, std::move(env)));
    volumes_.emplace(config.volume_uuid, std::move(volume));
    metadata_paths_[metadata_path] = config.volume_uuid;
    notifyChange();
    return Status::ok();
  }

  Status updateVolume(const VolumeConfig& config) override {
    auto volume = find(config.volume_uuid);
    if (!volume) return Status(ErrorCode::kNotFound, "volume " + config.volume_uuid + " not found");
    return volume->update(config);
  }

  Status removeVolume(const std::string& volume_uuid) override {
    std::shared_ptr<Volume> volume;
    {
      std::lock_guard lock(mu_);
      auto it = volumes_.find(volume_uuid);
      if (it == volumes_.end()) return Status(ErrorCode::kNotFound, "volume " + volume_uuid + " not found");
      volume = std::move(it->second);
      volumes_.erase(it);
      std::erase_if(metadata_paths_, [&](const auto& kv) { return kv.second == volume_uuid; });
    }
    volume->close();
    notifyChange();
    return Status::ok();
  }

  Status deleteMetadata(const std::string& metadata_path) override {
    std::lock_guard lock(mu_);
    if (metadata_paths_.count(metadata_path)) {
      return Status(ErrorCode::kConflict, "metadata " + metadata_path + " belongs to a volume in use");
    }
    return removeMetadata(metadata_path);
  }

  Result<std::vector<std::string>> snapshotVolume(const std::string& volume_uuid,
                                                  const std::string& snapshot) override {
    auto volume = find(volume_uuid);
    if (!volume) return Status(ErrorCode::kNotFound, "volume " + volume_uuid + " is not held here");
    return volume->snapshot(snapshot);
  }

  std::shared_ptr<devices::BlockDevice> primaryDevice(const std::string& volume_uuid) override {
    auto volume = find(volume_uuid);
    if (!volume || !volume->config().primary) return nullptr;
    return std::make_shared<PrimaryDevice>(std::move(volume));
  }

  std::vector<VolumeStatus> status() override {
    std::vector<std::shared_ptr<Volume>> volumes;
    {
      std::lock_guard lock(mu_);
      for (auto& [uuid, v] : volumes_) volumes.push_back(v);
    }
    std::vector<VolumeStatus> out;
    for (auto& v : volumes) out.push_back(v->status());
    return out;
  }

  bool waitForStatus(const std::function<bool(const std::vector<VolumeStatus>&)>& predicate,
                     std::chrono::milliseconds timeout) override {
    const auto deadline = clock_.steadyNow() + timeout;
    while (true) {
      uint64_t seen;
      {
        std::lock_guard lock(change_mu_);
        seen = change_version_;
      }
      if (predicate(status())) return true;
      std::unique_lock lock(change_mu_);
      auto remaining = deadline - clock_.steadyNow();
      if (remaining <= std::chrono::nanoseconds(0)) return false;
      change_cv_.wait_for(lock, remaining, [&] { return change_version_ != seen; });
    }
  }

  void stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    listener_->close();
    if (accept_thread_.joinable()) accept_thread_.join();
    std::list<Session> sessions;
    std::map<std::string, std::shared_ptr<Volume>> volumes;
    {
      std::lock_guard lock(mu_);
      sessions.swap(sessions_);
      volumes.swap(volumes_);
      metadata_paths_.clear();
    }
    for (auto& s : sessions) s.session->shutdown();
    for (auto& s : sessions) s.thread.join();
    for (auto& [uuid, v] : volumes) v->close();
    notifyChange();
  }

 private:
  struct Session {
    std::unique_ptr<ReplicaSession> session;
    std::thread thread;
  };

  std::shared_ptr<Volume> find(const std::string& uuid) {
    std::lock_guard lock(mu_);
    auto it = volumes_.find(uuid);
    return it == volumes_.end() ? nullptr : it->second;
  }

  uint64_t newGeneration() {
    std::lock_guard lock(random_mu_);
    return random_();
  }

  void notifyChange() {
    {
      std::lock_guard lock(change_mu_);
      ++change_version_;
    }
    change_cv_.notify_all();
  }

  void acceptLoop() {
    while (true) {
      auto socket = listener_->accept();
      if (!socket.isOk()) {
        std::lock_guard lock(mu_);
        if (stopped_) return;
        log::warn(kLog, "accept: " + socket.status().toString());
        continue;
      }
      std::lock_guard lock(mu_);
      if (stopped_) return;
      reapFinishedLocked();
      auto session = std::make_unique<ReplicaSession>(
          *socket, [this](const std::string& uuid) { return find(uuid); }, options_.peer_timeout);
      ReplicaSession* raw = session.get();
      sessions_.push_back(Session{std::move(session), std::thread([raw] { raw->run(); })});
    }
  }

  void reapFinishedLocked() {
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it->session->finished()) {
        it->thread.join();
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }

  const ServiceOptions options_;
  Clock& clock_;
  std::unique_ptr<net::Listener> listener_;
  std::thread accept_thread_;

  std::mutex mu_;
  bool stopped_ = false;
  std::map<std::string, std::shared_ptr<Volume>> volumes_;
  std::map<std::string, std::string> metadata_paths_;  // metadata path -> volume uuid
  std::list<Session> sessions_;

  std::mutex random_mu_;
  std::mt19937_64 random_;

  std::mutex change_mu_;
  std::condition_variable change_cv_;
  uint64_t change_version_ = 0;
};

}  // namespace

Result<std::unique_ptr<ReplicationService>> ReplicationService::start(const ServiceOptions& options,
                                                                      Clock& clock) {
  if (options.node_name.empty()) return Status(ErrorCode::kInvalidArgument, "node_name is required");
  ASSIGN_OR_RETURN(auto listener, net::Listener::bind(options.bind_address, options.port));
  auto service = std::make_unique<ReplicationServiceImpl>(options, clock, std::move(listener));
  service->startAccepting();
  return std::unique_ptr<ReplicationService>(std::move(service));
}

}  // namespace tandem::replication
