// ZooKeeper's own Java client (unmodified) on a secure client port: the TLS settings come from
// the -Dzookeeper.client.secure / -Dzookeeper.ssl.* system properties, with the Netty socket.
//   java -cp <zookeeper and netty jars> TlsClient.java <host:port> <x509 id to grant>
// Prints one line per step: "<step> ok <value>" or "<step> error <KeeperException code>".
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;

public final class TlsClient {
  interface Step {
    Object run() throws Exception;
  }

  static void step(String name, Step action) {
    try {
      System.out.println(name + " ok " + action.run());
    } catch (KeeperException e) {
      System.out.println(name + " error " + e.code());
    } catch (Exception e) {
      System.out.println(name + " error " + e);
    }
  }

  public static void main(String[] args) throws Exception {
    long waitMs = (long) (15_000 * Double.parseDouble(System.getenv().getOrDefault("ZKTS_TEST_TIME_FACTOR", "1")));
    CountDownLatch connected = new CountDownLatch(1);
    ZooKeeper zk = new ZooKeeper(args[0], 10_000, event -> {
      if (event.getState() == Watcher.Event.KeeperState.SyncConnected) connected.countDown();
    });
    step("connect", () -> connected.await(waitMs, TimeUnit.MILLISECONDS));
    // Not List.of: the client asks the list whether it contains null, which List.of refuses.
    List<ACL> acl = new ArrayList<>(List.of(new ACL(ZooDefs.Perms.ALL, new Id("x509", args[1]))));
    step("create", () -> zk.create("/java-tls", "from java".getBytes(StandardCharsets.UTF_8), acl, CreateMode.PERSISTENT));
    step("get", () -> new String(zk.getData("/java-tls", false, null), StandardCharsets.UTF_8));
    step("whoami", () -> {
      StringBuilder ids = new StringBuilder();
      for (ClientInfo info : zk.whoAmI()) ids.append(info.getAuthScheme()).append(':').append(info.getUser()).append(';');
      return ids;
    });
    zk.close();
  }
}
