// The Boost.Asio driver: TCP and TLS links for the Transport, the io_context as the Executor, and
// a steady_timer that calls Client::on_tick() at its next deadline (at least once a second).
#include "pulsar/client/asio_client.hpp"

#include <deque>
#include <optional>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "net/asio_executor.hpp"
#include "net/openssl.hpp"

namespace mop::pulsar::client {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace ssl = asio::ssl;

// What the TLS links share: the context built from the ClientConfig, and whether the broker's
// certificate must name the host.
struct TlsSetup {
  std::shared_ptr<ssl::context> context;
  bool verify = true;           // off with tls_allow_insecure_connection
  bool verify_host = true;      // tls_hostname_verification
};

using net::openssl_errors;

Result<TlsSetup, Error> make_tls(const ClientConfig& c) {
  auto bad = [](const std::string& what) { return Error(ClientErrc::invalid_argument, "TLS: " + what + ": " + openssl_errors()); };
  TlsSetup t;
  t.context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* ctx = t.context->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (!c.tls_trust_certs_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, c.tls_trust_certs_file.c_str(), nullptr) != 1)
      return bad("cannot read the trusted CA file \"" + c.tls_trust_certs_file + "\"");
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return bad("cannot load the system's CA certificates");
  }
  if (c.tls_certificate_file.empty() != c.tls_key_file.empty())
    return Error(ClientErrc::invalid_argument, "TLS: a client certificate needs both tls_certificate_file and tls_key_file");
  if (!c.tls_certificate_file.empty()) {
    if (auto pair = net::use_key_pair(ctx, c.tls_certificate_file, c.tls_key_file); !pair.ok()) {
      switch (pair.error()) {
        case net::KeyPairError::certificate:
          return bad("cannot read the client certificate \"" + c.tls_certificate_file + "\"");
        case net::KeyPairError::key: return bad("cannot read the client key \"" + c.tls_key_file + "\"");
        case net::KeyPairError::mismatch: return bad("the client key does not match its certificate");
      }
    }
  }
  t.verify = !c.tls_allow_insecure_connection;
  t.verify_host = t.verify && c.tls_hostname_verification;
  t.context->set_verify_mode(t.verify ? ssl::verify_peer : ssl::verify_none);
  return t;
}

// One connection to a broker: a TCP socket, or TLS over one when `tls` is given.
class AsioLink final : public Link, public std::enable_shared_from_this<AsioLink> {
public:
  AsioLink(asio::io_context& io, LinkHandler& handler, const TlsSetup* tls)
      : socket_(io), resolver_(io), handler_(&handler) {
    if (tls) {
      tls_.emplace(socket_, *tls->context);
      verify_host_ = tls->verify_host;
    }
  }

  void start(const std::string& host, std::uint16_t port) {
    if (tls_) {
      boost::system::error_code ec;
      asio::ip::make_address(host, ec);
      const bool literal = !ec;
      SSL* s = tls_->native_handle();
      // SNI names hosts, never addresses (RFC 6066). OpenSSL checks the name during the
      // certificate verification, so a mismatch reads "hostname mismatch" / "IP address mismatch".
      if (!literal) SSL_set_tlsext_host_name(s, host.c_str());
      if (verify_host_) {
        X509_VERIFY_PARAM* param = SSL_get0_param(s);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (literal) X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
        else X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
      }
    }
    auto self = shared_from_this();
    resolver_.async_resolve(host, std::to_string(port), [self](const boost::system::error_code& ec, tcp::resolver::results_type r) {
      if (!self->handler_) return;
      if (ec) return self->connected(ec);
      asio::async_connect(self->socket_, r, [self](const boost::system::error_code& e, const tcp::endpoint&) {
        if (e || !self->tls_ || !self->handler_) return self->connected(e);
        self->socket_.set_option(tcp::no_delay(true));
        self->tls_->async_handshake(ssl::stream_base::client, [self](const boost::system::error_code& h) {
          if (!h) return self->connected(h);
          if (!self->handler_) return;
          // Say why the handshake failed, the certificate check above all.
          std::string why = "TLS handshake: " + h.message();
          const long v = SSL_get_verify_result(self->tls_->native_handle());
          if (v != X509_V_OK) why += " (certificate: " + std::string(X509_verify_cert_error_string(v)) + ")";
          auto* handler = self->handler_;
          self->handler_ = nullptr;
          boost::system::error_code ignored;
          self->socket_.close(ignored);
          handler->on_connected(why);
        });
      });
    });
  }

  void write(std::string bytes) override {
    if (!handler_ || !open_) {
      if (handler_) pending_.push_back(std::move(bytes));  // before the connect finished
      return;
    }
    pending_.push_back(std::move(bytes));
    if (!writing_) write_next();
  }

