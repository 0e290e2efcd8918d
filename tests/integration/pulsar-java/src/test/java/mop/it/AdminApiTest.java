package mop.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.pulsar.client.admin.PulsarAdmin;
import org.apache.pulsar.client.admin.PulsarAdminException;
import org.apache.pulsar.client.api.Consumer;
import org.apache.pulsar.client.api.Message;
import org.apache.pulsar.client.api.MessageId;
import org.apache.pulsar.client.api.Producer;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.SubscriptionInitialPosition;
import org.apache.pulsar.common.partition.PartitionedTopicMetadata;
import org.apache.pulsar.common.policies.data.BacklogQuota;
import org.apache.pulsar.common.policies.data.PartitionedTopicStats;
import org.apache.pulsar.common.policies.data.PersistentTopicInternalStats;
import org.apache.pulsar.common.policies.data.RetentionPolicies;
import org.apache.pulsar.common.policies.data.TenantInfo;
import org.apache.pulsar.common.policies.data.TopicStats;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The official Java admin client (org.apache.pulsar:pulsar-client-admin) against both servers'
 * web service: every case runs once with -Dmop.http and once with -Dpulsar.http, and reads the
 * answers through the admin client's own types, so a shape mop gets wrong fails here.
 */
class AdminApiTest {
  private final List<AutoCloseable> closing = new ArrayList<>();

  private PulsarAdmin admin(String server) throws Exception {
    String url = System.getProperty(server + ".http");
    assertNotNull(url, "-D" + server + ".http is not set (run the tests with run_java_tests.py)");
    PulsarAdmin a = PulsarAdmin.builder().serviceHttpUrl(url).requestTimeout(30, TimeUnit.SECONDS).build();
    closing.add(a);
    return a;
  }

  private PulsarClient client(String server) throws Exception {
    PulsarClient c = PulsarClient.builder().serviceUrl(System.getProperty(server + ".url"))
        .operationTimeout(20, TimeUnit.SECONDS).build();
    closing.add(c);
    return c;
  }

  @AfterEach
  void close() throws Exception {
    for (int i = closing.size() - 1; i >= 0; --i) {
      closing.get(i).close();
    }
  }

  private static String unique(String prefix) {
    return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
  }

  /** Sends n messages one by one (no batching: one entry each) and returns their ids. */
  private static List<MessageId> send(PulsarClient c, String topic, int n) throws Exception {
    List<MessageId> ids = new ArrayList<>();
    try (Producer<byte[]> p = c.newProducer().topic(topic).enableBatching(false).create()) {
      for (int i = 0; i < n; ++i) {
        ids.add(p.send(("m" + i).getBytes(StandardCharsets.UTF_8)));
      }
    }
    return ids;
  }

