#include "server_session.h"

#include <algorithm>
#include <limits>
#include <atomic>
#include <cctype>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "guarded.h"
#include "json_error_body.h"
#include "tandem/common/log.h"
#include "tandem/http/url.h"

namespace tandem::http {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;

namespace {

constexpr std::string_view kComponent = "http";

// The Responder's state: answers at most once, and answers 500 if the Handler drops the
// Responder without calling it (so the client is never left hanging).
class PendingReply {
 public:
  PendingReply(std::shared_ptr<ServerState> state, std::weak_ptr<Session> session)
      : state_(std::move(state)), session_(std::move(session)) {}
  PendingReply(const PendingReply&) = delete;
  PendingReply& operator=(const PendingReply&) = delete;

  ~PendingReply() {
    if (answered_.load()) return;
    guarded("dropped responder", [&] {
      Response r;
      r.status = 500;
      r.body = jsonErrorBody("internal", "the request handler did not answer");
      answer(std::move(r));
    });
  }

  void answer(Response response) {
    if (answered_.exchange(true)) {
      log::warn(kComponent, "a Responder was called more than once; extra response ignored");
      return;
    }
    std::shared_ptr<Session> session;  // destroyed after the lock is released
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->stopping) return;
    session = session_.lock();
    if (!session) return;
    net::post(session->executor(), [session, r = std::move(response)]() mutable {
      guarded("deliver response", [&] { session->deliver(std::move(r)); });
    });
  }

 private:
  std::shared_ptr<ServerState> state_;
  std::weak_ptr<Session> session_;
  std::atomic<bool> answered_{false};
};

std::string toLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool isHttpParseError(const beast::error_code& ec) {
  return ec.category() == beast::error_code(bhttp::error::bad_method).category();
}

bool statusHasNoBody(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

}  // namespace

Session::Session(net::ip::tcp::socket&& socket, net::ssl::context& tls,
                 std::shared_ptr<ServerState> state)
    : stream_(std::move(socket), tls), state_(std::move(state)) {
  beast::error_code ec;
  auto endpoint = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
  if (!ec) remote_address_ = endpoint.address().to_string();
}

Session::~Session() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->live.erase(this);
  state_->sessions_gone.notify_all();
}

void Session::start() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->stopping) return;
    state_->live.emplace(this, weak_from_this());
  }
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    guarded("start session", [&] {
      beast::get_lowest_layer(self->stream_).expires_after(self->state_->io_timeout);
      self->stream_.async_handshake(net::ssl::stream_base::server, [self](beast::error_code ec) {
        guarded("TLS handshake", [&] { self->onHandshake(ec); });
      });
    });
  });
}

void Session::close() {
  closed_ = true;
  if (stream_cancel_) stream_cancel_->cancel();
  beast::get_lowest_layer(stream_).close();
}

void Session::onHandshake(beast::error_code ec) {
  if (ec) {
    log::debug(kComponent, "TLS handshake with " + remote_address_ + " failed: " + ec.message());
    close();
    return;
  }
  readRequest();
}

void Session::readRequest() {
  if (closed_) return;
  header_parser_.emplace();
  // The body limit depends on the route (streamed routes have none): checked in onHeader. Not
  // boost::none: Boost 1.74 compares a Content-Length with it as "greater than none" (refused).
  header_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  beast::get_lowest_layer(stream_).expires_after(state_->io_timeout);
  bhttp::async_read_header(stream_, buffer_, *header_parser_,
                           [self = shared_from_this()](beast::error_code ec, size_t) {
                             guarded("read request header", [&] { self->onHeader(ec); });
                           });
}

bool Session::endsOnReadError(beast::error_code ec) {
  if (!ec) return false;
  if (ec == bhttp::error::end_of_stream) {
    shutdown();
  } else if (ec == bhttp::error::body_limit) {
    refuseBody(body_limit_);
  } else if (isHttpParseError(ec) && ec != bhttp::error::partial_message) {
    sendTransportError(400, "bad_request", "malformed HTTP request: " + ec.message());
  } else {
    log::debug(kComponent, "read from " + remote_address_ + ": " + ec.message());
    close();
  }
  return true;
}

void Session::refuseBody(size_t limit) {
  const std::string what = parser_ ? std::string(parser_->get().method_string()) + " " + std::string(parser_->get().target())
                           : header_parser_ ? std::string(header_parser_->get().method_string()) + " " +
                                                  std::string(header_parser_->get().target())
                                            : std::string("a request");
  const std::string line = "refused " + what + " from " + remote_address_ + ": its body exceeds " +
                           std::to_string(limit) + " bytes (413 body_too_large)";
  // A route with its own limit carries state that grows with the cluster: refusing it is an
  // operator's problem, not a client's mistake.
  if (limit != state_->body_limit) {
    log::error(kComponent, line);
  } else {
    log::warn(kComponent, line);
  }
  drain_after_write_ = true;
  drain_budget_ = 64ull << 20;
  sendTransportError(413, "body_too_large", "request body exceeds " + std::to_string(limit) + " bytes");
}

