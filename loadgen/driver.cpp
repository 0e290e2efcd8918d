#include "loadgen/driver.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace mop::loadgen {

BrokerSampler::BrokerSampler(int pid) : pid_(pid) {
  if (!pid_) return;
  first_ = sample_process(pid_);
  if (!first_) std::fprintf(stderr, "mop bench: cannot read /proc/%d; broker usage not reported\n", pid_);
}

std::optional<ProcSample> BrokerSampler::sample() {
  if (!first_) return std::nullopt;
  auto p = sample_process(pid_);
  if (p) rss_peak_ = std::max(rss_peak_, p->rss_kib);
  return p;
}

std::optional<BrokerUsage> BrokerSampler::usage(const std::optional<ProcSample>& from, const std::optional<ProcSample>& to,
                                                double elapsed_s, std::uint64_t conns_ready) const {
  if (!first_ || !from || !to) return std::nullopt;
  BrokerUsage u;
  u.cpu_pct = elapsed_s > 0 ? 100.0 * (to->cpu_seconds - from->cpu_seconds) / elapsed_s : 0;
  u.rss_before_kib = first_->rss_kib;
  u.rss_kib = to->rss_kib;
  u.rss_peak_kib = rss_peak_;
  if (conns_ready > 0 && u.rss_kib > u.rss_before_kib) {
    u.rss_per_conn_kib = static_cast<double>(u.rss_kib - u.rss_before_kib) / static_cast<double>(conns_ready);
  }
  return u;
}

bool resolve_broker(const Options& o, boost::asio::ip::tcp::endpoint& ep, std::string& failure) {
  try {
    boost::asio::io_context io;
    boost::asio::ip::tcp::resolver r(io);
    ep = r.resolve(boost::asio::ip::tcp::v4(), o.host, std::to_string(o.port)).begin()->endpoint();
    return true;
  } catch (const std::exception& e) {
    failure = "cannot resolve " + o.host + ": " + e.what();
    return false;
  }
}

bool make_tls_context(const Options& o, std::shared_ptr<SSL_CTX>& ctx, std::string& failure) {
  ctx.reset(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  auto why = [&](const std::string& what) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    failure = what + ": " + buf;
    return false;
  };
  if (!ctx) return why("TLS");
  if (!o.cafile.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), o.cafile.c_str(), nullptr) != 1) return why("--cafile " + o.cafile);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  }
  if (!o.cert.empty() && SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert.c_str()) != 1)
    return why("--cert " + o.cert);
  if (!o.key.empty() && SSL_CTX_use_PrivateKey_file(ctx.get(), o.key.c_str(), SSL_FILETYPE_PEM) != 1)
    return why("--key " + o.key);
  return true;
}

bool await_connections(const RunBase& run, std::uint64_t target, double timeout_s, const std::atomic<bool>& interrupted) {
  const std::uint64_t t0 = now_ns();
  while (run.ready.load() + run.failed.load() < target) {
    if (interrupted.load() || seconds_since(t0) > timeout_s) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace mop::loadgen
