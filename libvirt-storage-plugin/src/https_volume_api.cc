// The VolumeApi over HTTPS (tandem::http::HttpsClient) with the JSON codecs of tandem_json.
#include <charconv>
#include <mutex>

#include "tandem/http/https_client.h"
#include "tandem/json/object_reader.h"
#include "tandem/json/writer.h"
#include "tandem/poolfs/volume_api.h"

namespace tandem::poolfs {
namespace {

using json::ObjectReader;

Status errorFrom(const http::Response& response, const std::string& what) {
  std::string message = what + ": HTTP " + std::to_string(response.status);
  std::string reason;
  auto doc = json::parseObject(response.body);
  if (doc.isOk() && doc->HasMember("error") && (*doc)["error"].IsObject()) {
    const auto& e = (*doc)["error"];
    if (e.HasMember("message") && e["message"].IsString()) message += ": " + std::string(e["message"].GetString());
    if (e.HasMember("code") && e["code"].IsString()) reason = e["code"].GetString();
  }
  ErrorCode code = ErrorCode::kUnavailable;
  switch (response.status) {
    case 400: code = ErrorCode::kInvalidArgument; break;
    case 401: code = ErrorCode::kUnauthenticated; break;
    case 403: code = ErrorCode::kPermissionDenied; break;
    case 404: code = ErrorCode::kNotFound; break;
    case 409: code = ErrorCode::kConflict; break;
    case 413: code = ErrorCode::kTooLarge; break;
    case 422: code = ErrorCode::kUnprocessable; break;
    default: break;
  }
  return Status(code, message).withReason(reason);
}

Result<VolumeView> decodeVolume(const rapidjson::Value& v) {
  ObjectReader r(v);
  VolumeView out;
  ASSIGN_OR_RETURN(out.name, r.requiredString("name"));
  ASSIGN_OR_RETURN(out.uuid, r.requiredString("uuid"));
  ASSIGN_OR_RETURN(out.resource_group, r.requiredString("resource_group"));
  ASSIGN_OR_RETURN(out.state, r.requiredString("state"));
  ASSIGN_OR_RETURN(out.size_bytes, r.requiredUint64("size_bytes"));
  ASSIGN_OR_RETURN(auto primary, r.optionalString("primary_node"));
  out.primary_node = primary.value_or("");
  ASSIGN_OR_RETURN(auto uri, r.optionalString("nbd_uri"));
  out.nbd_uri = uri.value_or("");
  ASSIGN_OR_RETURN(out.attached_hosts, r.optionalStringArray("attached_hosts"));
  ASSIGN_OR_RETURN(auto replicas, r.optionalObjectArray("replicas"));
  for (size_t i = 0; i < replicas.size(); ++i) {
    ObjectReader replica(*replicas[i], "replicas[" + std::to_string(i) + "].");
    ASSIGN_OR_RETURN(auto allocated, replica.optionalUint64("allocated_bytes"));
    ASSIGN_OR_RETURN(auto primary, replica.optionalBool("primary"));
    if (allocated && (primary.value_or(false) || !out.allocated_bytes)) out.allocated_bytes = *allocated;
  }
  return out;
}

Result<AttachmentView> decodeAttachment(const rapidjson::Value& v) {
  ObjectReader r(v);
  AttachmentView out;
  ASSIGN_OR_RETURN(out.host, r.requiredString("host"));
  ASSIGN_OR_RETURN(out.state, r.requiredString("state"));
  ASSIGN_OR_RETURN(auto reason, r.optionalString("reason"));
  out.reason = reason.value_or("");
  if (!v.HasMember("connection_info") || !v["connection_info"].IsObject()) return out;
  const auto& info = v["connection_info"];
  if (!info.HasMember("data") || !info["data"].IsObject()) return out;
  ObjectReader data(info["data"], "connection_info.data.");
  ASSIGN_OR_RETURN(auto socket, data.optionalString("socket"));
  ASSIGN_OR_RETURN(auto host, data.optionalString("host"));
  ASSIGN_OR_RETURN(auto port, data.optionalUint64("port"));
  ASSIGN_OR_RETURN(auto name, data.optionalString("export"));
  if (!name || name->empty()) return out;
  if (socket && !socket->empty()) {
    out.endpoint = attach::NbdEndpoint::unixSocket(*socket, *name);
  } else if (host && port && *port > 0 && *port < 65536) {
    out.endpoint = attach::NbdEndpoint::tcp(*host, static_cast<uint16_t>(*port), *name);
  }
  return out;
}

class HttpsVolumeApi final : public VolumeApi {
 public:
  HttpsVolumeApi(std::unique_ptr<http::HttpsClient> client, ApiOptions options)
      : client_(std::move(client)), options_(std::move(options)) {}