void Session::onHeader(beast::error_code ec) {
  if (closed_ || endsOnReadError(ec)) return;
  const auto& message = header_parser_->get();
  request_version_ = message.version();
  request_keep_alive_ = message.keep_alive();
  Request head;
  if (!describe(message, head)) return;
  bool streamed = false;
  try {
    streamed = state_->handler.streams(head);
  } catch (const std::exception& e) {
    log::error(kComponent, std::string("Handler::streams threw: ") + e.what());
  }
  if (streamed) {
    dispatchStream(std::move(head));
    return;
  }
  body_limit_ = state_->bodyLimitFor(message.target());
  auto length = header_parser_->content_length();
  if (length && *length > body_limit_) return refuseBody(body_limit_);
  parser_.emplace(std::move(*header_parser_));
  header_parser_.reset();
  parser_->body_limit(body_limit_);
  beast::get_lowest_layer(stream_).expires_after(state_->io_timeout);
  bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
    guarded("read request", [&] { self->onRead(ec); });
  });
}

void Session::onRead(beast::error_code ec) {
  if (closed_ || endsOnReadError(ec)) return;
  dispatchToHandler();
}

template <typename Message>
bool Session::describe(const Message& message, Request& request) {
  request.method = std::string(message.method_string());
  request.remote_address = remote_address_;
  std::string_view target = message.target();
  size_t question = target.find('?');
  auto path = percentDecode(target.substr(0, question), false);
  if (!path.isOk()) {
    sendTransportError(400, "bad_request", path.status().message());
    return false;
  }
  request.path = std::move(path).value();
  if (question != std::string_view::npos) {
    auto query = parseQuery(target.substr(question + 1));
    if (!query.isOk()) {
      sendTransportError(400, "bad_request", query.status().message());
      return false;
    }
    request.query = std::move(query).value();
  }
  for (const auto& field : message) {
    std::string name = toLower(field.name_string());
    auto [it, inserted] = request.headers.emplace(name, std::string(field.value()));
    if (!inserted) it->second += ", " + std::string(field.value());
  }
  return true;
}

void Session::dispatchToHandler() {
  auto message = parser_->release();
  parser_.reset();
  Request request;
  if (!describe(message, request)) return;
  request.body = std::move(message.body());

  // No timeout while the Handler works: a long-poll may take as long as it likes.
  beast::get_lowest_layer(stream_).expires_never();
  auto self = shared_from_this();
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->stopping) return;
    state_->awaiting.emplace(this, self);
  }
  auto reply = std::make_shared<PendingReply>(state_, weak_from_this());
  Responder responder = [reply](Response response) { reply->answer(std::move(response)); };
  try {
    state_->handler.handle(std::move(request), std::move(responder));
  } catch (const std::exception& e) {
    log::error(kComponent, std::string("request handler threw: ") + e.what());
    Response r;
    r.status = 500;
    r.body = jsonErrorBody("internal", "internal error");
    reply->answer(std::move(r));
  }
}

void Session::releaseAwaiting() {
  std::shared_ptr<Session> pinned;  // released after the lock
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->awaiting.find(this);
  if (it != state_->awaiting.end()) {
    pinned = std::move(it->second);
    state_->awaiting.erase(it);
  }
}

void Session::deliver(Response response) {
  auto self = shared_from_this();  // releaseAwaiting() may drop the last other reference
  releaseAwaiting();
  if (closed_) return;
  prepareResponse(std::move(response));
  write(request_keep_alive_);
}

void Session::prepareResponse(Response response) {
  response_ = {};
  response_.version(request_version_);
  response_.result(static_cast<unsigned>(response.status));
  response_.set(bhttp::field::server, "tandem");
  if (!statusHasNoBody(response.status)) {
    response_.set(bhttp::field::content_type, response.content_type);
    response_.body() = std::move(response.body);
  }
  for (const auto& [name, value] : response.headers) response_.set(name, value);
}

void Session::sendTransportError(int status, std::string_view code, const std::string& message) {
  log::debug(kComponent, "answering " + std::to_string(status) + " to " + remote_address_ + ": " +
                             message);
  response_ = {};
  response_.version(request_version_);
  response_.result(static_cast<unsigned>(status));
  response_.set(bhttp::field::server, "tandem");
  response_.set(bhttp::field::content_type, "application/json");
  response_.body() = jsonErrorBody(code, message);
  write(false);  // the rest of the request is unread: close after answering
}

void Session::write(bool keep_alive) {
  response_.keep_alive(keep_alive);
  response_.prepare_payload();
  beast::get_lowest_layer(stream_).expires_after(state_->io_timeout);
  bhttp::async_write(stream_, response_,
                     [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                       guarded("write response", [&] { self->onWrite(keep_alive, ec); });
                     });
}

void Session::onWrite(bool keep_alive, beast::error_code ec) {
  if (closed_) return;
  if (ec) {
    log::debug(kComponent, "write to " + remote_address_ + ": " + ec.message());
    close();
    return;
  }
  if (!keep_alive) {
    if (drain_after_write_) {
      drainThenShutdown();
    } else {
      shutdown();
    }
    return;
  }
  readRequest();
}

void Session::drainThenShutdown() {
  if (closed_) return;
  if (drain_budget_ == 0) {
    shutdown();
    return;
  }
  beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
  stream_.async_read_some(net::buffer(drain_buffer_), [self = shared_from_this()](beast::error_code ec, size_t n) {
    guarded("drain request", [&] {
      if (ec) {
        self->close();
        return;
      }
      self->drain_budget_ -= std::min<uint64_t>(self->drain_budget_, n);
      self->drainThenShutdown();
    });
  });
}

void Session::shutdown() {
  if (closed_) return;
  beast::get_lowest_layer(stream_).expires_after(state_->io_timeout);
  stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
    guarded("TLS shutdown", [&] { self->close(); });
  });
}

}  // namespace tandem::http
