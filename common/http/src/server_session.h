// One TLS connection of HttpsServer: handshake, then read request → hand it to the Handler →
// write its response, repeated while the connection is kept alive. All socket work runs on
// the session's strand; the Handler's Responder may be called from any thread and posts back
// onto that strand. Reads and writes have a timeout (ServerOptions::io_timeout); the wait for
// the Handler has none (long-polls). Internal to tandem_http.
#pragma once

#include <array>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "tandem/http/message.h"

namespace tandem::http {

class Session;

// State shared by the server, its sessions and the Responders handed to the Handler (which
// may outlive the server). `mu` guards everything below it.
struct ServerState {
  ServerState(Handler& h, size_t limit, std::vector<std::pair<std::string, size_t>> limits_by_prefix,
              std::chrono::seconds timeout)
      : handler(h), body_limit(limit), body_limits_by_prefix(std::move(limits_by_prefix)), io_timeout(timeout) {}

  // The body limit of a request for `target` (see ServerOptions::body_limits_by_prefix).
  size_t bodyLimitFor(std::string_view target) const {
    for (const auto& [prefix, limit] : body_limits_by_prefix) {
      if (target.substr(0, prefix.size()) == prefix) return limit;
    }
    return body_limit;
  }

  Handler& handler;
  const size_t body_limit;
  const std::vector<std::pair<std::string, size_t>> body_limits_by_prefix;
  const std::chrono::seconds io_timeout;

  std::mutex mu;
  std::condition_variable sessions_gone;  // notified whenever a session is destroyed
  bool stopping = false;
  // Every session alive, to close them on stop().
  std::unordered_map<const Session*, std::weak_ptr<Session>> live;
  // Sessions waiting for their Handler: the Responder holds only a weak reference, so this
  // is what keeps such a session alive, and stop() can release it before the io_context dies.
  std::unordered_map<const Session*, std::shared_ptr<Session>> awaiting;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  Session(boost::asio::ip::tcp::socket&& socket, boost::asio::ssl::context& tls,
          std::shared_ptr<ServerState> state);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Registers with the server state and starts the TLS handshake (does nothing if the server
  // is stopping). Call once, from any thread.
  void start();
  // Closes the socket at once. Must run on the strand (post it).
  void close();
  // Sends the Handler's response. Must run on the strand (the Responder posts it).
  void deliver(Response response);

  boost::asio::any_io_executor executor() { return stream_.get_executor(); }

 private:
  void onHandshake(boost::beast::error_code ec);
  void readRequest();
  void onHeader(boost::beast::error_code ec);
  void onRead(boost::beast::error_code ec);
  // 413 for a body over `limit`, logged with the request line (then drains the upload).
  void refuseBody(size_t limit);
  void dispatchToHandler();
  void sendTransportError(int status, std::string_view code, const std::string& message);
  void write(bool keep_alive);
  void onWrite(bool keep_alive, boost::beast::error_code ec);
  void shutdown();
  // After an early error answer (413): read and discard what the client is still sending, up
  // to a bound, so it can finish its upload and read the answer instead of getting a reset.
  void drainThenShutdown();

  Stream stream_;
  std::shared_ptr<ServerState> state_;
  std::string remote_address_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  boost::beast::http::response<boost::beast::http::string_body> response_;
  unsigned request_version_ = 11;
  bool request_keep_alive_ = false;
  bool closed_ = false;
  bool drain_after_write_ = false;
  uint64_t drain_budget_ = 0;
  size_t body_limit_ = 0;  // the current request's
  std::array<char, 16384> drain_buffer_{};
};

}  // namespace tandem::http
