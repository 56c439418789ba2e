// Streamed exchanges of a Session (Handler::streams/handleStream): the socket steps, run on the
// session's strand, and SessionStream, the StreamExchange a handler thread drives with blocking
// calls. Each call copies its bytes into a buffer the step owns (a cancelled call returns while
// the socket operation may still complete), posts the step and waits on the exchange's
// StreamCancel until the step is done or the connection/server goes away.
#include <limits>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "guarded.h"
#include "json_error_body.h"
#include "server_session.h"
#include "tandem/common/log.h"

namespace tandem::http {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;

namespace {

constexpr std::string_view kComponent = "http";
constexpr size_t kPieceBytes = 256 * 1024;  // largest piece one read or write moves

class SessionStream final : public StreamExchange {
 public:
  SessionStream(std::shared_ptr<Session> session, std::shared_ptr<StreamCancel> cancel)
      : session_(std::move(session)), cancel_(std::move(cancel)) {}

  Result<size_t> readBody(std::span<std::byte> out) override {
    if (answered_) return Status(ErrorCode::kConflict, "the exchange was answered");
    auto buffer = std::make_shared<std::vector<std::byte>>(std::min(out.size(), kPieceBytes));
    ASSIGN_OR_RETURN(size_t n, run([session = session_, buffer](Session::Done done) {
                       session->streamRead(buffer, std::move(done));
                     }));
    std::copy(buffer->begin(), buffer->begin() + static_cast<std::ptrdiff_t>(n), out.begin());
    return n;
  }

  Status respond(Response response) override {
    if (answered_ || begun_) return Status(ErrorCode::kConflict, "the exchange was answered");
    answered_ = true;
    return run([session = session_, response = std::move(response)](Session::Done done) mutable {
             session->streamRespond(std::move(response), std::move(done));
           })
        .status();
  }

  Status beginResponse(const Response& head, uint64_t content_length) override {
    if (answered_ || begun_) return Status(ErrorCode::kConflict, "the exchange was answered");
    begun_ = true;
    remaining_ = content_length;
    return run([session = session_, head, content_length](Session::Done done) {
             session->streamBegin(head, content_length, std::move(done));
           })
        .status();
  }