  Result<std::vector<VolumeView>> listVolumes() override {
    // GET /v1/volumes is paginated: follow `next` until the last page.
    std::vector<VolumeView> out;
    std::string after;
    while (true) {
      ASSIGN_OR_RETURN(auto doc, call("GET", "/v1/volumes?limit=1000" + (after.empty() ? "" : "&after=" + after), "",
                                      {200}, "list volumes"));
      ObjectReader r(doc);
      ASSIGN_OR_RETURN(auto items, r.optionalObjectArray("volumes"));
      for (const auto* item : items) {
        ASSIGN_OR_RETURN(auto v, decodeVolume(*item));
        out.push_back(std::move(v));
      }
      ASSIGN_OR_RETURN(auto next, r.optionalString("next"));
      if (!next || next->empty()) return out;
      if (*next <= after) return Status(ErrorCode::kProtocol, "list volumes: the page cursor does not move on");
      after = *next;  // a volume name: [A-Za-z0-9_.-], nothing to escape
    }
  }

  Result<VolumeView> getVolume(const std::string& name) override {
    ASSIGN_OR_RETURN(auto doc, call("GET", "/v1/volumes/" + name, "", {200}, "get volume " + name));
    return decodeVolume(doc);
  }

  Result<VolumeView> createVolume(const std::string& name, const std::string& group, uint64_t size) override {
    json::JsonWriter w;
    w.beginObject().field("name", name).field("resource_group", group).field("size_bytes", size).endObject();
    ASSIGN_OR_RETURN(auto doc, call("POST", "/v1/volumes", w.str(), {200, 201}, "create volume " + name));
    return decodeVolume(doc);
  }

  Result<VolumeView> growVolume(const std::string& name, uint64_t size) override {
    json::JsonWriter w;
    w.beginObject().field("size_bytes", size).endObject();
    ASSIGN_OR_RETURN(auto doc, call("PATCH", "/v1/volumes/" + name, w.str(), {200}, "grow volume " + name));
    return decodeVolume(doc);
  }

  Status deleteVolume(const std::string& name) override {
    return call("DELETE", "/v1/volumes/" + name, "", {204}, "delete volume " + name).status();
  }

  Result<GroupView> getGroup(const std::string& name) override {
    ASSIGN_OR_RETURN(auto doc, call("GET", "/v1/resource-groups/" + name, "", {200}, "get resource group " + name));
    ObjectReader r(doc);
    GroupView out;
    ASSIGN_OR_RETURN(out.name, r.requiredString("name"));
    ASSIGN_OR_RETURN(out.replicas, r.requiredUint64("replicas"));
    ASSIGN_OR_RETURN(auto thin, r.optionalBool("thin"));
    out.thin = thin.value_or(false);
    ASSIGN_OR_RETURN(out.pools, r.optionalStringArray("pools"));
    return out;
  }

  Result<std::vector<StoragePoolView>> listStoragePools() override {
    ASSIGN_OR_RETURN(auto doc, call("GET", "/v1/storage-pools", "", {200}, "list storage pools"));
    ObjectReader r(doc);
    ASSIGN_OR_RETURN(auto items, r.optionalObjectArray("storage_pools"));
    std::vector<StoragePoolView> out;
    for (const auto* item : items) {
      ObjectReader p(*item);
      StoragePoolView v;
      ASSIGN_OR_RETURN(v.node, p.requiredString("node"));
      ASSIGN_OR_RETURN(v.name, p.requiredString("name"));
      ASSIGN_OR_RETURN(v.state, p.requiredString("state"));
      ASSIGN_OR_RETURN(v.total_bytes, p.requiredUint64("total_bytes"));
      ASSIGN_OR_RETURN(v.free_bytes, p.requiredUint64("free_bytes"));
      out.push_back(std::move(v));
    }
    return out;
  }

