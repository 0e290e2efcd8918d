package mop.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pulsar.client.api.CompressionType;
import org.apache.pulsar.client.api.Consumer;
import org.apache.pulsar.client.api.Message;
import org.apache.pulsar.client.api.MessageId;
import org.apache.pulsar.client.api.Producer;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.PulsarClientException;
import org.apache.pulsar.client.api.SubscriptionInitialPosition;
import org.apache.pulsar.client.api.SubscriptionType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The official Java client (org.apache.pulsar:pulsar-client) against both servers: every case runs
 * once with the URL in -Dmop.url and once with -Dpulsar.url (run_java_tests.py sets both).
 */
class OfficialJavaClientTest {
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
  }

  private static String topic(String prefix) {
    return "persistent://public/default/java-" + prefix + "-" + UUID.randomUUID().toString().substring(0, 12);
  }

  private static Consumer<byte[]> subscribe(PulsarClient c, String topic, String sub, SubscriptionType type)
      throws PulsarClientException {
    return c.newConsumer().topic(topic).subscriptionName(sub).subscriptionType(type)
        .subscriptionInitialPosition(SubscriptionInitialPosition.Earliest).subscribe();
  }

  private static String text(Message<byte[]> m) {
    return new String(m.getData(), StandardCharsets.UTF_8);
  }

  private static Message<byte[]> receive(Consumer<byte[]> c) throws PulsarClientException {
    Message<byte[]> m = c.receive(RECEIVE_SECONDS, TimeUnit.SECONDS);
    assertNotNull(m, "no message within " + RECEIVE_SECONDS + " s");
    return m;
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void produceConsumeAckWithPropertiesAndKeys(String server) throws Exception {
    PulsarClient c = client(server);
    String t = topic("basic");
    Consumer<byte[]> consumer = subscribe(c, t, "s", SubscriptionType.Exclusive);
    Producer<byte[]> producer = c.newProducer().topic(t).producerName("java-producer").create();
    for (int i = 0; i < 20; i++) {
      producer.newMessage().value(("m" + i).getBytes(StandardCharsets.UTF_8)).key("k" + (i % 4))
          .property("i", Integer.toString(i)).send();
    }
    for (int i = 0; i < 20; i++) {
      Message<byte[]> m = receive(consumer);
      assertEquals("m" + i, text(m));
      assertEquals("k" + (i % 4), m.getKey());
      assertEquals(Map.of("i", Integer.toString(i)), m.getProperties());
      assertEquals("java-producer", m.getProducerName());
      consumer.acknowledge(m);
    }
    consumer.close();
    Consumer<byte[]> again = subscribe(c, t, "s", SubscriptionType.Exclusive);
    assertNull(again.receive(700, TimeUnit.MILLISECONDS), "everything was acknowledged");
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void secondExclusiveConsumerIsRefused(String server) throws Exception {
    PulsarClient c = client(server);
    String t = topic("exclusive");
    subscribe(c, t, "s", SubscriptionType.Exclusive);
    assertThrows(PulsarClientException.ConsumerBusyException.class,
        () -> subscribe(client(server), t, "s", SubscriptionType.Exclusive));
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void sharedConsumersSplitTheMessages(String server) throws Exception {
    String t = topic("shared");
    Consumer<byte[]> a = client(server).newConsumer().topic(t).subscriptionName("s")
        .subscriptionType(SubscriptionType.Shared).receiverQueueSize(5).subscribe();
    Consumer<byte[]> b = client(server).newConsumer().topic(t).subscriptionName("s")
        .subscriptionType(SubscriptionType.Shared).receiverQueueSize(5).subscribe();
    Producer<byte[]> producer = client(server).newProducer().topic(t).create();
    for (int i = 0; i < 40; i++) {
      producer.send(("m" + i).getBytes(StandardCharsets.UTF_8));
    }
    Set<String> got = new HashSet<>();
    int fromA = 0;
    int fromB = 0;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (got.size() < 40 && System.nanoTime() < deadline) {
      Message<byte[]> m = a.receive(100, TimeUnit.MILLISECONDS);
      if (m != null) {
        assertTrue(got.add(text(m)), "delivered twice: " + text(m));
        a.acknowledge(m);
        fromA++;
      }
      m = b.receive(100, TimeUnit.MILLISECONDS);
      if (m != null) {
        assertTrue(got.add(text(m)), "delivered twice: " + text(m));
        b.acknowledge(m);
        fromB++;
      }
    }
    assertEquals(40, got.size());
    assertTrue(fromA > 0 && fromB > 0, "both consumers got messages: " + fromA + " / " + fromB);
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void batchedAndCompressedRoundTrip(String server) throws Exception {
    PulsarClient c = client(server);
    for (CompressionType compression : new CompressionType[] {CompressionType.NONE, CompressionType.LZ4,
        CompressionType.ZLIB, CompressionType.ZSTD, CompressionType.SNAPPY}) {
      String t = topic("batch-" + compression);
      Consumer<byte[]> consumer = subscribe(c, t, "s", SubscriptionType.Exclusive);
      Producer<byte[]> producer = c.newProducer().topic(t).enableBatching(true).batchingMaxMessages(10)
          .batchingMaxPublishDelay(50, TimeUnit.MILLISECONDS).compressionType(compression).create();
      List<CompletableFuture<MessageId>> sent = new ArrayList<>();
      for (int i = 0; i < 30; i++) {
        sent.add(producer.sendAsync(("payload " + i + " ").repeat(1 + i).getBytes(StandardCharsets.UTF_8)));
      }
      producer.flush();
      for (CompletableFuture<MessageId> f : sent) {
        assertNotNull(f.get(RECEIVE_SECONDS, TimeUnit.SECONDS));
      }
      for (int i = 0; i < 30; i++) {
        Message<byte[]> m = receive(consumer);
        assertEquals(("payload " + i + " ").repeat(1 + i), text(m), compression.toString());
        consumer.acknowledge(m);
      }
      producer.close();
      consumer.close();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void cumulativeAckThenResubscribe(String server) throws Exception {
    PulsarClient c = client(server);
    String t = topic("cumulative");
    Consumer<byte[]> consumer = subscribe(c, t, "s", SubscriptionType.Exclusive);
    Producer<byte[]> producer = c.newProducer().topic(t).enableBatching(false).create();
    for (int i = 0; i < 10; i++) {
      producer.send(("m" + i).getBytes(StandardCharsets.UTF_8));
    }
    Message<byte[]> sixth = null;
    for (int i = 0; i < 10; i++) {
      Message<byte[]> m = receive(consumer);
      if (i == 5) {
        sixth = m;
      }
    }
    consumer.acknowledgeCumulative(sixth);
    consumer.close();
    Consumer<byte[]> again = subscribe(c, t, "s", SubscriptionType.Exclusive);
    for (int i = 6; i < 10; i++) {
      assertEquals("m" + i, text(receive(again)));
    }
    assertNull(again.receive(700, TimeUnit.MILLISECONDS));
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void negativeAckIsRedelivered(String server) throws Exception {
    PulsarClient c = client(server);
    String t = topic("nack");
    Consumer<byte[]> consumer = c.newConsumer().topic(t).subscriptionName("s")
        .subscriptionType(SubscriptionType.Shared).negativeAckRedeliveryDelay(200, TimeUnit.MILLISECONDS)
        .subscribe();
    Producer<byte[]> producer = c.newProducer().topic(t).enableBatching(false).create();
    producer.send("only".getBytes(StandardCharsets.UTF_8));
    Message<byte[]> first = receive(consumer);
    consumer.negativeAcknowledge(first);
    Message<byte[]> again = receive(consumer);
    assertEquals("only", text(again));
    assertEquals(1, again.getRedeliveryCount());
    consumer.acknowledge(again);
    assertNull(consumer.receive(700, TimeUnit.MILLISECONDS));
  }
}
