#include "tandem/cli/volume_pages.h"

#include <gtest/gtest.h>

#include <vector>

namespace tandem::cli {
namespace {

// A controller with `names` volumes answering pages of `page` volumes (as the real one does).
class PagedVolumes final : public ApiTransport {
 public:
  PagedVolumes(std::vector<std::string> names, size_t page) : names_(std::move(names)), page_(page) {}
  Result<http::Response> call(const std::string& method, const std::string& target, const std::string&) override {
    targets.push_back(target);
    EXPECT_EQ(method, "GET");
    std::string after;
    if (auto at = target.find("after="); at != std::string::npos) after = target.substr(at + 6);
    std::string body = R"({"volumes":[)";
    size_t count = 0;
    std::string last;
    for (const auto& n : names_) {
      if (n <= after || count == page_) continue;
      body += std::string(count ? "," : "") + R"({"name":")" + n + R"("})";
      last = n;
      ++count;
    }
    body += "]";
    if (count == page_ && last != names_.back()) body += R"(,"next":")" + last + "\"";
    body += "}";
    return http::Response{200, "application/json", body, {}};
  }
  std::vector<std::string> targets;

 private:
  std::vector<std::string> names_;
  size_t page_;
};

TEST(VolumePages, FollowsEveryPage) {
  PagedVolumes api({"a", "b", "c", "d", "e"}, 2);
  auto all = listAllVolumes(api);
  ASSERT_TRUE(all.isOk()) << all.status().toString();
  EXPECT_EQ(all->status, 200);
  EXPECT_EQ(all->body, R"({"volumes":[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"d"},{"name":"e"}]})");
  ASSERT_EQ(api.targets.size(), 3u);
  EXPECT_EQ(api.targets[1], "/v1/volumes?limit=1000&after=b");
  EXPECT_EQ(api.targets[2], "/v1/volumes?limit=1000&after=d");
}

TEST(VolumePages, OnePageAndErrors) {
  PagedVolumes api({}, 2);
  auto none = listAllVolumes(api);
  ASSERT_TRUE(none.isOk());
  EXPECT_EQ(none->body, R"({"volumes":[]})");

  class Refusing final : public ApiTransport {
   public:
    Result<http::Response> call(const std::string&, const std::string&, const std::string&) override {
      return http::Response{403, "application/json", R"({"error":{"code":"permission_denied"}})", {}};
    }
  } refusing;
  auto refused = listAllVolumes(refusing);
  ASSERT_TRUE(refused.isOk());
  EXPECT_EQ(refused->status, 403) << "an error answer is returned as it is";

  class Stuck final : public ApiTransport {
   public:
    Result<http::Response> call(const std::string&, const std::string&, const std::string&) override {
      return http::Response{200, "application/json", R"({"volumes":[],"next":""})", {}};
    }
  } stuck;
  EXPECT_EQ(listAllVolumes(stuck).status().code(), ErrorCode::kProtocol);
}

}  // namespace
}  // namespace tandem::cli