  Status writeBody(std::span<const std::byte> data) override {
    if (!begun_ || answered_) return Status(ErrorCode::kConflict, "no streamed response in progress");
    if (data.size() > remaining_) {
      return Status(ErrorCode::kInvalidArgument, "more response bytes than the announced Content-Length");
    }
    while (!data.empty()) {
      size_t n = std::min(data.size(), kPieceBytes);
      auto piece = std::make_shared<std::vector<std::byte>>(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
      RETURN_IF_ERROR(run([session = session_, piece](Session::Done done) {
                        session->streamWrite(piece, std::move(done));
                      }).status());
      remaining_ -= n;
      data = data.subspan(n);
    }
    return Status::ok();
  }

  Status finish() override {
    if (!begun_ || answered_) return Status(ErrorCode::kConflict, "no streamed response in progress");
    if (remaining_ != 0) {
      return Status(ErrorCode::kInvalidArgument,
                    std::to_string(remaining_) + " announced response bytes were never written");
    }
    answered_ = true;
    return run([session = session_](Session::Done done) { session->streamFinish(std::move(done)); }).status();
  }

  // After the handler returned: a 500 if it never answered, a closed connection if it left a
  // streamed response unfinished.
  void end() {
    if (answered_) return;
    if (!begun_) {
      Response r;
      r.status = 500;
      r.body = jsonErrorBody("internal", "the request handler did not answer");
      (void)respond(std::move(r));
      return;
    }
    answered_ = true;
    auto session = session_;
    net::post(session->executor(), [session] { guarded("abort stream", [&] { session->streamAbort(); }); });
  }

 private:
  // Posts `start` onto the strand and waits for its Done: the byte count, or kUnavailable when
  // the socket failed, the connection closed or the server stopped. `start` may run after this
  // returns (cancelled): it must own what it uses (capture by value, never `this`).
  template <typename Start>
  Result<size_t> run(Start start) {
    struct Outcome {
      bool done = false;
      beast::error_code ec;
      size_t bytes = 0;
    };
    auto outcome = std::make_shared<Outcome>();
    auto cancel = cancel_;
    Session::Done done = [outcome, cancel](beast::error_code ec, size_t bytes) {
      cancel->complete([&] {
        outcome->done = true;
        outcome->ec = ec;
        outcome->bytes = bytes;
      });
    };
    net::post(session_->executor(), [start = std::move(start), done = std::move(done)]() mutable {
      guarded("stream step", [&] { start(std::move(done)); });
    });
    if (!cancel_->wait([&] { return outcome->done; })) {
      return Status(ErrorCode::kUnavailable, "the connection closed");
    }
    if (outcome->ec) return Status(ErrorCode::kUnavailable, "connection: " + outcome->ec.message());
    return outcome->bytes;
  }

  std::shared_ptr<Session> session_;
  std::shared_ptr<StreamCancel> cancel_;
  bool answered_ = false;
  bool begun_ = false;
  uint64_t remaining_ = 0;
};

}  // namespace

void Handler::handleStream(Request /*head*/, StreamExchange& exchange) {
  Response r;
  r.status = 500;
  r.body = jsonErrorBody("internal", "this route does not stream");
  (void)exchange.respond(std::move(r));
}

void Session::dispatchStream(Request head) {
  stream_parser_.emplace(std::move(*header_parser_));
  header_parser_.reset();
  stream_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());  // not boost::none (see readRequest)
  stream_response_.reset();
  stream_serializer_.reset();
  expect_continue_ = beast::iequals(stream_parser_->get()[bhttp::field::expect], "100-continue");
  continue_sent_ = false;
  stream_cancel_ = std::make_shared<StreamCancel>();
  beast::get_lowest_layer(stream_).expires_never();
  auto self = shared_from_this();
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->stopping) return;
    state_->awaiting.emplace(this, self);
    state_->streams.emplace(stream_cancel_.get(), stream_cancel_);
    ++state_->stream_threads;
  }
  auto exchange = std::make_shared<SessionStream>(self, stream_cancel_);
  std::thread([state = state_, exchange, cancel = stream_cancel_, head = std::move(head)]() mutable {
    guarded("stream handler", [&] {
      state->handler.handleStream(std::move(head), *exchange);
      exchange->end();
    });
    exchange.reset();  // drops this thread's reference to the session
    std::lock_guard<std::mutex> lock(state->mu);
    state->streams.erase(cancel.get());
    --state->stream_threads;
    state->streams_gone.notify_all();
  }).detach();
}

void Session::streamRead(std::shared_ptr<std::vector<std::byte>> buffer, Done done) {
  if (closed_) return done(net::error::operation_aborted, 0);
  if (stream_parser_->is_done()) return done({}, 0);
  if (expect_continue_ && !continue_sent_) {
    continue_sent_ = true;
    continue_response_ = {};
    continue_response_.version(request_version_);
    continue_response_.result(bhttp::status::continue_);
    beast::get_lowest_layer(stream_).expires_after(state_->io_timeout);
    bhttp::async_write(stream_, continue_response_,
                       [self = shared_from_this(), buffer, done = std::move(done)](beast::error_code ec, size_t) mutable {
                         guarded("write 100 Continue", [&] {
                           if (ec) return done(ec, 0);
                           self->readStreamPiece(std::move(buffer), std::move(done));
                         });
                       });
    return;
  }
  readStreamPiece(std::move(buffer), std::move(done));
}

