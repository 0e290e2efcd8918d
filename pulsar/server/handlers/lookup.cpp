// Finding topics: PARTITIONED_METADATA (creating a partitioned topic when auto-creation says
// so), LOOKUP, GET_TOPICS_OF_NAMESPACE.
#include "pulsar/server/handlers/handler.hpp"

namespace mop::pulsar::server {

void Connection::on_partitioned_metadata(const Frame& f) {
  const auto& q = f.command->partitionmetadata();
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::PARTITIONED_METADATA_RESPONSE);
  auto* r = c.mutable_partitionmetadataresponse();
  r->set_request_id(q.request_id());
  const auto topic = resolve(q.topic());
  if (!topic) {
    r->set_response(proto::CommandPartitionedTopicMetadataResponse::Failed);
    r->set_error(proto::InvalidTopicName);
    r->set_message("Invalid topic name: " + q.topic());
    return send(c);
  }
  // A known partitioned topic: its count. A topic that exists is non-partitioned (0), and so
  // is a partition's own name. A new one is created partitioned when auto-creation says so.
  const auto& o = server_.options();
  std::uint32_t n = server_.partitioned().partitions(*topic);
  const bool create = n == 0 && o.allow_auto_topic_creation && o.auto_create_partitioned &&
                      o.default_num_partitions > 0 && !service_.topic_exists(*topic) && !partition_of(*topic);
  if (create) n = o.default_num_partitions;
  // The answer waits until the count is stored (it must survive a restart), also when this
  // request finds a count whose creation is still being written.
  auto respond = [this, alive = std::weak_ptr<bool>(alive_), c, n](std::error_code ec) mutable {
    const auto a = alive.lock();
    if (!a || !*a) return;
    request_answered();
    auto* r = c.mutable_partitionmetadataresponse();
    if (ec) {
      r->set_response(proto::CommandPartitionedTopicMetadataResponse::Failed);
      r->set_error(proto::PersistenceError);
      r->set_message("Cannot store the partitioned topic: " + ec.message());
    } else {
      r->set_response(proto::CommandPartitionedTopicMetadataResponse::Success);
      r->set_partitions(n);
    }
    send(c);
    stream_.output_ready();
  };
  if (create) {
    logger()->info("creating partitioned topic {} with {} partitions", topic->str(), n);
    request_waits();
    return server_.partitioned().create(*topic, n, std::move(respond));
  }
  if (n == 0) {
    r->set_response(proto::CommandPartitionedTopicMetadataResponse::Success);
    r->set_partitions(0);
    return send(c);
  }
  request_waits();
  server_.partitioned().when_stored(*topic, std::move(respond));
}

void Connection::on_lookup(const Frame& f) {
  const auto& q = f.command->lookuptopic();
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::LOOKUP_RESPONSE);
  auto* r = c.mutable_lookuptopicresponse();
  r->set_request_id(q.request_id());
  const auto topic = resolve(q.topic());
  if (!topic || !usable(*topic)) {
    r->set_response(proto::CommandLookupTopicResponse::Failed);
    r->set_error(topic ? proto::TopicNotFound : proto::InvalidTopicName);
    r->set_message((topic ? "Topic not found: " : "Invalid topic name: ") + q.topic());
  } else {
    // This broker owns every topic: the answer is always "connect here", authoritatively.
    r->set_response(proto::CommandLookupTopicResponse::Connect);
    r->set_brokerserviceurl(server_.options().service_url);
    if (!server_.options().service_url_tls.empty()) r->set_brokerserviceurltls(server_.options().service_url_tls);
    r->set_authoritative(true);
  }
  send(c);
}

void Connection::on_get_topics_of_namespace(const Frame& f) {
  const auto& q = f.command->gettopicsofnamespace();
  const auto slash = q.namespace_().find('/');
  if (slash == std::string::npos) return send_error(q.request_id(), proto::MetadataError, "Invalid namespace");
  service::NamespaceName ns{q.namespace_().substr(0, slash), q.namespace_().substr(slash + 1)};
  proto::BaseCommand c;
  c.set_type(proto::BaseCommand::GET_TOPICS_OF_NAMESPACE_RESPONSE);
  auto* r = c.mutable_gettopicsofnamespaceresponse();
  r->set_request_id(q.request_id());
  for (const auto& t : service_.list_topics(ns)) {
    const bool want = q.mode() == proto::CommandGetTopicsOfNamespace::ALL ||
                      (q.mode() == proto::CommandGetTopicsOfNamespace::PERSISTENT) == t.persistent();
    if (want) r->add_topics(t.str());
  }
  send(c);
}

}  // namespace mop::pulsar::server
