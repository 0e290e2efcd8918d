package mop.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pulsar.client.api.Consumer;
import org.apache.pulsar.client.api.ConsumerBuilder;
import org.apache.pulsar.client.api.Message;
import org.apache.pulsar.client.api.MessageId;
import org.apache.pulsar.client.api.MessageIdAdv;
import org.apache.pulsar.client.api.Producer;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.PulsarClientException;
import org.apache.pulsar.client.api.Reader;
import org.apache.pulsar.client.api.SubscriptionInitialPosition;
import org.apache.pulsar.client.api.SubscriptionType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Batches and message ids with the official Java client (issue 15), against both servers: the id a
 * send future gives is the id the consumer receives and, for the last message, what
 * getLastMessageId() says; seek to a producer's id; a Reader's hasMessageAvailable() loop;
 * batch-index acknowledgements; deduplication of resent sequence ids and the backlog of a batched
 * topic, compared between mop and Apache Pulsar in one test (what Pulsar does is the expectation).
 */
class BatchIdsJavaClientTest {
  private static final int RECEIVE_SECONDS = 10;
  private final List<PulsarClient> clients = new ArrayList<>();

  private PulsarClient client(String server) throws PulsarClientException {
    String url = System.getProperty(server + ".url");
    assertNotNull(url, "-D" + server + ".url is not set (run the tests with run_java_tests.py)");
    PulsarClient c = PulsarClient.builder().serviceUrl(url).operationTimeout(20, TimeUnit.SECONDS).build();
    clients.add(c);
    return c;
  }

  @AfterEach
  void closeClients() throws PulsarClientException {
    for (PulsarClient c : clients) {
      c.close();
    }
    clients.clear();
  }

  private static String topic(String prefix) {
    return "persistent://public/default/java-" + prefix + "-" + UUID.randomUUID().toString().substring(0, 12);
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String text(Message<byte[]> m) {
    return new String(m.getData(), StandardCharsets.UTF_8);
  }

  private static ConsumerBuilder<byte[]> consumer(PulsarClient c, String topic) {
    return c.newConsumer().topic(topic).subscriptionName("s").subscriptionType(SubscriptionType.Exclusive)
        .subscriptionInitialPosition(SubscriptionInitialPosition.Earliest);
  }

  /** Batches of up to `batch` messages (0: no batching), closed by count, not by time. */
  private static Producer<byte[]> producer(PulsarClient c, String topic, int batch) throws PulsarClientException {
    return c.newProducer().topic(topic).enableBatching(batch > 0).batchingMaxMessages(Math.max(batch, 1))
        .batchingMaxPublishDelay(2, TimeUnit.SECONDS).create();
  }

  private static List<MessageId> sendAll(Producer<byte[]> p, List<String> payloads) throws Exception {
    List<CompletableFuture<MessageId>> futures = new ArrayList<>();
    for (String s : payloads) {
      futures.add(p.sendAsync(bytes(s)));
    }
    p.flush();
    List<MessageId> ids = new ArrayList<>();
    for (CompletableFuture<MessageId> f : futures) {
      ids.add(f.get(RECEIVE_SECONDS, TimeUnit.SECONDS));
    }
    return ids;
  }

  private static List<Message<byte[]>> receive(Consumer<byte[]> c, int n) throws PulsarClientException {
    List<Message<byte[]>> got = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Message<byte[]> m = c.receive(RECEIVE_SECONDS, TimeUnit.SECONDS);
      assertNotNull(m, "message " + i + " of " + n + " did not come within " + RECEIVE_SECONDS + " s");
      got.add(m);
    }
    return got;
  }

  private static List<String> payloads(String prefix, int from, int to) {
    List<String> out = new ArrayList<>();
    for (int i = from; i < to; i++) {
      out.add(prefix + i);
    }
    return out;
  }

  /** ledger:entry:batchIndex, what the ids name (the partition is -1 on both servers). */
  private static String key(MessageId id) {
    MessageIdAdv a = (MessageIdAdv) id;
    return a.getLedgerId() + ":" + a.getEntryId() + ":" + a.getBatchIndex();
  }

  private static List<String> keys(List<MessageId> ids) {
    List<String> out = new ArrayList<>();
    for (MessageId id : ids) {
      out.add(key(id));
    }
    return out;
  }

  private static List<String> messageKeys(List<Message<byte[]>> ms) {
    List<String> out = new ArrayList<>();
    for (Message<byte[]> m : ms) {
      out.add(key(m.getMessageId()));
    }
    return out;
  }