  private static long backlog(PulsarAdmin a, String topic, String sub) throws Exception {
    TopicStats stats = a.topics().getStats(topic);
    return stats.getSubscriptions().get(sub).getMsgBacklog();
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void tenantsAndNamespacesCreateListDelete(String server) throws Exception {
    PulsarAdmin a = admin(server);
    String tenant = unique("tenant");
    a.tenants().createTenant(tenant, TenantInfo.builder().allowedClusters(Set.of("standalone")).build());
    assertTrue(a.tenants().getTenants().contains(tenant));
    assertEquals(Set.of("standalone"), a.tenants().getTenantInfo(tenant).getAllowedClusters());
    assertThrows(PulsarAdminException.ConflictException.class,
        () -> a.tenants().createTenant(tenant, TenantInfo.builder().allowedClusters(Set.of("standalone")).build()));

    String ns = tenant + "/ns";
    a.namespaces().createNamespace(ns);
    assertEquals(List.of(ns), a.namespaces().getNamespaces(tenant));
    assertThrows(PulsarAdminException.ConflictException.class, () -> a.namespaces().createNamespace(ns));
    assertThrows(PulsarAdminException.ConflictException.class, () -> a.tenants().deleteTenant(tenant));

    a.namespaces().deleteNamespace(ns);
    assertEquals(List.of(), a.namespaces().getNamespaces(tenant));
    a.tenants().deleteTenant(tenant);
    assertFalse(a.tenants().getTenants().contains(tenant));
    assertThrows(PulsarAdminException.NotFoundException.class, () -> a.tenants().getTenantInfo(tenant));
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void namespacePoliciesReadBack(String server) throws Exception {
    PulsarAdmin a = admin(server);
    String ns = "public/" + unique("policies");
    a.namespaces().createNamespace(ns);
    assertNull(a.namespaces().getRetention(ns));
    assertNull(a.namespaces().getNamespaceMessageTTL(ns));
    assertTrue(a.namespaces().getBacklogQuotaMap(ns).isEmpty());

    a.namespaces().setRetention(ns, new RetentionPolicies(60, 100));
    assertEquals(new RetentionPolicies(60, 100), a.namespaces().getRetention(ns));
    a.namespaces().setNamespaceMessageTTL(ns, 120);
    assertEquals(120, a.namespaces().getNamespaceMessageTTL(ns));
    a.namespaces().setBacklogQuota(ns, BacklogQuota.builder().limitSize(1 << 20)
        .retentionPolicy(BacklogQuota.RetentionPolicy.consumer_backlog_eviction).build());
    BacklogQuota quota = a.namespaces().getBacklogQuotaMap(ns).get(BacklogQuota.BacklogQuotaType.destination_storage);
    assertEquals(1 << 20, quota.getLimitSize());
    assertEquals(BacklogQuota.RetentionPolicy.consumer_backlog_eviction, quota.getPolicy());
    a.namespaces().setDeduplicationStatus(ns, true);
    assertEquals(Boolean.TRUE, a.namespaces().getDeduplicationStatus(ns));

    a.namespaces().removeRetention(ns);
    a.namespaces().removeNamespaceMessageTTL(ns);
    a.namespaces().removeBacklogQuota(ns);
    assertNull(a.namespaces().getRetention(ns));
    assertNull(a.namespaces().getNamespaceMessageTTL(ns));
    assertTrue(a.namespaces().getBacklogQuotaMap(ns).isEmpty());
    a.namespaces().deleteNamespace(ns);
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void topicsAndPartitionedTopics(String server) throws Exception {
    PulsarAdmin a = admin(server);
    String plain = "persistent://public/default/" + unique("admin-plain");
    a.topics().createNonPartitionedTopic(plain);
    assertTrue(a.topics().getList("public/default").contains(plain));
    assertEquals(0, a.topics().getPartitionedTopicMetadata(plain).partitions);
    assertThrows(PulsarAdminException.ConflictException.class, () -> a.topics().createNonPartitionedTopic(plain));

    String parted = "persistent://public/default/" + unique("admin-parted");
    a.topics().createPartitionedTopic(parted, 3);
    PartitionedTopicMetadata meta = a.topics().getPartitionedTopicMetadata(parted);
    assertEquals(3, meta.partitions);
    assertTrue(a.topics().getPartitionedTopicList("public/default").contains(parted));
    assertThrows(PulsarAdminException.ConflictException.class, () -> a.topics().createPartitionedTopic(parted, 2));
    a.topics().updatePartitionedTopic(parted, 4);
    assertEquals(4, a.topics().getPartitionedTopicMetadata(parted).partitions);

    send(client(server), parted, 8);
    PartitionedTopicStats stats = a.topics().getPartitionedStats(parted, true);
    assertEquals(4, stats.getMetadata().partitions);
    assertEquals(8, stats.getMsgInCounter());
    assertEquals(4, stats.getPartitions().size());
    long perPartition = 0;
    for (TopicStats s : stats.getPartitions().values()) {
      perPartition += s.getMsgInCounter();
    }
    assertEquals(8, perPartition);
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void subscriptionsCreateSkipResetExpireDelete(String server) throws Exception {
    PulsarAdmin a = admin(server);
    String t = "persistent://public/default/" + unique("admin-subs");
    List<MessageId> ids = send(client(server), t, 10);

    a.topics().createSubscription(t, "from-start", MessageId.earliest);
    a.topics().createSubscription(t, "from-end", MessageId.latest);
    assertEquals(Set.of("from-start", "from-end"), Set.copyOf(a.topics().getSubscriptions(t)));
    assertThrows(PulsarAdminException.ConflictException.class,
        () -> a.topics().createSubscription(t, "from-start", MessageId.earliest));
    assertEquals(10, backlog(a, t, "from-start"));
    assertEquals(0, backlog(a, t, "from-end"));

    a.topics().skipMessages(t, "from-start", 3);
    assertEquals(7, backlog(a, t, "from-start"));
    PersistentTopicInternalStats internal = a.topics().getInternalStats(t);
    assertEquals(10, internal.numberOfEntries);
    assertEquals(internal.lastConfirmedEntry, ids.get(9).toString().replaceAll(":-?\\d+$", ""));
    // Three entries acknowledged: the mark-delete position is the third message.
    assertEquals(ids.get(2).toString().replaceAll(":-?\\d+$", ""),
        internal.cursors.get("from-start").markDeletePosition);

    a.topics().resetCursor(t, "from-start", ids.get(5));
    assertEquals(5, backlog(a, t, "from-start"));
    a.topics().resetCursor(t, "from-start", 0L);
    assertEquals(10, backlog(a, t, "from-start"));
    a.topics().skipAllMessages(t, "from-start");
    assertEquals(0, backlog(a, t, "from-start"));
    a.topics().resetCursor(t, "from-start", MessageId.earliest);
    assertEquals(10, backlog(a, t, "from-start"));

    // Everything was published before now: expiring what is older than 0 s acknowledges it all.
    Thread.sleep(1100);
    a.topics().expireMessages(t, "from-start", 1);
    long left = -1;
    for (int i = 0; i < 50 && left != 0; ++i) {
      left = backlog(a, t, "from-start");
      if (left != 0) {
        Thread.sleep(200);
      }
    }
    assertEquals(0, left);

    a.topics().deleteSubscription(t, "from-start");
    assertEquals(List.of("from-end"), a.topics().getSubscriptions(t));
    assertThrows(PulsarAdminException.NotFoundException.class, () -> a.topics().deleteSubscription(t, "nope"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"mop", "pulsar"})
  void unloadClosesClientsWhichReconnect(String server) throws Exception {
    PulsarAdmin a = admin(server);
    PulsarClient c = client(server);
    String t = "persistent://public/default/" + unique("admin-unload");
    Consumer<byte[]> consumer = c.newConsumer().topic(t).subscriptionName("s")
        .subscriptionInitialPosition(SubscriptionInitialPosition.Earliest).subscribe();
    closing.add(consumer);
    Producer<byte[]> producer = c.newProducer().topic(t).enableBatching(false).create();
    closing.add(producer);
    for (int i = 0; i < 3; ++i) {
      producer.send(("before" + i).getBytes(StandardCharsets.UTF_8));
    }
    a.topics().unload(t);
    // The producer and the consumer were closed by the broker and reconnect by themselves.
    for (int i = 0; i < 3; ++i) {
      producer.send(("after" + i).getBytes(StandardCharsets.UTF_8));
    }
    List<String> got = new ArrayList<>();
    for (int i = 0; i < 6; ++i) {
      Message<byte[]> m = consumer.receive(20, TimeUnit.SECONDS);
      assertNotNull(m, "message " + i + " after the unload");
      got.add(new String(m.getData(), StandardCharsets.UTF_8));
      consumer.acknowledge(m);
    }
    assertEquals(List.of("before0", "before1", "before2", "after0", "after1", "after2"), got);
    assertThrows(PulsarAdminException.NotFoundException.class,
        () -> a.topics().unload("persistent://public/default/" + unique("never-made")));
  }
}