  Result<AttachmentView> attach(const std::string& volume, const std::string& host, bool move_primary) override {
    json::JsonWriter w;
    w.beginObject().field("host", host).field("mode", "nbd");
    if (move_primary) w.field("move_primary", true);
    w.endObject();
    ASSIGN_OR_RETURN(auto doc, call("POST", "/v1/volumes/" + volume + "/attachments", w.str(), {200, 201},
                                    "attach volume " + volume + " on " + host));
    return decodeAttachment(doc);
  }

  Result<AttachmentView> getAttachment(const std::string& volume, const std::string& host) override {
    ASSIGN_OR_RETURN(auto doc, call("GET", "/v1/volumes/" + volume + "/attachments", "", {200},
                                    "list attachments of " + volume));
    ObjectReader r(doc);
    ASSIGN_OR_RETURN(auto items, r.optionalObjectArray("attachments"));
    for (const auto* item : items) {
      ASSIGN_OR_RETURN(auto a, decodeAttachment(*item));
      if (a.host == host) return a;
    }
    return Status(ErrorCode::kNotFound, "volume " + volume + " is not attached on " + host);
  }

  Status detach(const std::string& volume, const std::string& host) override {
    return call("DELETE", "/v1/volumes/" + volume + "/attachments/" + host, "", {204},
                "detach volume " + volume + " from " + host)
        .status();
  }

 private:
  Result<rapidjson::Document> call(const std::string& method, const std::string& target, const std::string& body,
                                   std::initializer_list<int> ok, const std::string& what) {
    std::map<std::string, std::string> headers{{"authorization", "Bearer " + options_.token}};
    if (!body.empty()) headers["content-type"] = "application/json";
    http::Response response;
    {
      std::lock_guard lock(mu_);
      ASSIGN_OR_RETURN(response, client_->request(method, target, body, headers, options_.timeout));
    }
    for (int status : ok) {
      if (response.status != status) continue;
      if (response.body.empty()) return rapidjson::Document();
      auto doc = json::parseObject(response.body);
      if (!doc.isOk()) return Status(ErrorCode::kProtocol, what + ": " + doc.status().message());
      return doc;
    }
    return errorFrom(response, what);
  }

  std::mutex mu_;
  std::unique_ptr<http::HttpsClient> client_;
  const ApiOptions options_;
};

}  // namespace

Result<std::unique_ptr<VolumeApi>> makeHttpsVolumeApi(const ApiOptions& options) {
  http::ClientOptions client_options;
  client_options.base_url = options.url;
  client_options.ca_file = options.ca_file;
  ASSIGN_OR_RETURN(auto client, http::HttpsClient::create(client_options));
  return std::unique_ptr<VolumeApi>(new HttpsVolumeApi(std::move(client), options));
}

Result<attach::NbdEndpoint> parseNbdUri(const std::string& uri) {
  constexpr std::string_view kScheme = "nbd://";
  auto bad = [&] { return Status(ErrorCode::kInvalidArgument, "not an nbd://host:port/export URI: '" + uri + "'"); };
  if (uri.rfind(kScheme, 0) != 0) return bad();
  std::string rest = uri.substr(kScheme.size());
  size_t slash = rest.find('/');
  size_t colon = rest.rfind(':', slash);
  if (slash == std::string::npos || colon == std::string::npos || slash + 1 >= rest.size()) return bad();
  unsigned port = 0;
  auto [end, ec] = std::from_chars(rest.data() + colon + 1, rest.data() + slash, port);
  if (ec != std::errc() || end != rest.data() + slash || port == 0 || port > 65535) return bad();
  return attach::NbdEndpoint::tcp(rest.substr(0, colon), static_cast<uint16_t>(port), rest.substr(slash + 1));
}

}  // namespace tandem::poolfs
