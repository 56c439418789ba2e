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
#include <functional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "tandem/http/message.h"

namespace tandem::http {

class Session;
class StreamCancel;

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
  // Streamed exchanges (Handler::handleStream) whose thread is running, and their cancel
  // switches: stop() throws every switch, then waits until `stream_threads` is 0.
  std::unordered_map<const StreamCancel*, std::weak_ptr<StreamCancel>> streams;
  int stream_threads = 0;
  std::condition_variable streams_gone;  // notified when a stream thread ends
};

// A streamed exchange's cancel switch: thrown (once, for good) when its connection closes or the
// server stops; a handler thread waiting for the socket wakes up with an error.
class StreamCancel {
 public:
  void cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  // Waits until `done()` is true (checked under the switch's lock, so the completion must
  // notify() after changing what done() reads); false if cancelled first.
  template <typename Done>
  bool wait(Done done) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return cancelled_ || done(); });
    return !cancelled_ || done();
  }
  // Runs `change` under the switch's lock, then wakes the waiter.
  template <typename Change>
  void complete(Change change) {
    std::lock_guard<std::mutex> lock(mu_);
    change();
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
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

  // The steps of a streamed exchange (session_stream.cc drives them from the handler's thread).
  // Each runs on the strand and calls `done` on the strand when its socket work completed.
  using Done = std::function<void(boost::beast::error_code ec, size_t bytes)>;
  // Reads the next piece of the request body into `buffer` (answering 100 Continue first if
  // asked): bytes read, 0 at the end.
  void streamRead(std::shared_ptr<std::vector<std::byte>> buffer, Done done);
  // Writes a whole response; then serves the next request or closes (see StreamExchange).
  void streamRespond(Response response, Done done);
  // Writes a streamed response's header, one body piece, or its end.
  void streamBegin(Response head, uint64_t content_length, Done done);
  void streamWrite(std::shared_ptr<std::vector<std::byte>> data, Done done);
  void streamFinish(Done done);
  // The exchange is over without a proper end (a short body, a handler that never answered):
  // closes the connection.
  void streamAbort();

 private:
  void onHandshake(boost::beast::error_code ec);
  void readRequest();
  void onHeader(boost::beast::error_code ec);
  void onRead(boost::beast::error_code ec);
  // 413 for a body over `limit`, logged with the request line (then drains the upload).
  void refuseBody(size_t limit);
  // A failed read of a request: shuts down (end of stream), answers 413/400, or closes; true
  // when `ec` was an error (the request is over).
  bool endsOnReadError(boost::beast::error_code ec);
  // Fills response_ from `response` (no body or Content-Type for 1xx/204/304).
  void prepareResponse(Response response);
  // Fills `request` from a request head; false after answering 400.
  template <typename Message>
  bool describe(const Message& message, Request& request);
  void dispatchToHandler();
  void dispatchStream(Request head);
  void readStreamPiece(std::shared_ptr<std::vector<std::byte>> buffer, Done done);
  // The exchange ended (answered or aborted): the session no longer waits for its Handler.
  void releaseAwaiting();
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
  std::optional<boost::beast::http::request_parser<boost::beast::http::empty_body>> header_parser_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  // A streamed exchange: its body parser, its response and serializer, the 100-continue state.
  std::optional<boost::beast::http::request_parser<boost::beast::http::buffer_body>> stream_parser_;
  std::optional<boost::beast::http::response<boost::beast::http::buffer_body>> stream_response_;
  std::optional<boost::beast::http::response_serializer<boost::beast::http::buffer_body>> stream_serializer_;
  boost::beast::http::response<boost::beast::http::empty_body> continue_response_;
  std::shared_ptr<StreamCancel> stream_cancel_;
  bool expect_continue_ = false;
  bool continue_sent_ = false;
  boost::beast::http::response<boost::beast::http::string_body> response_;
  unsigned request_version_ = 11;
  bool request_keep_alive_ = false;
  bool closed_ = false;
  bool drain_after_write_ = false;
  uint64_t drain_budget_ = 0;
  size_t body_limit_ = 0;  // the current request's (ServerState::bodyLimitFor its target)
  std::array<char, 16384> drain_buffer_{};
};

}  // namespace tandem::http
