#include "loadgen/engine.hpp"


#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <random>

#include "loadgen/message_header.hpp"

namespace mop::loadgen {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// ---------------------------------------------------------------------------------------------
Conn::Conn(Worker& w, Role role, std::uint32_t id, std::string client_id, std::string topic,
           const std::string* source_addr)
    : StreamConn(w.io, w.run, w.rbuf.get(), Worker::kReadBuf),
      w_(w),
      role_(role),
      id_(id),
      client_id_(std::move(client_id)),
      topic_(std::move(topic)),
      source_addr_(source_addr),
      reader_(mqtt::kMaxRemainingLength + 5) {
  if (role_ == Role::publisher) {
    tmpl_.topic = topic_;
    tmpl_.qos = static_cast<std::uint8_t>(w.run.opt.qos);
    // The header encoder needs the payload's length only; the bytes are written by produce().
    tmpl_.payload = Payload::adopt(std::string(w.run.opt.size, '\0'));
    if (tmpl_.qos > 0) slot_seq_.assign(65536, 0);
  }
}

bool Conn::rate_limited() const { return role_ == Role::publisher && w_.run.opt.rate > 0; }

void Conn::start_connect() {
  if (auto ec = open_socket(source_addr_)) {
    fail("socket/bind: " + ec.message());
    return;
  }
  connect(w_.run.broker);
}

void Conn::greet(std::string& out) {
  mqtt::Connect c;
  c.version = w_.run.version;
  c.protocol_name = c.version == mqtt::ProtocolVersion::v31 ? "MQIsdp" : "MQTT";
  c.clean_session = w_.run.opt.clean;
  c.keep_alive = w_.run.opt.keepalive;
  c.client_id = client_id_;
  mqtt::encode(mqtt::Packet{std::move(c)}, w_.run.version, out);
}

bool Conn::on_bytes(std::span<const std::uint8_t> bytes) {
  reader_.feed(bytes);
  for (;;) {
    auto r = reader_.next();
    if (!r.ok()) {
      fail("bad frame from the broker on " + client_id_ + ": " + r.error().message());
      return false;
    }
    if (!*r) return true;
    if (!handle(**r)) return false;
  }
}

void Conn::after_read() {
  if (role_ == Role::publisher && !rate_limited()) produce();
}

bool Conn::handle(const mqtt::Frame& f) {
  if (f.type() == mqtt::PacketType::publish) {
    on_publish(f);
    return !closed_;
  }
  auto r = mqtt::decode_server_packet(f, w_.run.version);
  if (!r.ok()) {
    fail("undecodable packet from the broker on " + client_id_ + ": " + r.error().message());
    return false;
  }
  auto& p = *r;
  if (auto* ack = std::get_if<mqtt::Connack>(&p)) {
    if (ack->return_code != mqtt::ConnectReturnCode::accepted) {
      fail("CONNACK refused " + client_id_ + " with code " + std::to_string(static_cast<int>(ack->return_code)));
      return false;
    }
    if (role_ == Role::subscriber) {
      mqtt::Subscribe s;
      s.packet_id = 1;
      s.entries.push_back({topic_, static_cast<std::uint8_t>(w_.run.opt.qos)});
      mqtt::encode(mqtt::Packet{std::move(s)}, w_.run.version, out_);
    } else {
      mark_ready();
    }
  } else if (auto* sa = std::get_if<mqtt::Suback>(&p)) {
    if (sa->return_codes.empty() || sa->return_codes[0] == mqtt::kSubackFailure) {
      fail("SUBSCRIBE to " + topic_ + " refused");
      return false;
    }
    mark_ready();
  } else if (auto* pa = std::get_if<mqtt::Puback>(&p)) {
    complete(pa->packet_id);
  } else if (auto* rec = std::get_if<mqtt::Pubrec>(&p)) {
    mqtt::encode(mqtt::Packet{mqtt::Pubrel{rec->packet_id}}, w_.run.version, out_);
  } else if (auto* pc = std::get_if<mqtt::Pubcomp>(&p)) {
    complete(pc->packet_id);
  } else if (auto* rel = std::get_if<mqtt::Pubrel>(&p)) {
    mqtt::encode(mqtt::Packet{mqtt::Pubcomp{rel->packet_id}}, w_.run.version, out_);
  }
  return true;
}

void Conn::on_publish(const mqtt::Frame& f) {
  // Parsed here rather than with decode_server_packet: that copies the payload into a new
  // shared buffer, one allocation per message, and the load generator needs only 16 bytes of it.
  const std::uint8_t qos = (f.flags() >> 1) & 3;
  const auto body = f.body;
  if (body.size() < 2) return fail("truncated PUBLISH on " + client_id_);
  std::size_t pos = 2 + ((std::size_t{body[0]} << 8) | body[1]);
  mqtt::PacketId pid = 0;
  if (qos > 0) {
    if (pos + 2 > body.size()) return fail("truncated PUBLISH on " + client_id_);
    pid = static_cast<mqtt::PacketId>((body[pos] << 8) | body[pos + 1]);
    pos += 2;
  }
  if (pos > body.size() || qos == 3) return fail("malformed PUBLISH on " + client_id_);
  const std::uint64_t now = now_ns();
  received.add();
  if (auto h = read_header(body.subspan(pos))) {
    if (checker.record(h->publisher, h->seq) == SequenceChecker::Outcome::fresh) unique.add();
    const std::uint64_t lat = now > h->send_ns ? now - h->send_ns : 0;
    w_.interval.record(lat);
    w_.total.record(lat);
  }
  if (qos == 1) mqtt::encode(mqtt::Packet{mqtt::Puback{pid}}, w_.run.version, out_);
  if (qos == 2) mqtt::encode(mqtt::Packet{mqtt::Pubrec{pid}}, w_.run.version, out_);
}

void Conn::complete(mqtt::PacketId pid) {
  if (slot_seq_.empty() || slot_seq_[pid] == 0) {
    w_.run.error("acknowledgement for unknown packet id " + std::to_string(pid) + " on " + client_id_);
    return;
  }
  slot_seq_[pid] = 0;
  inflight.set(inflight.get() - 1);
  acked.add();
}

mqtt::PacketId Conn::alloc_packet_id() {
  // Ids are handed out in order and freed roughly in order, so the next one is almost always
  // free; the window (<= 65535) guarantees that some id is.
  for (;;) {
    const mqtt::PacketId pid = next_pid_;
    next_pid_ = next_pid_ == 65535 ? 1 : next_pid_ + 1;
    if (slot_seq_[pid] == 0) return pid;
  }
}

void Conn::produce() {
  if (!ready_ || closed_ || done || role_ != Role::publisher) return;
  const auto phase = w_.run.phase.load(std::memory_order_relaxed);
  if (phase != Phase::running) return;
  const auto& opt = w_.run.opt;
  // Unlimited QoS 0: the socket's backlog is our flow control.
  if (opt.rate <= 0 && opt.qos == 0 && out_off_ != out_.size()) return;
  const std::uint64_t budget = w_.run.produce_budget(next_seq_);
  std::uint64_t queued = 0;
  while (queued < budget) {
    if (opt.count && next_seq_ >= opt.count) {
      done = true;
      break;
    }
    if (opt.qos > 0 && inflight.get() >= opt.window) break;
    if (opt.rate <= 0 && opt.qos == 0 && out_.size() - out_off_ >= kBatchBytes) break;
    mqtt::PacketId pid = 0;
    if (opt.qos > 0) {
      pid = alloc_packet_id();
      slot_seq_[pid] = next_seq_ + 1;
      inflight.set(inflight.get() + 1);
    }
    tmpl_.packet_id = pid;
    mqtt::encode_publish_header(tmpl_, w_.run.version, out_);
    const std::size_t at = out_.size();
    out_.append(w_.filler);
    put_header(MessageHeader{now_ns(), next_seq_, id_}, reinterpret_cast<std::uint8_t*>(out_.data() + at));
    ++next_seq_;
    ++queued;
  }
  if (queued) sent.add(queued);
  flush();
}

std::vector<std::uint32_t> Conn::inflight_seqs() const {
  std::vector<std::uint32_t> out;
  for (auto s : slot_seq_) {
    if (s) out.push_back(s - 1);
  }
  return out;
}

bool Conn::wants_refill() const {
  return role_ == Role::publisher && ready_ && !rate_limited() && w_.run.opt.qos == 0;
}

void Conn::on_connect_resolved() { w_.connect_finished(); }

void Conn::goodbye(std::string& out) { mqtt::encode(mqtt::Packet{mqtt::Disconnect{}}, w_.run.version, out); }

void Conn::keepalive_tick(std::uint64_t now) {
  const auto ka = w_.run.opt.keepalive;
  if (ka == 0 || !connected_ || closed_) return;
  if (now - last_write_ns_ > static_cast<std::uint64_t>(ka) * 500'000'000ull) {
    mqtt::encode(mqtt::Packet{mqtt::Pingreq{}}, w_.run.version, out_);
    flush();
  }
}

// ---------------------------------------------------------------------------------------------
Worker::Worker(RunState& r, std::size_t index) : WorkerBase(r, index), run(r), filler(r.opt.size, 'x') {
  if (r.opt.random_payload) {
    std::mt19937_64 gen(0x6d6f70u + index);
    for (auto& c : filler) c = static_cast<char>(gen());
  }
}

void Worker::connect_all(std::vector<Conn*> list) {
  connect_queue_.insert(connect_queue_.end(), list.begin(), list.end());
  while (connecting_ < run.opt.connect_concurrency && connect_next_ < connect_queue_.size()) {
    ++connecting_;
    connect_queue_[connect_next_++]->start_connect();
  }
}

void Worker::connect_finished() {
  if (connecting_ > 0) --connecting_;
  while (connecting_ < run.opt.connect_concurrency && connect_next_ < connect_queue_.size()) {
    ++connecting_;
    connect_queue_[connect_next_++]->start_connect();
  }
}

void Worker::on_tick(std::uint64_t now) {
  if (now - last_keepalive_ns_ > 1'000'000'000ull) {
    last_keepalive_ns_ = now;
    for (auto& c : conns) c->keepalive_tick(now);
  }
}

}  // namespace mop::loadgen
