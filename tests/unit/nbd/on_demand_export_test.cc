// An export whose device is opened only while clients use it (SharedDeviceOpener through
// StaticExportRegistry::addOnDemand): the device is opened by the first client's GO, shared by
// every later client, and closed when the last client leaves (docs/drbd.md, NBD mode). Checked
// through the real server and sockets, on a real file whose open descriptors are counted in
// /proc/self/fd.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "nbd_test_client.h"
#include "tandem/devices/file_block_device.h"
#include "tandem/devices/memory_block_device.h"
#include "tandem/nbd/nbd_server.h"
#include "tandem/nbd/shared_device_opener.h"
#include "tandem/nbd/static_export_registry.h"

namespace tandem::nbd {
namespace {

using testing::TestNbdClient;
constexpr uint64_t kSize = 1 << 20;

// How many of this process's descriptors are open on `path`.
int openDescriptors(const std::string& path) {
  int n = 0;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(fd.path(), ec);
    if (!ec && target == path) ++n;
  }
  return n;
}

// Waits (with a deadline) until `condition` holds.
template <typename F>
bool eventually(F condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(SharedDeviceOpener, OpensOnFirstAcquireAndClosesAfterTheLastHolder) {
  std::atomic<int> opens{0};
  SharedDeviceOpener opener([&]() -> Result<std::unique_ptr<devices::BlockDevice>> {
    ++opens;
    return std::unique_ptr<devices::BlockDevice>(std::make_unique<devices::MemoryBlockDevice>(4096));
  });
  EXPECT_FALSE(opener.isOpen());
  EXPECT_EQ(opens, 0);
  auto first = opener.acquire();
  ASSERT_TRUE(first.isOk());
  auto second = opener.acquire();
  ASSERT_TRUE(second.isOk());
  EXPECT_EQ(*first, *second);  // one device, shared
  EXPECT_EQ(opens, 1);
  first = Status(ErrorCode::kInternal, "dropped");
  EXPECT_TRUE(opener.isOpen());  // the second holder keeps it
  second = Status(ErrorCode::kInternal, "dropped");
  EXPECT_FALSE(opener.isOpen());
  auto again = opener.acquire();
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(opens, 2);  // opened anew
}

TEST(SharedDeviceOpener, AFailedOpenIsReturnedAndTriedAgainNextTime) {
  int calls = 0;
  SharedDeviceOpener opener([&]() -> Result<std::unique_ptr<devices::BlockDevice>> {
    if (++calls == 1) return Status(ErrorCode::kUnavailable, "Wrong medium type");
    return std::unique_ptr<devices::BlockDevice>(std::make_unique<devices::MemoryBlockDevice>(4096));
  });
  auto failed = opener.acquire();
  EXPECT_EQ(failed.status().code(), ErrorCode::kUnavailable);
  EXPECT_FALSE(opener.isOpen());
  EXPECT_TRUE(opener.acquire().isOk());
  EXPECT_EQ(calls, 2);
}

class OnDemandExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-nbd-ondemand-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/device";
    std::filesystem::resize_file((std::ofstream(path_), path_), kSize);
    opener_ = std::make_shared<SharedDeviceOpener>([this]() -> Result<std::unique_ptr<devices::BlockDevice>> {
      ++opens_;
      ASSIGN_OR_RETURN(auto device, devices::FileBlockDevice::open(path_));
      return std::unique_ptr<devices::BlockDevice>(std::move(device));
    });
    registry_.addOnDemand("res", opener_);
    auto server = NbdServer::start(ServerOptions{}, registry_);
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_ = std::move(server).value();
  }
  void TearDown() override {
    if (server_) server_->stop();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<TestNbdClient> go() {
    auto client = TestNbdClient::connectTcp(server_->tcpPort());
    if (!client || !client->handshake().isOk()) return nullptr;
    auto reply = client->infoOrGo(OptionType::kGo, "res");
    if (!reply.isOk() || reply->final_reply != ReplyType::kAck) return nullptr;
    return client;
  }

  std::string dir_, path_;
  std::atomic<int> opens_{0};
  std::shared_ptr<SharedDeviceOpener> opener_;
  StaticExportRegistry registry_;
  std::unique_ptr<NbdServer> server_;
};

// Idle export: nothing open. First client: opened once. Second client: the same open device.
// The first leaving keeps it open; the last leaving closes it; a new client opens it again.
TEST_F(OnDemandExportTest, TheDeviceIsOpenExactlyWhileClientsAreConnected) {
  EXPECT_TRUE(registry_.contains("res"));  // listing and meta contexts do not open it
  EXPECT_EQ(registry_.names(), std::vector<std::string>{"res"});
  EXPECT_EQ(opens_, 0);
  EXPECT_EQ(openDescriptors(path_), 0);

  auto a = go();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(opens_, 1);
  EXPECT_EQ(openDescriptors(path_), 1);
  auto b = go();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(opens_, 1);
  EXPECT_EQ(openDescriptors(path_), 1);

  Bytes data(4096, std::byte{0x5a});
  ASSERT_EQ(b->call({0, Command::kWrite, 1, 8192, 4096}, data)->error, NbdError::kOk);
  Bytes read(4096);
  ASSERT_EQ(a->call({0, Command::kRead, 2, 8192, 4096}, {}, read)->error, NbdError::kOk);
  EXPECT_EQ(read, data);

  a.reset();  // the first client leaves
  ASSERT_TRUE(eventually([&] { return server_->connectionCount() == 1; }));
  EXPECT_TRUE(opener_->isOpen());
  EXPECT_EQ(openDescriptors(path_), 1);
  ASSERT_EQ(b->call({0, Command::kFlush, 3, 0, 0})->error, NbdError::kOk);

  b.reset();  // the last client leaves
  ASSERT_TRUE(eventually([&] { return openDescriptors(path_) == 0; })) << "the device stays open";
  EXPECT_FALSE(opener_->isOpen());

  auto c = go();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(opens_, 2);
  ASSERT_EQ(c->call({0, Command::kRead, 4, 8192, 4096}, {}, read)->error, NbdError::kOk);
  EXPECT_EQ(read, data);  // the data is in the file
}

// A device that cannot be opened (e.g. DRBD refusing to promote because another host is
// Primary) is reported to the client as an unknown export; nothing stays open.
TEST_F(OnDemandExportTest, AnExportWhoseDeviceCannotBeOpenedIsRefused) {
  std::filesystem::remove(path_);
  auto client = TestNbdClient::connectTcp(server_->tcpPort());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->handshake().isOk());
  auto reply = client->infoOrGo(OptionType::kGo, "res");
  ASSERT_TRUE(reply.isOk());
  EXPECT_EQ(reply->final_reply, ReplyType::kErrUnknown);
  EXPECT_FALSE(opener_->isOpen());
}

}  // namespace
}  // namespace tandem::nbd