  void close() override {
    handler_ = nullptr;
    boost::system::error_code ignored;
    resolver_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

private:
  void connected(const boost::system::error_code& ec) {
    if (!handler_) return;
    if (ec) {
      auto* h = handler_;
      handler_ = nullptr;
      h->on_connected(ec.message());
      return;
    }
    open_ = true;
    socket_.set_option(tcp::no_delay(true));
    handler_->on_connected("");
    if (!handler_) return;
    read();
    if (!pending_.empty() && !writing_) write_next();
  }

  // Runs fn with the stream bytes go through: the TLS stream or the socket.
  template <typename Fn>
  void with_stream(Fn&& fn) {
    if (tls_) fn(*tls_);
    else fn(socket_);
  }

  void read() {
    auto self = shared_from_this();
    with_stream([&](auto& s) {
      s.async_read_some(asio::buffer(buf_), [self](const boost::system::error_code& ec, std::size_t n) {
        if (!self->handler_) return;
        if (ec) return self->lost(ec == asio::error::eof || ec == ssl::error::stream_truncated ? "closed by the broker" : ec.message());
        self->handler_->on_bytes({self->buf_.data(), n});
        if (self->handler_) self->read();
      });
    });
  }

  void write_next() {
    // Everything queued goes in one gather write.
    writing_ = true;
    batch_.clear();
    batch_.swap(pending_);
    std::vector<asio::const_buffer> bufs;
    bufs.reserve(batch_.size());
    for (auto& b : batch_) bufs.emplace_back(b.data(), b.size());
    auto self = shared_from_this();
    with_stream([&](auto& s) {
      asio::async_write(s, bufs, [self](const boost::system::error_code& ec, std::size_t) {
        self->writing_ = false;
        if (!self->handler_) return;
        if (ec) return self->lost(ec.message());
        if (!self->pending_.empty()) self->write_next();
      });
    });
  }

  void lost(const std::string& why) {
    auto* h = handler_;
    handler_ = nullptr;
    boost::system::error_code ignored;
    socket_.close(ignored);
    h->on_closed(why);
  }

  tcp::socket socket_;
  std::optional<ssl::stream<tcp::socket&>> tls_;
  bool verify_host_ = false;
  tcp::resolver resolver_;
  LinkHandler* handler_;
  bool open_ = false;
  bool writing_ = false;
  std::vector<std::string> pending_, batch_;
  std::array<std::uint8_t, 64 * 1024> buf_{};
};

// The Link handed to the client: closing it detaches the socket, which lives on until its
// outstanding operations complete.
class LinkHandle final : public Link {
public:
  explicit LinkHandle(std::shared_ptr<AsioLink> link) : link_(std::move(link)) {}
  ~LinkHandle() override { link_->close(); }
  void write(std::string bytes) override { link_->write(std::move(bytes)); }
  void close() override { link_->close(); }

private:
  std::shared_ptr<AsioLink> link_;
};

class AsioTransport final : public Transport {
public:
  AsioTransport(asio::io_context& io, std::optional<TlsSetup> tls) : io_(io), tls_(std::move(tls)) {}
  std::unique_ptr<Link> open(const std::string& host, std::uint16_t port, LinkHandler& handler) override {
    auto link = std::make_shared<AsioLink>(io_, handler, nullptr);
    link->start(host, port);
    return std::make_unique<LinkHandle>(link);
  }
  std::unique_ptr<Link> open_tls(const std::string& host, std::uint16_t port, LinkHandler& handler) override {
    if (!tls_) return nullptr;
    auto link = std::make_shared<AsioLink>(io_, handler, &*tls_);
    link->start(host, port);
    return std::make_unique<LinkHandle>(link);
  }

private:
  asio::io_context& io_;
  std::optional<TlsSetup> tls_;
};

class AsioClientImpl final : public AsioClient {
public:
  AsioClientImpl(asio::io_context& io, ClientConfig config, std::optional<TlsSetup> tls)
      : executor_(io), transport_(io, std::move(tls)), client_(executor_, clock_, transport_, std::move(config)), timer_(io),
        alive_(std::make_shared<bool>(true)) {
    client_.set_wakeup([this] { rearm(); });
  }
  ~AsioClientImpl() override {
    client_.set_wakeup(nullptr);  // the timer goes before the client
    *alive_ = false;
    timer_.cancel();
  }
  Client& client() override { return client_; }

  void rearm() {
    const auto now = clock_.now();
    auto at = std::min(client_.next_deadline(), now + std::chrono::seconds(1));
    if (armed_ && at >= armed_at_) return;
    armed_ = true;
    armed_at_ = at;
    timer_.expires_at(at);
    timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
      if (ec || !alive.lock()) return;
      armed_ = false;
      client_.on_tick();
      rearm();
    });
  }

private:
  net::AsioExecutor executor_;
  SystemClock clock_;
  AsioTransport transport_;
  Client client_;
  asio::steady_timer timer_;
  std::shared_ptr<bool> alive_;
  bool armed_ = false;
  TimePoint armed_at_{};
};

}  // namespace

Result<std::unique_ptr<AsioClient>, Error> make_asio_client(boost::asio::io_context& io, ClientConfig config) {
  // The TLS context only for pulsar+ssl:// (a bad CA or key file is refused here, not at the
  // first connect).
  std::optional<TlsSetup> tls;
  if (config.service_url.rfind("pulsar+ssl://", 0) == 0) {
    auto t = make_tls(config);
    if (!t.ok()) return std::move(t).error();
    tls = std::move(t).value();
  }
  auto c = std::make_unique<AsioClientImpl>(io, std::move(config), std::move(tls));
  if (auto r = c->client().start(); !r.ok()) return std::move(r).error();
  c->rearm();
  return std::unique_ptr<AsioClient>(std::move(c));
}

}  // namespace mop::pulsar::client
