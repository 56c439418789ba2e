// Plain HTTP request/response values shared by the HTTPS server and client.
// No Beast types leak through this header: handlers are pure functions of these values.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace tandem::http {

struct Request {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // decoded path without the query: "/v1/volumes/v1"
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // header names lower-cased
  std::string body;
  std::string remote_address;                  // peer IP, for logs

  // The header value or "" when absent; `name` must be lower-case.
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;  // extra headers (e.g. "retry-after")
};

// Called exactly once per request, from any thread. Handlers that can answer at once call it
// before returning; a long-poll keeps it and calls it later.
using Responder = std::function<void(Response)>;

class Handler {
 public:
  virtual ~Handler() = default;
  virtual void handle(Request request, Responder respond) = 0;
};

}  // namespace tandem::http