  private static List<String> texts(List<Message<byte[]>> ms) {
    List<String> out = new ArrayList<>();
    for (Message<byte[]> m : ms) {
      out.add(text(m));
    }
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void sendConsumeAndLastIdsAgreeBatchedAndNot(String server) throws Exception {
    PulsarClient c = client(server);
    for (int batch : new int[] {10, 0}) {
      String t = topic("ids");
      Consumer<byte[]> consumer = consumer(c, t).subscribe();
      Producer<byte[]> producer = producer(c, t, batch);
      List<String> sentText = payloads("m", 0, 25);
      List<String> sent = keys(sendAll(producer, sentText));
      List<Message<byte[]>> got = receive(consumer, 25);
      assertEquals(sentText, texts(got));
      assertEquals(sent, messageKeys(got), "consumer ids = send ids, batch " + batch);
      assertEquals(sent.get(24), key(consumer.getLastMessageId()), "getLastMessageId, batch " + batch);
      Set<Long> entries = new HashSet<>();
      for (Message<byte[]> m : got) {
        entries.add(((MessageIdAdv) m.getMessageId()).getEntryId());
      }
      if (batch > 0) {
        assertEquals(3, entries.size(), "25 messages in batches of 10 are 3 entries");
        assertTrue(sent.get(24).endsWith(":4"), "the last is index 4 of the third batch: " + sent.get(24));
      } else {
        assertEquals(25, entries.size());
        assertTrue(sent.stream().allMatch(k -> k.endsWith(":-1")), "no batch index: " + sent);
      }
      for (Message<byte[]> m : got) {
        consumer.acknowledge(m);
      }
      assertNull(consumer.receive(500, TimeUnit.MILLISECONDS));
      producer.close();
      consumer.close();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void seekToAProducersId(String server) throws Exception {
    PulsarClient c = client(server);
    for (int batch : new int[] {10, 0}) {
      for (boolean inclusive : new boolean[] {false, true}) {
        String t = topic("seek");
        ConsumerBuilder<byte[]> b = consumer(c, t);
        if (inclusive) {
          b = b.startMessageIdInclusive();
        }
        Consumer<byte[]> consumer = b.subscribe();
        Producer<byte[]> producer = producer(c, t, batch);
        List<String> sentText = payloads("s", 0, 20);
        List<MessageId> ids = sendAll(producer, sentText);
        for (Message<byte[]> m : receive(consumer, 20)) {
          consumer.acknowledge(m);
        }
        // Into the middle of the second batch: from there on (or the one after) comes again.
        consumer.seek(ids.get(13));
        int first = inclusive ? 13 : 14;
        List<Message<byte[]>> got = receive(consumer, 20 - first);
        String what = "batch " + batch + ", inclusive " + inclusive;
        assertEquals(sentText.subList(first, 20), texts(got), what);
        assertEquals(keys(ids.subList(first, 20)), messageKeys(got), what);
        assertNull(consumer.receive(500, TimeUnit.MILLISECONDS), what);
        producer.close();
        consumer.close();
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void readerHasMessageAvailableEndsAfterTheLastMessage(String server) throws Exception {
    PulsarClient c = client(server);
    for (int batch : new int[] {10, 0}) {
      String t = topic("reader");
      Producer<byte[]> producer = producer(c, t, batch);
      List<String> sentText = payloads("r", 0, 23);
      List<MessageId> ids = sendAll(producer, sentText);
      Reader<byte[]> reader = c.newReader().topic(t).startMessageId(MessageId.earliest).create();
      List<Message<byte[]>> got = new ArrayList<>();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (reader.hasMessageAvailable()) {
        assertTrue(System.nanoTime() < deadline, "hasMessageAvailable() never ends, batch " + batch);
        Message<byte[]> m = reader.readNext(RECEIVE_SECONDS, TimeUnit.SECONDS);
        assertNotNull(m, "hasMessageAvailable() said true but nothing came, batch " + batch);
        got.add(m);
      }
      assertEquals(sentText, texts(got), "batch " + batch);
      assertEquals(keys(ids), messageKeys(got), "batch " + batch);
      reader.close();
      producer.close();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void batchIndexAcksRedeliverOnlyTheUnacknowledged(String server) throws Exception {
    PulsarClient c = client(server);
    String t = topic("index-acks");
    ConsumerBuilder<byte[]> b = consumer(c, t).subscriptionType(SubscriptionType.Shared)
        .enableBatchIndexAcknowledgment(true).acknowledgmentGroupTime(0, TimeUnit.MILLISECONDS);
    Consumer<byte[]> consumer = b.subscribe();
    Producer<byte[]> producer = producer(c, t, 8);
    List<String> sentText = payloads("a", 0, 8);
    List<String> ids = keys(sendAll(producer, sentText));
    assertEquals(1, ids.stream().map(k -> k.substring(0, k.lastIndexOf(':'))).distinct().count(), "one batch");
    List<Message<byte[]>> got = receive(consumer, 8);
    assertEquals(ids, messageKeys(got));
    for (int i = 0; i < 8; i += 2) {
      consumer.acknowledge(got.get(i));
    }
    // Not closed: unacknowledged messages go back to the subscription on a redelivery request.
    consumer.redeliverUnacknowledgedMessages();
    List<Message<byte[]>> again = receive(consumer, 4);
    assertEquals(List.of("a1", "a3", "a5", "a7"), texts(again));
    assertEquals(List.of(ids.get(1), ids.get(3), ids.get(5), ids.get(7)), messageKeys(again));
    assertNull(consumer.receive(500, TimeUnit.MILLISECONDS));
    consumer.acknowledge(again.get(0));
    consumer.close();
    // A new consumer of the subscription: only what is still unacknowledged, with the same ids.
    Consumer<byte[]> next = b.subscribe();
    List<Message<byte[]>> rest = receive(next, 3);
    assertEquals(List.of("a3", "a5", "a7"), texts(rest));
    assertEquals(List.of(ids.get(3), ids.get(5), ids.get(7)), messageKeys(rest));
    assertNull(next.receive(500, TimeUnit.MILLISECONDS));
    for (Message<byte[]> m : rest) {
      next.acknowledge(m);
    }
    next.close();
    assertNull(b.subscribe().receive(700, TimeUnit.MILLISECONDS), "everything acknowledged");
  }

  /**
   * Resent sequence ids under one producer name (what a producer does after a broker died between
   * storing and the receipt): a whole batch again, part of it with new messages after it, single
   * messages. What the sends answer (stored or a duplicate), what the next producer of the name
   * is told, and what a consumer reads must be what Apache Pulsar does.
   */
  private List<String> deduplicationStory(String server) throws Exception {
    List<String> story = new ArrayList<>();
    PulsarClient c = client(server);
    String t = topic("dedup");
    String name = "dedup-" + UUID.randomUUID().toString().substring(0, 8);
    Producer<byte[]> first = c.newProducer().topic(t).producerName(name).enableBatching(true)
        .batchingMaxMessages(10).batchingMaxPublishDelay(2, TimeUnit.SECONDS).create();
    story.add("first producer starts after " + first.getLastSequenceId());
    List<String> firstIds = keys(sendAll(first, payloads("d", 0, 10)));
    story.add("first batch entries " + firstIds.stream().map(k -> k.substring(0, k.lastIndexOf(':'))).distinct().count());
    story.add("first producer ends at " + first.getLastSequenceId());
    first.close();

    Producer<byte[]> again = c.newProducer().topic(t).producerName(name).enableBatching(true)
        .batchingMaxMessages(10).batchingMaxPublishDelay(2, TimeUnit.SECONDS).create();
    story.add("second producer starts after " + again.getLastSequenceId());
    // The whole batch again, then 5..14: 5..9 were stored, 10..14 are new.
    List<CompletableFuture<MessageId>> futures = new ArrayList<>();
    List<Integer> seqs = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      seqs.add(i);
    }
    for (int i = 5; i < 15; i++) {
      seqs.add(i);
    }
    for (int s : seqs) {
      futures.add(again.newMessage().sequenceId(s).value(bytes("d" + s)).sendAsync());
    }
    again.flush();
    for (int i = 0; i < seqs.size(); i++) {
      MessageIdAdv id = (MessageIdAdv) futures.get(i).get(RECEIVE_SECONDS, TimeUnit.SECONDS);
      boolean dup = id.getLedgerId() < 0;
      String stored = dup ? "duplicate " + id.getLedgerId() + ":" + id.getEntryId()
          : (firstIds.contains(key(id)) ? "the original id" : "stored");
      story.add("resend seq " + seqs.get(i) + ": " + stored);
    }
    story.add("second producer ends at " + again.getLastSequenceId());
    again.close();
    Producer<byte[]> third = c.newProducer().topic(t).producerName(name).create();
    story.add("third producer starts after " + third.getLastSequenceId());
    third.close();

    Consumer<byte[]> consumer = consumer(c, t).subscribe();
    List<String> read = new ArrayList<>();
    for (Message<byte[]> m = consumer.receive(3, TimeUnit.SECONDS); m != null;
        m = consumer.receive(700, TimeUnit.MILLISECONDS)) {
      read.add(text(m));
    }
    story.add("a consumer reads " + read);
    consumer.close();
    return story;
  }

  @Test
  void deduplicationOfResentBatchesMatchesApachePulsar() throws Exception {
    List<String> pulsar = deduplicationStory("pulsar");
    List<String> mop = deduplicationStory("mop");
    System.out.println("Apache Pulsar:\n  " + String.join("\n  ", pulsar));
    System.out.println("mop:\n  " + String.join("\n  ", mop));
    assertEquals(pulsar, mop);
  }

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

  /** msgBacklog of the topic's only subscription, from the admin API's topic stats. */
  private static long msgBacklog(String server, String topic) throws Exception {
    return subscriptionStat(server, topic, "msgBacklog");
  }

  /** A number in the stats of the topic's only subscription (the first field of that name). */
  private static long subscriptionStat(String server, String topic, String field) throws Exception {
    String http = System.getProperty(server + ".http");
    assertNotNull(http, "-D" + server + ".http is not set (run the tests with run_java_tests.py)");
    String path = topic.replace("persistent://", "/admin/v2/persistent/") + "/stats";
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(http + path)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    Matcher m = Pattern.compile("\"" + field + "\"\\s*:\\s*(\\d+)").matcher(r.body());
    assertTrue(m.find(), "no " + field + " in " + r.body());
    return Long.parseLong(m.group(1));
  }

  /** msgBacklog of a batched topic as it is produced to and (partly) acknowledged. */
  private List<String> backlogStory(String server) throws Exception {
    List<String> story = new ArrayList<>();
    PulsarClient c = client(server);
    String t = topic("backlog");
    Consumer<byte[]> consumer = consumer(c, t).subscriptionType(SubscriptionType.Shared)
        .enableBatchIndexAcknowledgment(true).acknowledgmentGroupTime(0, TimeUnit.MILLISECONDS).subscribe();
    Producer<byte[]> batched = producer(c, t, 10);
    sendAll(batched, payloads("b", 0, 20));
    Producer<byte[]> single = producer(c, t, 0);
    sendAll(single, payloads("u", 0, 3));
    List<Message<byte[]>> got = receive(consumer, 23);
    story.add("23 messages, 2 batches of 10 and 3 single, none acknowledged: " + msgBacklogSettled(server, t));
    for (int i = 0; i < 5; i++) {
      consumer.acknowledge(got.get(i));
    }
    story.add("5 of the first batch acknowledged: " + msgBacklogSettled(server, t));
    for (int i = 5; i < 10; i++) {
      consumer.acknowledge(got.get(i));
    }
    story.add("the first batch acknowledged: " + msgBacklogSettled(server, t));
    consumer.acknowledge(got.get(20));
    story.add("and one single message: " + msgBacklogSettled(server, t));
    batched.close();
    single.close();
    consumer.close();
    return story;
  }

  /**
   * msgBacklog once it stops changing (acks reach the broker asynchronously), and the
   * subscription's unackedMessages (with one consumer, the subscription's and the consumer's agree).
   */
  private static String msgBacklogSettled(String server, String topic) throws Exception {
    long last = msgBacklog(server, topic);
    for (int i = 0; i < 20; i++) {
      Thread.sleep(150);
      long now = msgBacklog(server, topic);
      if (now == last && i >= 3) {
        break;
      }
      last = now;
    }
    return "msgBacklog " + last + ", unackedMessages " + subscriptionStat(server, topic, "unackedMessages");
  }

  @Test
  void backlogOfABatchedTopicMatchesApachePulsar() throws Exception {
    List<String> pulsar = backlogStory("pulsar");
    List<String> mop = backlogStory("mop");
    System.out.println("Apache Pulsar:\n  " + String.join("\n  ", pulsar));
    System.out.println("mop:\n  " + String.join("\n  ", mop));
    assertEquals(pulsar, mop);
  }
}
