// LocalNodeTest: a fixture for tests of the node worker's parts on real components — a file pool
// ("default") in a temporary directory, a metadata directory, a real single-node replication
// service ("n1") and an export registry. Derived fixtures destroy what uses them first, then
// call LocalNodeTest::TearDown().
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "tandem/devices/provider_factory.h"
#include "tandem/nbd/static_export_registry.h"
#include "tandem/node/reconciler.h"
#include "tandem/replication/replication_service.h"

namespace tandem::node {

class LocalNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-node-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/pool");
    std::filesystem::create_directories(metadataDir());
    devices::PoolConfig config;
    config.provider = "file";
    config.path = dir_ + "/pool";
    auto provider = devices::makeProvider(config);
    ASSERT_TRUE(provider.isOk()) << provider.status().toString();
    pools_["default"] = Pool{"default", std::move(provider).value()};
    replication::ServiceOptions options;
    options.node_name = "n1";
    auto engine = replication::ReplicationService::start(options, RealClock::instance());
    ASSERT_TRUE(engine.isOk()) << engine.status().toString();
    engine_ = std::move(engine).value();
  }
  void TearDown() override {
    if (engine_) engine_->stop();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string metadataDir() const { return dir_ + "/meta"; }
  bool backingExists(const std::string& uuid) { return pools_["default"].provider->info(uuid).isOk(); }

  std::string dir_;
  std::map<std::string, Pool> pools_;
  std::unique_ptr<replication::ReplicationService> engine_;
  nbd::StaticExportRegistry exports_;
};

}  // namespace tandem::node