void Session::readStreamPiece(std::shared_ptr<std::vector<std::byte>> buffer, Done done) {
  if (closed_) return done(net::error::operation_aborted, 0);
  if (stream_parser_->is_done()) return done({}, 0);
  auto& body = stream_parser_->get().body();
  body.data = buffer->data();
  body.size = buffer->size();
  beast::get_lowest_layer(stream_).expires_after(state_->io_timeout);
  // The whole buffer (or the rest of the body) per hand-off: read_some would hand on one TLS
  // record (16 KiB) at a time, and the hand-offs, not the bytes, would set the pace.
  bhttp::async_read(stream_, buffer_, *stream_parser_,
                    [self = shared_from_this(), buffer, done = std::move(done)](beast::error_code ec, size_t) mutable {
                      guarded("read request body", [&] {
                        beast::get_lowest_layer(self->stream_).expires_never();
                        if (ec == bhttp::error::need_buffer) ec = {};
                        if (ec) return done(ec, 0);
                        size_t got = buffer->size() - self->stream_parser_->get().body().size;
                        // A piece that ended on a chunk boundary with nothing in it: read on.
                        if (got == 0 && !self->stream_parser_->is_done()) {
                          return self->readStreamPiece(std::move(buffer), std::move(done));
                        }
                        done({}, got);
                      });
                    });
}

void Session::streamRespond(Response response, Done done) {
  releaseAwaiting();
  if (closed_) return done(net::error::operation_aborted, 0);
  const bool body_read = stream_parser_->is_done();
  prepareResponse(std::move(response));
  if (!body_read) {
    // The client may still be sending the body it was not asked for (no 100 Continue): read
    // and drop a bounded amount so it sees this answer rather than a reset.
    drain_after_write_ = !expect_continue_ || continue_sent_;
    drain_budget_ = 64ull << 20;
  }
  write(request_keep_alive_ && body_read);
  done({}, 0);
}

void Session::streamBegin(Response head, uint64_t content_length, Done done) {
  if (closed_) return done(net::error::operation_aborted, 0);
  stream_response_.emplace();
  auto& res = *stream_response_;
  res.version(request_version_);
  res.result(static_cast<unsigned>(head.status));
  res.set(bhttp::field::server, "tandem");
  res.set(bhttp::field::content_type, head.content_type);
  for (const auto& [name, value] : head.headers) res.set(name, value);
  res.content_length(content_length);
  res.keep_alive(request_keep_alive_ && stream_parser_->is_done());
  res.body().data = nullptr;
  res.body().size = 0;
  res.body().more = true;
  stream_serializer_.emplace(res);
  beast::get_lowest_layer(stream_).expires_after(state_->io_timeout);
  bhttp::async_write_header(stream_, *stream_serializer_,
                            [self = shared_from_this(), done = std::move(done)](beast::error_code ec, size_t) mutable {
                              guarded("write response header", [&] {
                                beast::get_lowest_layer(self->stream_).expires_never();
                                done(ec, 0);
                              });
                            });
}

void Session::streamWrite(std::shared_ptr<std::vector<std::byte>> data, Done done) {
  if (closed_) return done(net::error::operation_aborted, 0);
  auto& body = stream_response_->body();
  body.data = data->data();
  body.size = data->size();
  body.more = true;
  beast::get_lowest_layer(stream_).expires_after(state_->io_timeout);
  bhttp::async_write(stream_, *stream_serializer_,
                     [self = shared_from_this(), data, done = std::move(done)](beast::error_code ec, size_t) mutable {
                       guarded("write response body", [&] {
                         beast::get_lowest_layer(self->stream_).expires_never();
                         if (ec == bhttp::error::need_buffer) ec = {};
                         done(ec, data->size());
                       });
                     });
}

void Session::streamFinish(Done done) {
  if (closed_) return done(net::error::operation_aborted, 0);
  auto& body = stream_response_->body();
  body.data = nullptr;
  body.size = 0;
  body.more = false;
  const bool keep_alive = stream_response_->keep_alive();
  beast::get_lowest_layer(stream_).expires_after(state_->io_timeout);
  bhttp::async_write(stream_, *stream_serializer_,
                     [self = shared_from_this(), keep_alive, done = std::move(done)](beast::error_code ec, size_t) mutable {
                       guarded("finish response", [&] {
                         self->releaseAwaiting();
                         done(ec, 0);
                         self->onWrite(keep_alive, ec);
                       });
                     });
}

void Session::streamAbort() {
  releaseAwaiting();
  log::debug(kComponent, "streamed response to " + remote_address_ + " ended short; closing");
  close();
}

}  // namespace tandem::http
