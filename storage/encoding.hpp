#pragma once
// Key layouts and value encodings of format version 1 (documented in FORMAT.md). Values are a
// small hand-written binary encoding: a version byte, then LEB128 varints, single bytes and
// length-prefixed byte strings. Why not protobuf: these records are few and flat, the encoding
// must be byte-for-byte documented next to the code and decoded defensively (a corrupt value
// is an error naming its key, never a crash), and a hand-written decoder of ~200 lines is
// easier to audit and fuzz than generated code plus a protoc build step. Evolution: a new field
// means a new value version byte; decoders accept every version they know and refuse newer ones.
// Pure functions; any thread.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

#include "storage/records.hpp"

namespace mop::storage {

// Format 2: Pulsar batches stored as one entry (message value version 2), batch-index acks in
// cursors (cursor value version 2), batch indexes of MQTT in-flight messages (session value
// version 2). A format 1 store is a valid format 2 store: opening it read-write rewrites its
// format_version (FORMAT.md, "Migration from format 1").
// Format 3: log entries may be references into the entry log (FORMAT.md, "Format 3"); a store
// becomes format 3 when it is first opened read-write with the entry log on, and only then.
inline constexpr std::uint32_t kFormatVersion = 3;
// The format a store opened without the entry log is created with (and migrated to from 1).
inline constexpr std::uint32_t kFormatVersionWithoutEntryLog = 2;
inline constexpr std::uint8_t kValueVersion = 1;  // values that have only ever had version 1
inline constexpr std::uint8_t kMessageVersion = 2;
inline constexpr std::uint8_t kCursorVersion = 2;
inline constexpr std::uint8_t kSessionVersion = 2;

namespace key {
// Big-endian fixed-width integers: byte order equals numeric order, so RocksDB's bytewise
// comparator keeps a topic's entries contiguous and sorted by (ledger, entry).
void put_be64(std::string& out, std::uint64_t v);
std::uint64_t get_be64(std::string_view in);  // in.size() >= 8

std::string topic_prefix(std::uint64_t topic_id);  // 8 bytes
std::string log(std::uint64_t topic_id, MessageId id);  // 24 bytes
// The same key written into `out`, without an allocation (the storage thread writes one per message).
inline constexpr std::size_t kLogKeySize = 24;
void log_into(char (&out)[kLogKeySize], std::uint64_t topic_id, MessageId id);
// Decodes a 24-byte log key; nullopt if the size is wrong.
std::optional<std::pair<std::uint64_t, MessageId>> parse_log(std::string_view k);
std::string topic_named(std::uint64_t topic_id, std::string_view name);  // subscriptions, cursors
// Printable form of a key for error messages: printable ASCII as is, the rest as \xNN; log keys
// decoded as topic/ledger:entry.
std::string printable(std::string_view k);
}  // namespace key

// Message encoding shared by log entries, retained messages and wills.
std::string encode_message(const Message& m);
// The same bytes in three parts, the payload shared rather than copied (log entries).
EncodedMessage encode_message_parts(const Message& m);
// Fails with a reason ("truncated", "unsupported value version 7", ...).
Result<void, std::string> decode_message(std::string_view in, Message& out);

// A log entry kept in the entry log (format 3): the `logs` value is a reference to the bytes of
// its encoded message there. Its first byte, kEntryRefVersion, is no message value version.
inline constexpr std::uint8_t kEntryRefVersion = 0x80;
struct EntryRef {
  std::uint64_t file = 0;    // entry log file number
  std::uint64_t offset = 0;  // where the encoded message starts in that file
  std::uint32_t length = 0;  // its length in bytes
  std::uint32_t crc = 0;     // CRC32C of those bytes
  friend bool operator==(const EntryRef&, const EntryRef&) = default;
};
std::string encode_entry_ref(const EntryRef& ref);
bool is_entry_ref(std::string_view value);
Result<void, std::string> decode_entry_ref(std::string_view in, EntryRef& out);

std::string encode_topic_value(std::uint64_t id);
Result<void, std::string> decode_topic_value(std::string_view in, std::uint64_t& id);
std::string encode_position(MessageId id);  // log floors, next-topic-id uses be64 instead
Result<void, std::string> decode_position(std::string_view in, MessageId& out);
std::string encode_subscription(const SubscriptionRecord& s);  // name is in the key
Result<void, std::string> decode_subscription(std::string_view in, SubscriptionRecord& out);
std::string encode_cursor(const CursorRecord& c);
Result<void, std::string> decode_cursor(std::string_view in, CursorRecord& out);
std::string encode_session(const SessionRecord& s);  // client id is in the key
Result<void, std::string> decode_session(std::string_view in, SessionRecord& out);
std::string encode_will(const WillRecord& w);  // client id is in the key
Result<void, std::string> decode_will(std::string_view in, WillRecord& out);
// Pulsar topic metadata (added to format 1 without a format bump: new column families, see FORMAT.md).
std::string encode_partitioned(const PartitionedTopicRecord& r);  // topic name is in the key
// permissions: key resource \0 role; value: the actions (1..3).
std::string permission_key(const std::string& resource, const std::string& role);
std::string encode_permission(const PermissionRecord& r);
Result<void, std::string> decode_permission(std::string_view key, std::string_view in, PermissionRecord& out);
// tenants: key the tenant's name; value: its TenantInfo (JSON text, as given).
std::string encode_tenant(const TenantRecord& r);  // name is in the key
Result<void, std::string> decode_tenant(std::string_view in, TenantRecord& out);
// namespaces: key "tenant/ns"; value: which policies are set, then each of them.
std::string encode_namespace(const NamespaceRecord& r);  // name is in the key
Result<void, std::string> decode_namespace(std::string_view in, NamespaceRecord& out);
Result<void, std::string> decode_partitioned(std::string_view in, PartitionedTopicRecord& out);
std::string encode_schema(const SchemaRecord& s);  // topic name is in the key
Result<void, std::string> decode_schema(std::string_view in, SchemaRecord& out);
std::string encode_producer_sequence(const ProducerSequence& p);  // topic id and producer are in the key
Result<void, std::string> decode_producer_sequence(std::string_view in, ProducerSequence& out);

}  // namespace mop::storage
