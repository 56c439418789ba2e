#include "tandem/http/https_server.h"

#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "guarded.h"
#include "server_session.h"
#include "tandem/common/log.h"
#include "tls_context.h"

namespace tandem::http {
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view kComponent = "http";
// How long stop() lets sessions close gracefully before stopping the I/O threads outright.
constexpr std::chrono::seconds kStopGrace{2};

class HttpsServerImpl final : public HttpsServer {
 public:
  HttpsServerImpl(const ServerOptions& options, Handler& handler,
                  std::unique_ptr<net::ssl::context> tls)
      : options_(options),
        tls_(std::move(tls)),
        ioc_(std::max(1, options.threads)),
        work_(net::make_work_guard(ioc_)),
        acceptor_(net::make_strand(ioc_)),
        state_(std::make_shared<ServerState>(handler, options.body_limit_bytes, options.body_limits_by_prefix,
                                             options.io_timeout)) {}

  ~HttpsServerImpl() override { stop(); }

  Status listen() {
    boost::system::error_code ec;
    auto address = net::ip::make_address(options_.bind_address, ec);
    if (ec) {
      return Status(ErrorCode::kInvalidArgument,
                    "bad bind address '" + options_.bind_address + "': " + ec.message());
    }
    tcp::endpoint endpoint(address, options_.port);
    std::string where = options_.bind_address + ":" + std::to_string(options_.port);
    if (acceptor_.open(endpoint.protocol(), ec); ec) {
      return Status(ErrorCode::kIo, "open socket for " + where + ": " + ec.message());
    }
    if (acceptor_.set_option(net::socket_base::reuse_address(true), ec); ec) {
      return Status(ErrorCode::kIo, "SO_REUSEADDR on " + where + ": " + ec.message());
    }
    if (acceptor_.bind(endpoint, ec); ec) {
      return Status(ErrorCode::kIo, "bind " + where + ": " + ec.message());
    }
    if (acceptor_.listen(net::socket_base::max_listen_connections, ec); ec) {
      return Status(ErrorCode::kIo, "listen on " + where + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint(ec).port();
    if (ec) return Status(ErrorCode::kIo, "read back the port of " + where + ": " + ec.message());
    return Status::ok();
  }

  void run() {
    accept();
    int n = std::max(1, options_.threads);
    threads_.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this] {
        for (;;) {
          try {
            ioc_.run();
            return;
          } catch (const std::exception& e) {
            log::error(kComponent, std::string("I/O thread: unexpected exception: ") + e.what());
          } catch (...) {
            log::error(kComponent, "I/O thread: unexpected non-standard exception");
          }
        }
      });
    }
  }

  uint16_t port() const override { return port_; }

  void stop() override {
    std::lock_guard<std::mutex> stop_lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;

    std::vector<std::shared_ptr<Session>> sessions;
    std::unordered_map<const Session*, std::shared_ptr<Session>> awaiting;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->stopping = true;
      for (auto& [key, weak] : state_->live) {
        if (auto s = weak.lock()) sessions.push_back(std::move(s));
      }
      awaiting.swap(state_->awaiting);
      // Streamed exchanges' handler threads wake up with an error from any wait on the socket.
      for (auto& [key, weak] : state_->streams) {
        if (auto cancel = weak.lock()) cancel->cancel();
      }
    }
    net::post(acceptor_.get_executor(), [this] {
      guarded("close acceptor", [&] {
        boost::system::error_code ec;
        acceptor_.close(ec);
      });
    });
    for (auto& s : sessions) {
      net::post(s->executor(), [s] { guarded("close session", [&] { s->close(); }); });
    }
    sessions.clear();
    awaiting.clear();  // the posted closes hold what is still needed
    {
      std::unique_lock<std::mutex> lock(state_->mu);
      state_->sessions_gone.wait_for(lock, kStopGrace, [&] { return state_->live.empty(); });
    }
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    // The Handler must outlive every thread that calls it.
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->streams_gone.wait(lock, [&] { return state_->stream_threads == 0; });
  }

 private:
  void accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](boost::system::error_code ec,
                                                          tcp::socket socket) {
      guarded("accept", [&] { onAccept(ec, std::move(socket)); });
    });
  }

  void onAccept(boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      log::warn(kComponent, "accept: " + ec.message());
    } else {
      // Responses go out as several TLS records; with Nagle's algorithm the later ones would
      // wait for the client's delayed ACK (40 ms on Linux) on every kept-alive request.
      boost::system::error_code nodelay_ec;
      socket.set_option(tcp::no_delay(true), nodelay_ec);  // best effort
      std::make_shared<Session>(std::move(socket), *tls_, state_)->start();
    }
    accept();
  }

  const ServerOptions options_;
  // Declared before the io_context: sessions destroyed with it still use the TLS context.
  std::unique_ptr<net::ssl::context> tls_;
  net::io_context ioc_;
  // Keeps the I/O threads running until stop() has closed every session (a session waiting
  // for its Handler has no pending operation, so the io_context could otherwise run dry).
  net::executor_work_guard<net::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  std::shared_ptr<ServerState> state_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<HttpsServer>> HttpsServer::start(const ServerOptions& options,
                                                        Handler& handler) {
  ASSIGN_OR_RETURN(auto tls, makeServerTlsContext(options.certificate_file, options.private_key_file));
  auto server = std::make_unique<HttpsServerImpl>(options, handler, std::move(tls));
  RETURN_IF_ERROR(server->listen());
  server->run();
  log::info(kComponent, "listening on https://" + options.bind_address + ":" +
                            std::to_string(server->port()));
  return std::unique_ptr<HttpsServer>(std::move(server));
}

}  // namespace tandem::http
