// Plain HTTP request/response values shared by the HTTPS server and client.
// No Beast types leak through this header: handlers are pure functions of these values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>

#include "tandem/common/status.h"

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

// One streamed request/response, driven by the handler from a thread of its own with blocking
// calls. Nothing is buffered whole: each call moves one piece between the handler and the
// socket and returns when the socket took it (back-pressure); each read or write has the
// server's I/O timeout. Every call fails (kUnavailable) once the connection is closed or the
// server stops. Not thread-safe: one handler thread uses it.
class StreamExchange {
 public:
  virtual ~StreamExchange() = default;
  // Reads the next bytes of the request body into `out`, filling it unless the body ends first:
  // how many, 0 at the end of the body (a call moves at most 256 KiB). The first read answers
  // "100 Continue" when the client asked for it.
  virtual Result<size_t> readBody(std::span<std::byte> out) = 0;
  // Sends a whole response and ends the exchange. When the request body was not read to its
  // end, the connection is closed after the response (after reading what the client still
  // sends, up to a bound, so it sees the answer).
  virtual Status respond(Response response) = 0;
  // Starts a streamed response: `head`'s status, content type and headers (its body is
  // ignored), with Content-Length `content_length`; the body follows through writeBody().
  virtual Status beginResponse(const Response& head, uint64_t content_length) = 0;
  // Sends the next piece of the response body; more bytes than announced: kInvalidArgument.
  virtual Status writeBody(std::span<const std::byte> data) = 0;
  // Ends a streamed response; fewer bytes than announced: kInvalidArgument, and the connection
  // is closed (the client sees a short body).
  virtual Status finish() = 0;
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual void handle(Request request, Responder respond) = 0;
  // Whether the request whose head this is (body still unread, `body` empty) is served by
  // handleStream(): its body is neither buffered nor limited in size. Called on an I/O thread:
  // must be quick and must not block. Default: no request streams.
  virtual bool streams(const Request& /*head*/) { return false; }
  // Serves a streamed request on a thread of its own (may block): answers through `exchange`
  // exactly once — respond(), or beginResponse()...finish(). Returning without answering gets a
  // 500 (or a closed connection after a begun response). Default: 500.
  virtual void handleStream(Request head, StreamExchange& exchange);
};

}  // namespace tandem::http
