// Conformance driver: runs one scripted scenario with the real Apache ZooKeeper
// Java client (org.apache.zookeeper.ZooKeeper, unmodified) and prints one JSON
// object per line on stdout. The TypeScript tests assert on those lines.
//
//   java -cp <classes>:<zookeeper jars> ZkDriver <host:port> <scenario> [args...]
//
// Line shapes:
//   {"ev":"step","step":NAME,"ok":true,"value":...}
//   {"ev":"step","step":NAME,"ok":false,"code":-101,"codeName":"NONODE"}
//   {"ev":"watch","w":WATCHER,"type":"NodeCreated","path":"/x","state":"SyncConnected"}
//   {"ev":"done"}
// Exit code 0 means the script ran to its end; what happened is in the lines.
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

public final class ZkDriver {
  // Deadlines stretch with the test suite's (ZKTS_TEST_TIME_FACTOR).
  static final long WAIT_MS = (long) (15_000 * Double.parseDouble(System.getenv().getOrDefault("ZKTS_TEST_TIME_FACTOR", "1")));
  static String connectString;
  static final AtomicInteger fenceCounter = new AtomicInteger();

  // ------------------------------------------------------------------ output

  static synchronized void emit(Map<String, Object> line) {
    System.out.println(json(line));
    System.out.flush();
  }

  static Map<String, Object> obj(Object... kv) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
    return m;
  }

  static String json(Object v) {
    if (v == null) return "null";
    if (v instanceof String) return quote((String) v);
    if (v instanceof Number || v instanceof Boolean) return v.toString();
    if (v instanceof byte[]) return quote(new String((byte[]) v, StandardCharsets.UTF_8));
    if (v instanceof Stat) return json(stat((Stat) v));
    if (v instanceof Map) {
      StringBuilder sb = new StringBuilder("{");
      boolean first = true;
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
        if (!first) sb.append(',');
        first = false;
        sb.append(quote(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
      }
      return sb.append('}').toString();
    }
    if (v instanceof Iterable) {
      StringBuilder sb = new StringBuilder("[");
      boolean first = true;
      for (Object o : (Iterable<?>) v) {
        if (!first) sb.append(',');
        first = false;
        sb.append(json(o));
      }
      return sb.append(']').toString();
    }
    return quote(v.toString());
  }

  static String quote(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"': sb.append("\\\""); break;
        case '\\': sb.append("\\\\"); break;
        case '\n': sb.append("\\n"); break;
        case '\r': sb.append("\\r"); break;
        case '\t': sb.append("\\t"); break;
        default:
          if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
      }
    }
    return sb.append('"').toString();
  }

  static Map<String, Object> stat(Stat s) {
    return obj("czxid", s.getCzxid(), "mzxid", s.getMzxid(), "pzxid", s.getPzxid(), "ctime", s.getCtime(),
        "mtime", s.getMtime(), "version", s.getVersion(), "cversion", s.getCversion(), "aversion", s.getAversion(),
        "ephemeralOwner", "0x" + Long.toHexString(s.getEphemeralOwner()), "dataLength", s.getDataLength(),
        "numChildren", s.getNumChildren());
  }

  static List<Object> acls(List<ACL> list) {
    List<Object> out = new ArrayList<>();
    for (ACL a : list) out.add(obj("perms", a.getPerms(), "scheme", a.getId().getScheme(), "id", a.getId().getId()));
    return out;
  }

  static List<Object> opResults(List<OpResult> results) {
    List<Object> out = new ArrayList<>();
    for (OpResult r : results) {
      Map<String, Object> m = obj("type", r.getType(), "class", r.getClass().getSimpleName());
      if (r instanceof OpResult.ErrorResult) m.put("err", ((OpResult.ErrorResult) r).getErr());
      if (r instanceof OpResult.CreateResult) {
        m.put("path", ((OpResult.CreateResult) r).getPath());
        Stat st = ((OpResult.CreateResult) r).getStat();
        m.put("hasStat", st != null);
      }
      if (r instanceof OpResult.SetDataResult) m.put("version", ((OpResult.SetDataResult) r).getStat().getVersion());
      if (r instanceof OpResult.GetDataResult) {
        m.put("data", ((OpResult.GetDataResult) r).getData());
        m.put("version", ((OpResult.GetDataResult) r).getStat().getVersion());
      }
      if (r instanceof OpResult.GetChildrenResult) {
        List<String> c = new ArrayList<>(((OpResult.GetChildrenResult) r).getChildren());
        Collections.sort(c);
        m.put("children", c);
      }
      out.add(m);
    }
    return out;
  }

  // ------------------------------------------------------------------ steps

  interface Action { Object run() throws Exception; }

  /** Runs an action and prints its value or its KeeperException code. */
  static Object step(String name, Action action) {
    try {
      Object value = action.run();
      emit(obj("ev", "step", "step", name, "ok", true, "value", value));
      return value;
    } catch (KeeperException e) {
      Map<String, Object> line = obj("ev", "step", "step", name, "ok", false, "code", e.code().intValue(),
          "codeName", e.code().name());
      if (e.getResults() != null) line.put("results", opResults(e.getResults()));
      emit(line);
      return null;
    } catch (Exception e) {
      emit(obj("ev", "step", "step", name, "ok", false, "code", null, "codeName", "EXCEPTION",
          "exception", e.getClass().getName() + ": " + e.getMessage()));
      return null;
    }
  }

  static void fail(String message) {
    emit(obj("ev", "fatal", "message", message));
    System.exit(2);
  }

  // ------------------------------------------------------------------ watches

  /** Collects watch events from every watcher of the run, in delivery order. */
  static final List<Map<String, Object>> events = new CopyOnWriteArrayList<>();

  static final class Recorder implements Watcher {
    final String name;
    Recorder(String name) { this.name = name; }
    @Override public void process(WatchedEvent e) {
      Map<String, Object> line = obj("ev", "watch", "w", name, "type", e.getType().name(), "path", e.getPath(),
          "state", e.getState().name());
      events.add(line);
      emit(line);
    }
  }

  static Map<String, Object> awaitEvent(Predicate<Map<String, Object>> p, String what) throws InterruptedException {
    long deadline = System.currentTimeMillis() + WAIT_MS;
    while (System.currentTimeMillis() < deadline) {
      for (Map<String, Object> e : events) if (p.test(e)) return e;
      Thread.sleep(10);
    }
    fail("timed out waiting for " + what);
    return null;
  }

  static long count(Predicate<Map<String, Object>> p) {
    return events.stream().filter(p).count();
  }

  static void awaitCount(Predicate<Map<String, Object>> p, long n, String what) throws InterruptedException {
    long deadline = System.currentTimeMillis() + WAIT_MS;
    while (System.currentTimeMillis() < deadline) {
      if (count(p) >= n) return;
      Thread.sleep(10);
    }
    fail("timed out waiting for " + n + " x " + what);
  }

  static Predicate<Map<String, Object>> state(String watcher, String state) {
    return e -> watcher.equals(e.get("w")) && "None".equals(e.get("type")) && state.equals(e.get("state"));
  }

  static Map<String, Object> awaitWatch(String watcher, String type, String path) throws InterruptedException {
    return awaitEvent(e -> watcher.equals(e.get("w")) && type.equals(e.get("type"))
        && (path == null ? e.get("path") == null : path.equals(e.get("path"))), watcher + " " + type + " " + path);
  }

  /**
   * A barrier on the watching connection: every notification caused by a write
   * that completed before the fence node was created arrives before the fence's
   * own NodeCreated, because a connection's notifications follow txn order.
   */
  static void fence(ZooKeeper watching, ZooKeeper writer, String base) throws Exception {
    String path = base + "/fence-" + fenceCounter.incrementAndGet();
    watching.exists(path, new Recorder("fence"));
    writer.create(path, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
    awaitWatch("fence", "NodeCreated", path);
  }

  // ------------------------------------------------------------------ connections

  static ZooKeeper connect(String name, String hosts, int timeoutMs) throws Exception {
    CountDownLatch connected = new CountDownLatch(1);
    Recorder recorder = new Recorder(name);
    ZooKeeper zk = new ZooKeeper(hosts, timeoutMs, e -> {
      recorder.process(e);
      if (e.getState() == Watcher.Event.KeeperState.SyncConnected) connected.countDown();
    });
    if (!connected.await(WAIT_MS, TimeUnit.MILLISECONDS)) fail(name + " did not connect to " + hosts);
    return zk;
  }

  static ZooKeeper connect(String name) throws Exception {
    return connect(name, connectString, 30_000);
  }

  static byte[] b(String s) { return s == null ? null : s.getBytes(StandardCharsets.UTF_8); }

  static final List<ACL> OPEN = ZooDefs.Ids.OPEN_ACL_UNSAFE;

  static void ensure(ZooKeeper zk, String path) throws Exception {
    try {
      zk.create(path, new byte[0], OPEN, CreateMode.PERSISTENT);
    } catch (KeeperException.NodeExistsException ignored) {
      // A rerun on the same server.
    }
  }

  // ------------------------------------------------------------------ TCP proxy

  /**
   * A proxy in front of the server that can cut every connection and refuse new
   * ones, so the client stops pinging without sending closeSession (exactly what
   * a crashed or partitioned client looks like to the server).
   */
  static final class Proxy {
    final String targetHost;
    final int targetPort;
    volatile ServerSocket listener;
    final List<Socket> sockets = new CopyOnWriteArrayList<>();
    int port;

    Proxy(String target) throws IOException {
      String[] parts = target.split(":");
      targetHost = parts[0];
      targetPort = Integer.parseInt(parts[1]);
      open(0);
    }

    String hosts() { return "127.0.0.1:" + port; }

    synchronized void open(int wanted) throws IOException {
      ServerSocket ss = new ServerSocket();
      ss.setReuseAddress(true);
      ss.bind(new InetSocketAddress("127.0.0.1", wanted));
      port = ss.getLocalPort();
      listener = ss;
      Thread t = new Thread(() -> acceptLoop(ss), "proxy-accept");
      t.setDaemon(true);
      t.start();
    }

    void acceptLoop(ServerSocket ss) {
      while (!ss.isClosed()) {
        try {
          Socket client = ss.accept();
          Socket upstream = new Socket(targetHost, targetPort);
          sockets.add(client);
          sockets.add(upstream);
          pump(client, upstream);
          pump(upstream, client);
        } catch (IOException e) {
          return;
        }
      }
    }

    void pump(Socket from, Socket to) {
      Thread t = new Thread(() -> {
        byte[] buf = new byte[65536];
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
          int n;
          while ((n = in.read(buf)) >= 0) out.write(buf, 0, n);
        } catch (IOException ignored) {
          // Cut by cut() or by the peer.
        } finally {
          closeQuietly(from);
          closeQuietly(to);
        }
      }, "proxy-pump");
      t.setDaemon(true);
      t.start();
    }

    /** Closes the listener and every proxied connection. */
    synchronized void cut() {
      closeQuietly(listener);
      for (Socket s : sockets) closeQuietly(s);
      sockets.clear();
    }

    synchronized void restore() throws IOException { open(port); }

    static void closeQuietly(java.io.Closeable c) {
      try { if (c != null) c.close(); } catch (IOException ignored) { }
    }
  }

  // ------------------------------------------------------------------ scenarios

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: ZkDriver host:port scenario [args...]");
      System.exit(64);
    }
    connectString = args[0];
    String scenario = args[1];
    String[] rest = Arrays.copyOfRange(args, 2, args.length);
    switch (scenario) {
      case "nodes": nodes(rest[0]); break;
      case "watches": watches(rest[0]); break;
      case "persistent": persistentWatches(rest[0]); break;
      case "acl": acl(rest[0], rest[1]); break;
      case "multi": multi(rest[0]); break;
      case "misc": misc(rest[0]); break;
      case "expire": expire(rest[0], Integer.parseInt(rest[1])); break;
      case "resume": resume(rest[0]); break;
      default: fail("unknown scenario " + scenario);
    }
    emit(obj("ev", "done"));
    System.exit(0);
  }

  /** Every create mode, with the Stat each returns. */
  static void nodes(String base) throws Exception {
    ZooKeeper zk = connect("main");
    ensure(zk, base);
    step("sessionId", () -> "0x" + Long.toHexString(zk.getSessionId()));
    step("persistent", () -> {
      Stat st = new Stat();
      String p = zk.create(base + "/p", b("pdata"), OPEN, CreateMode.PERSISTENT, st);
      return obj("path", p, "stat", st);
    });
    step("persistentExists", () -> zk.create(base + "/p", b("x"), OPEN, CreateMode.PERSISTENT));
    step("ephemeral", () -> {
      Stat st = new Stat();
      String p = zk.create(base + "/e", b("edata"), OPEN, CreateMode.EPHEMERAL, st);
      return obj("path", p, "stat", st);
    });
    step("ephemeralChild", () -> zk.create(base + "/e/child", b(""), OPEN, CreateMode.PERSISTENT));
    step("seq1", () -> zk.create(base + "/p/s-", b("1"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
    step("seq2", () -> zk.create(base + "/p/s-", b("2"), OPEN, CreateMode.EPHEMERAL_SEQUENTIAL));
    step("plain", () -> zk.create(base + "/p/plain", b("3"), OPEN, CreateMode.PERSISTENT));
    step("deleteSeq1", () -> { zk.delete(base + "/p/s-0000000000", -1); return null; });
    step("seq3", () -> zk.create(base + "/p/s-", b("4"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
    step("seqTrailingSlash", () -> zk.create(base + "/p/", b("5"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
    step("parentStat", () -> zk.exists(base + "/p", false));
    step("children", () -> {
      List<String> c = new ArrayList<>(zk.getChildren(base + "/p", false));
      Collections.sort(c);
      return c;
    });
    step("container", () -> {
      Stat st = new Stat();
      String p = zk.create(base + "/c", b("cdata"), OPEN, CreateMode.CONTAINER, st);
      return obj("path", p, "stat", st);
    });
    step("containerChild", () -> zk.create(base + "/c/child", b(""), OPEN, CreateMode.EPHEMERAL));
    step("containerStat", () -> zk.exists(base + "/c", false));
    step("ttl", () -> {
      Stat st = new Stat();
      String p = zk.create(base + "/t", b("tdata"), OPEN, CreateMode.PERSISTENT_WITH_TTL, st, 60_000);
      return obj("path", p, "stat", st);
    });
    step("ttlSequential", () -> {
      Stat st = new Stat();
      String p = zk.create(base + "/t/s-", b(""), OPEN, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, st, 60_000);
      return obj("path", p, "stat", st);
    });
    step("noParent", () -> zk.create(base + "/missing/child", b(""), OPEN, CreateMode.PERSISTENT));
    step("nullData", () -> {
      zk.create(base + "/null", null, OPEN, CreateMode.PERSISTENT);
      Stat st = new Stat();
      byte[] d = zk.getData(base + "/null", false, st);
      return obj("isNull", d == null, "dataLength", st.getDataLength());
    });
    step("emptyData", () -> {
      zk.create(base + "/empty", new byte[0], OPEN, CreateMode.PERSISTENT);
      byte[] d = zk.getData(base + "/empty", false, null);
      return obj("isNull", d == null, "length", d == null ? -1 : d.length);
    });
    step("setData", () -> zk.setData(base + "/p", b("v1"), 0));
    step("setDataBadVersion", () -> zk.setData(base + "/p", b("v2"), 0));
    step("getData", () -> {
      Stat st = new Stat();
      byte[] d = zk.getData(base + "/p", false, st);
      return obj("data", d, "stat", st);
    });
    step("deleteNotEmpty", () -> { zk.delete(base + "/p", -1); return null; });
    step("deleteBadVersion", () -> { zk.delete(base + "/empty", 5); return null; });
    step("deleteMissing", () -> { zk.delete(base + "/nope", -1); return null; });
    step("deleteZookeeper", () -> { zk.delete("/zookeeper", -1); return null; });
    step("zookeeperConfigStat", () -> zk.exists("/zookeeper/config", false));
    step("zookeeperQuotaExists", () -> zk.exists("/zookeeper/quota", false) != null);
    zk.close();
  }

  /** One-shot data, exist and child watches, with exact event types and paths. */
  static void watches(String base) throws Exception {
    ZooKeeper watching = connect("watching");
    ZooKeeper writer = connect("writer");
    ensure(writer, base);
    writer.create(base + "/d", b("0"), OPEN, CreateMode.PERSISTENT);
    writer.create(base + "/kids", b(""), OPEN, CreateMode.PERSISTENT);

    step("getDataWatch", () -> new String(watching.getData(base + "/d", new Recorder("data"), null), StandardCharsets.UTF_8));
    step("existsWatchMissing", () -> watching.exists(base + "/later", new Recorder("exists")));
    step("existsWatchPresent", () -> watching.exists(base + "/d", new Recorder("existsPresent")) != null);
    step("childWatch", () -> watching.getChildren(base + "/kids", new Recorder("child")));
    step("getDataMissingWatch", () -> watching.getData(base + "/never", new Recorder("dataMissing"), null));
    step("childWatchMissing", () -> watching.getChildren(base + "/never", new Recorder("childMissing")));

    // Phase 1: each watch fires once.
    writer.setData(base + "/d", b("1"), -1);
    writer.create(base + "/later", b(""), OPEN, CreateMode.PERSISTENT);
    writer.create(base + "/kids/a", b(""), OPEN, CreateMode.PERSISTENT);
    fence(watching, writer, base);
    emit(obj("ev", "mark", "mark", "phase1"));

    // Phase 2: the same changes again fire nothing (one-shot), except the node
    // never watched before.
    writer.setData(base + "/d", b("2"), -1);
    writer.delete(base + "/later", -1);
    writer.create(base + "/kids/b", b(""), OPEN, CreateMode.PERSISTENT);
    writer.create(base + "/never", b(""), OPEN, CreateMode.PERSISTENT);
    fence(watching, writer, base);
    emit(obj("ev", "mark", "mark", "phase2"));

    // Phase 3: deletions: data watch, exists watch and child watch on the deleted
    // node get NodeDeleted; the parent's child watch gets NodeChildrenChanged.
    watching.getData(base + "/kids/a", new Recorder("dataOnDeleted"), null);
    watching.exists(base + "/kids/a", new Recorder("existsOnDeleted"));
    watching.getChildren(base + "/kids/a", new Recorder("childOnDeleted"));
    watching.getChildren(base + "/kids", new Recorder("parentChild"));
    writer.delete(base + "/kids/a", -1);
    fence(watching, writer, base);
    emit(obj("ev", "mark", "mark", "phase3"));

    // Phase 4: a watch set by the writing connection itself fires before the
    // write's reply returns.
    // The async callback runs on the same event thread as watchers, in arrival
    // order, so it sees the watch event only if its frame came first.
    writer.getData(base + "/d", new Recorder("self"), null);
    CountDownLatch replied = new CountDownLatch(1);
    long[] seenAtReply = { -1 };
    writer.setData(base + "/d", b("3"), -1, (rc, path, ctx, st) -> {
      seenAtReply[0] = count(e -> "self".equals(e.get("w")));
      replied.countDown();
    }, null);
    if (!replied.await(WAIT_MS, TimeUnit.MILLISECONDS)) fail("setData reply");
    emit(obj("ev", "mark", "mark", "selfReplied", "eventsSeen", seenAtReply[0]));
    fence(watching, writer, base);

    // Phase 5: setACL and sync fire nothing; children of root fire on "/".
    watching.getData(base + "/d", new Recorder("aclData"), null);
    writer.setACL(base + "/d", OPEN, -1);
    CountDownLatch synced = new CountDownLatch(1);
    writer.sync(base + "/d", (rc, path, ctx) -> synced.countDown(), null);
    synced.await(WAIT_MS, TimeUnit.MILLISECONDS);
    fence(watching, writer, base);
    emit(obj("ev", "mark", "mark", "phase5"));
    watching.close();
    writer.close();
  }

  /** addWatch PERSISTENT and PERSISTENT_RECURSIVE, then removal. */
  static void persistentWatches(String base) throws Exception {
    ZooKeeper watching = connect("watching");
    ZooKeeper writer = connect("writer");
    ensure(writer, base);
    Recorder persistent = new Recorder("persistent");
    Recorder recursive = new Recorder("recursive");
    step("addPersistent", () -> { watching.addWatch(base + "/p", persistent, AddWatchMode.PERSISTENT); return null; });
    step("addRecursive", () -> { watching.addWatch(base + "/r", recursive, AddWatchMode.PERSISTENT_RECURSIVE); return null; });

    writer.create(base + "/p", b(""), OPEN, CreateMode.PERSISTENT);
    writer.setData(base + "/p", b("1"), -1);
    writer.create(base + "/p/c", b(""), OPEN, CreateMode.PERSISTENT);
    writer.setData(base + "/p/c", b("1"), -1);
    writer.delete(base + "/p/c", -1);
    writer.delete(base + "/p", -1);
    writer.create(base + "/p", b(""), OPEN, CreateMode.PERSISTENT);

    writer.create(base + "/r", b(""), OPEN, CreateMode.PERSISTENT);
    writer.create(base + "/r/a", b(""), OPEN, CreateMode.PERSISTENT);
    writer.create(base + "/r/a/b", b(""), OPEN, CreateMode.PERSISTENT);
    writer.setData(base + "/r/a/b", b("x"), -1);
    writer.setData(base + "/r", b("x"), -1);
    writer.delete(base + "/r/a/b", -1);
    writer.create(base + "/rx", b(""), OPEN, CreateMode.PERSISTENT);
    fence(watching, writer, base);
    emit(obj("ev", "mark", "mark", "fired"));

    step("removePersistent", () -> { watching.removeWatches(base + "/p", persistent, Watcher.WatcherType.Any, false); return null; });
    step("removeRecursive", () -> { watching.removeWatches(base + "/r", recursive, Watcher.WatcherType.Any, false); return null; });
    writer.setData(base + "/p", b("2"), -1);
    writer.create(base + "/r/after", b(""), OPEN, CreateMode.PERSISTENT);
    fence(watching, writer, base);
    emit(obj("ev", "mark", "mark", "removed"));

    // A persistent watch on "/" sees the creation as NodeChildrenChanged on "/";
    // a recursive watch on base sees descendants at any depth.
    Recorder deep = new Recorder("deep");
    step("addRecursiveBase", () -> { watching.addWatch(base, deep, AddWatchMode.PERSISTENT_RECURSIVE); return null; });
    writer.create(base + "/r/after/deeper", b(""), OPEN, CreateMode.EPHEMERAL);
    writer.delete(base + "/r/after/deeper", -1);
    fence(watching, writer, base);
    emit(obj("ev", "mark", "mark", "deep"));
    watching.close();
    writer.close();
  }

  /** ACL schemes and the permission each op needs. */
  static void acl(String base, String superSecret) throws Exception {
    ZooKeeper admin = connect("admin");
    admin.addAuthInfo("digest", b("super:" + superSecret));
    ZooKeeper user = connect("user");
    user.addAuthInfo("digest", b("alice:pw-alice"));
    ZooKeeper other = connect("other");
    other.addAuthInfo("digest", b("bob:pw-bob"));
    ZooKeeper anon = connect("anon");
    ensure(admin, base);

    step("whoAmIUser", () -> clientInfo(user.whoAmI()));
    step("whoAmIAnon", () -> clientInfo(anon.whoAmI()));
    step("whoAmISuper", () -> clientInfo(admin.whoAmI()));

    // auth scheme: expands to the caller's authenticated ids.
    step("authCreate", () -> user.create(base + "/auth", b("secret"), ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
    step("authAcl", () -> acls(user.getACL(base + "/auth", new Stat())));
    step("authCreateAnon", () -> anon.create(base + "/auth-anon", b(""), ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
    step("authOwnerRead", () -> new String(user.getData(base + "/auth", false, null), StandardCharsets.UTF_8));
    step("authOtherRead", () -> other.getData(base + "/auth", false, null));
    step("authAnonRead", () -> anon.getData(base + "/auth", false, null));
    step("authOtherWrite", () -> other.setData(base + "/auth", b("x"), -1));
    step("authOtherCreate", () -> other.create(base + "/auth/c", b(""), OPEN, CreateMode.PERSISTENT));
    step("authOtherChildren", () -> other.getChildren(base + "/auth", false));
    step("authOtherSetAcl", () -> other.setACL(base + "/auth", OPEN, -1));
    step("authOtherGetAcl", () -> acls(other.getACL(base + "/auth", new Stat())));
    step("authOtherExists", () -> other.exists(base + "/auth", false) != null);
    step("superRead", () -> new String(admin.getData(base + "/auth", false, null), StandardCharsets.UTF_8));
    step("superWrite", () -> admin.setData(base + "/auth", b("by-super"), -1).getVersion());

    // digest scheme given explicitly.
    String aliceDigest = "alice:" + org.apache.zookeeper.server.auth.DigestAuthenticationProvider
        .generateDigest("alice:pw-alice").split(":")[1];
    List<ACL> digestAcl = Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("digest", aliceDigest)));
    step("digestCreate", () -> anon.create(base + "/digest", b("d"), digestAcl, CreateMode.PERSISTENT));
    step("digestUserRead", () -> new String(user.getData(base + "/digest", false, null), StandardCharsets.UTF_8));
    step("digestOtherRead", () -> other.getData(base + "/digest", false, null));
    step("digestAnonRead", () -> anon.getData(base + "/digest", false, null));
    step("digestBadId", () -> anon.create(base + "/digest-bad", b(""),
        Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("digest", "no-colon"))), CreateMode.PERSISTENT));

    // world scheme other than anyone, unknown scheme, empty list.
    step("worldBadId", () -> anon.create(base + "/world-bad", b(""),
        Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("world", "someone"))), CreateMode.PERSISTENT));
    step("unknownScheme", () -> anon.create(base + "/scheme-bad", b(""),
        Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("nosuch", "x"))), CreateMode.PERSISTENT));
    step("emptyAcl", () -> anon.create(base + "/empty-acl", b(""), new ArrayList<>(), CreateMode.PERSISTENT));

    // ip scheme.
    step("ipLocal", () -> anon.create(base + "/ip-ok", b("ip"),
        Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("ip", "127.0.0.1"))), CreateMode.PERSISTENT));
    step("ipLocalRead", () -> new String(anon.getData(base + "/ip-ok", false, null), StandardCharsets.UTF_8));
    step("ipRange", () -> anon.create(base + "/ip-range", b("ip"),
        Collections.singletonList(new ACL(ZooDefs.Perms.READ, new Id("ip", "127.0.0.0/8"))), CreateMode.PERSISTENT));
    step("ipRangeRead", () -> new String(anon.getData(base + "/ip-range", false, null), StandardCharsets.UTF_8));
    step("ipRangeWrite", () -> anon.setData(base + "/ip-range", b("x"), -1));
    step("ipOther", () -> anon.create(base + "/ip-other", b("ip"),
        Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("ip", "10.1.2.3"))), CreateMode.PERSISTENT));
    step("ipOtherRead", () -> anon.getData(base + "/ip-other", false, null));
    step("ipBadId", () -> anon.create(base + "/ip-bad", b(""),
        Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("ip", "not-an-ip"))), CreateMode.PERSISTENT));

    // Permission matrix: a node whose only ACL entry is world:anyone with one
    // bit, a child made by super, and every op tried by an anonymous client.
    int[] bits = { ZooDefs.Perms.READ, ZooDefs.Perms.WRITE, ZooDefs.Perms.CREATE, ZooDefs.Perms.DELETE, ZooDefs.Perms.ADMIN };
    String[] names = { "READ", "WRITE", "CREATE", "DELETE", "ADMIN" };
    for (int i = 0; i < bits.length; i++) {
      String node = base + "/only-" + names[i];
      List<ACL> only = Collections.singletonList(new ACL(bits[i], ZooDefs.Ids.ANYONE_ID_UNSAFE));
      admin.create(node, b("m"), only, CreateMode.PERSISTENT);
      admin.create(node + "/child", b(""), OPEN, CreateMode.PERSISTENT);
      String p = "perm." + names[i] + ".";
      step(p + "getData", () -> new String(anon.getData(node, false, null), StandardCharsets.UTF_8));
      step(p + "exists", () -> anon.exists(node, false) != null);
      step(p + "getChildren", () -> anon.getChildren(node, false).size());
      step(p + "getAllChildrenNumber", () -> anon.getAllChildrenNumber(node));
      step(p + "getACL", () -> acls(anon.getACL(node, new Stat())).size());
      step(p + "setData", () -> anon.setData(node, b("w"), -1).getVersion());
      step(p + "create", () -> anon.create(node + "/new", b(""), OPEN, CreateMode.PERSISTENT));
      step(p + "delete", () -> { anon.delete(node + "/child", -1); return "deleted"; });
      step(p + "setACL", () -> anon.setACL(node, only, -1).getAversion());
      step(p + "multiCheck", () -> opResults(anon.multi(Arrays.asList(Op.check(node, -1)))));
    }

    // An ACL entry lacking ADMIN: getACL shows digest ids masked or not.
    step("getAclMaskCreate", () -> admin.create(base + "/mask", b(""), Arrays.asList(
        new ACL(ZooDefs.Perms.READ, ZooDefs.Ids.ANYONE_ID_UNSAFE),
        new ACL(ZooDefs.Perms.ALL, new Id("digest", aliceDigest))), CreateMode.PERSISTENT));
    step("getAclMaskAnon", () -> acls(anon.getACL(base + "/mask", new Stat())));
    step("getAclMaskOwner", () -> acls(user.getACL(base + "/mask", new Stat())));

    // Failed auth: unknown scheme closes the connection with AuthFailed.
    ZooKeeper bad = connect("bad");
    bad.addAuthInfo("nosuch", b("whatever"));
    awaitEvent(e -> "bad".equals(e.get("w")) && "AuthFailed".equals(e.get("state")), "AuthFailed");
    step("afterAuthFailed", () -> bad.exists(base, false) != null);
    bad.close();

    admin.close();
    user.close();
    other.close();
    anon.close();
  }

  static List<Object> clientInfo(List<ClientInfo> infos) {
    List<Object> out = new ArrayList<>();
    for (ClientInfo ci : infos) out.add(obj("scheme", ci.getAuthScheme(), "user", ci.getUser()));
    return out;
  }

  /** multi (all-or-nothing, per-op results) and multiRead. */
  static void multi(String base) throws Exception {
    ZooKeeper zk = connect("main");
    ensure(zk, base);
    zk.create(base + "/a", b("a0"), OPEN, CreateMode.PERSISTENT);

    step("multiOk", () -> opResults(zk.multi(Arrays.asList(
        Op.create(base + "/b", b("b0"), OPEN, CreateMode.PERSISTENT),
        Op.create(base + "/s-", b(""), OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
        Op.setData(base + "/a", b("a1"), 0),
        Op.check(base + "/b", 0),
        Op.create(base + "/c", b(""), OPEN, CreateMode.CONTAINER),
        Op.create(base + "/t", b(""), OPEN, CreateMode.PERSISTENT_WITH_TTL, 60_000),
        Op.delete(base + "/b", 0)))));
    step("afterOk", () -> obj("a", new String(zk.getData(base + "/a", false, null), StandardCharsets.UTF_8),
        "bExists", zk.exists(base + "/b", false) != null, "cExists", zk.exists(base + "/c", false) != null));

    step("multiBadVersion", () -> opResults(zk.multi(Arrays.asList(
        Op.create(base + "/x", b(""), OPEN, CreateMode.PERSISTENT),
        Op.setData(base + "/a", b("never"), 99),
        Op.create(base + "/y", b(""), OPEN, CreateMode.PERSISTENT)))));
    step("multiNoNode", () -> opResults(zk.multi(Arrays.asList(
        Op.delete(base + "/missing", -1),
        Op.create(base + "/x", b(""), OPEN, CreateMode.PERSISTENT)))));
    step("multiNodeExists", () -> opResults(zk.multi(Arrays.asList(
        Op.create(base + "/x", b(""), OPEN, CreateMode.PERSISTENT),
        Op.setData(base + "/a", b("never"), -1),
        Op.create(base + "/a", b(""), OPEN, CreateMode.PERSISTENT)))));
    step("multiCheckFails", () -> opResults(zk.multi(Arrays.asList(
        Op.check(base + "/a", 0),
        Op.create(base + "/x", b(""), OPEN, CreateMode.PERSISTENT)))));
    step("afterFailed", () -> obj("a", new String(zk.getData(base + "/a", false, null), StandardCharsets.UTF_8),
        "version", zk.exists(base + "/a", false).getVersion(),
        "xExists", zk.exists(base + "/x", false) != null, "yExists", zk.exists(base + "/y", false) != null));
    // Ops within one multi see each other's effects.
    step("multiDependent", () -> opResults(zk.multi(Arrays.asList(
        Op.create(base + "/dep", b(""), OPEN, CreateMode.PERSISTENT),
        Op.create(base + "/dep/child", b(""), OPEN, CreateMode.PERSISTENT),
        Op.check(base + "/dep", 0),
        Op.setData(base + "/dep/child", b("1"), 0),
        Op.delete(base + "/dep/child", 1)))));
    step("multiRead", () -> opResults(zk.multi(Arrays.asList(
        Op.getData(base + "/a"),
        Op.getChildren(base + "/dep"),
        Op.getData(base + "/missing"),
        Op.getChildren(base)))));
    step("multiEmpty", () -> opResults(zk.multi(new ArrayList<>())));
    zk.close();
  }

  /** getEphemerals, getAllChildrenNumber, whoAmI, sync, cversion. */
  static void misc(String base) throws Exception {
    ZooKeeper zk = connect("main");
    ZooKeeper other = connect("other");
    ensure(zk, base);
    zk.create(base + "/tree", b(""), OPEN, CreateMode.PERSISTENT);
    zk.create(base + "/tree/a", b(""), OPEN, CreateMode.PERSISTENT);
    zk.create(base + "/tree/a/b", b(""), OPEN, CreateMode.PERSISTENT);
    zk.create(base + "/tree/a/b/c", b(""), OPEN, CreateMode.PERSISTENT);
    zk.create(base + "/tree/d", b(""), OPEN, CreateMode.PERSISTENT);
    zk.create(base + "/tree/e1", b(""), OPEN, CreateMode.EPHEMERAL);
    zk.create(base + "/tree/a/e2", b(""), OPEN, CreateMode.EPHEMERAL);
    zk.create(base + "/eph-", b(""), OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
    other.create(base + "/tree/other", b(""), OPEN, CreateMode.EPHEMERAL);
    zk.create(base + "/tree/cont", b(""), OPEN, CreateMode.CONTAINER);
    zk.create(base + "/tree/ttl", b(""), OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 60_000);

    step("allChildrenNumber", () -> zk.getAllChildrenNumber(base + "/tree"));
    step("allChildrenNumberLeaf", () -> zk.getAllChildrenNumber(base + "/tree/a/b/c"));
    step("allChildrenNumberMissing", () -> zk.getAllChildrenNumber(base + "/none"));
    step("ephemeralsAll", () -> sorted(zk.getEphemerals()));
    step("ephemeralsSlash", () -> sorted(zk.getEphemerals("/")));
    step("ephemeralsPrefix", () -> sorted(zk.getEphemerals(base + "/tree/a")));
    step("ephemeralsStringPrefix", () -> sorted(zk.getEphemerals(base + "/eph")));
    step("ephemeralsOther", () -> sorted(other.getEphemerals()));
    step("whoAmI", () -> clientInfo(zk.whoAmI()));
    step("sync", () -> {
      CountDownLatch done = new CountDownLatch(1);
      Object[] out = new Object[2];
      zk.sync(base + "/tree", (rc, path, ctx) -> {
        out[0] = rc;
        out[1] = path;
        done.countDown();
      }, null);
      if (!done.await(WAIT_MS, TimeUnit.MILLISECONDS)) throw new IllegalStateException("sync timed out");
      return obj("rc", out[0], "path", out[1]);
    });
    step("syncMissing", () -> {
      CountDownLatch done = new CountDownLatch(1);
      Object[] out = new Object[2];
      zk.sync(base + "/none", (rc, path, ctx) -> {
        out[0] = rc;
        out[1] = path;
        done.countDown();
      }, null);
      if (!done.await(WAIT_MS, TimeUnit.MILLISECONDS)) throw new IllegalStateException("sync timed out");
      return obj("rc", out[0], "path", out[1]);
    });
    // cversion counts creations + deletions; sequence numbers only creations.
    zk.create(base + "/cv", b(""), OPEN, CreateMode.PERSISTENT);
    zk.create(base + "/cv/a", b(""), OPEN, CreateMode.PERSISTENT);
    zk.create(base + "/cv/b", b(""), OPEN, CreateMode.PERSISTENT);
    zk.delete(base + "/cv/a", -1);
    step("cversion", () -> zk.exists(base + "/cv", false));
    step("cversionSeq", () -> zk.create(base + "/cv/s-", b(""), OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
    step("getChildren2", () -> {
      Stat st = new Stat();
      List<String> c = sorted(zk.getChildren(base + "/cv", false, st));
      return obj("children", c, "stat", st);
    });
    step("ephemeralOwnerMatches", () -> Long.toHexString(zk.exists(base + "/tree/e1", false).getEphemeralOwner())
        .equals(Long.toHexString(zk.getSessionId())));
    step("negotiatedTimeout", () -> zk.getSessionTimeout());
    zk.close();
    step("afterCloseEphemeralsGone", () -> obj("e1", other.exists(base + "/tree/e1", false) != null,
        "e2", other.exists(base + "/tree/a/e2", false) != null,
        "otherStill", other.exists(base + "/tree/other", false) != null));
    other.close();
  }

  static List<String> sorted(List<String> in) {
    List<String> c = new ArrayList<>(in);
    Collections.sort(c);
    return c;
  }

  /** The client stops pinging without closeSession; the session must expire. */
  static void expire(String base, int timeoutMs) throws Exception {
    ZooKeeper observer = connect("observer");
    ensure(observer, base);
    Proxy proxy = new Proxy(connectString);
    ZooKeeper victim = connect("victim", proxy.hosts(), timeoutMs);
    long sid = victim.getSessionId();
    step("negotiated", () -> victim.getSessionTimeout());
    step("createEphemeral", () -> victim.create(base + "/eph", b(""), OPEN, CreateMode.EPHEMERAL));
    step("createEphemeralSeq", () -> victim.create(base + "/eph-", b(""), OPEN, CreateMode.EPHEMERAL_SEQUENTIAL));
    step("observerWatch", () -> observer.exists(base + "/eph", new Recorder("gone")) != null);

    long cutAt = System.currentTimeMillis();
    proxy.cut();
    emit(obj("ev", "mark", "mark", "cut"));
    awaitEvent(state("victim", "Disconnected"), "victim Disconnected");
    awaitWatch("gone", "NodeDeleted", base + "/eph");
    long elapsed = System.currentTimeMillis() - cutAt;
    step("expiredAfterMs", () -> elapsed);
    step("ephemeralsLeft", () -> observer.getChildren(base, false));

    // The client comes back with its old id and password and learns of expiry.
    proxy.restore();
    awaitEvent(state("victim", "Expired"), "victim Expired");
    step("victimAfterExpiry", () -> victim.exists(base, false) != null);
    step("sessionIdHex", () -> "0x" + Long.toHexString(sid));
    victim.close();
    observer.close();
  }

  /** Session resume on a new connection with id+password; wrong password; SetWatches. */
  static void resume(String base) throws Exception {
    ZooKeeper writer = connect("writer");
    ensure(writer, base);
    writer.create(base + "/w", b("0"), OPEN, CreateMode.PERSISTENT);
    writer.create(base + "/kids", b(""), OPEN, CreateMode.PERSISTENT);

    // Part 1: the same client object reconnects after a cut and re-arms its
    // watches (SetWatches / SetWatches2); changes made meanwhile fire then.
    Proxy proxy = new Proxy(connectString);
    ZooKeeper first = connect("first", proxy.hosts(), 20_000);
    long sid = first.getSessionId();
    byte[] pw = first.getSessionPasswd();
    step("ephemeral", () -> first.create(base + "/eph", b(""), OPEN, CreateMode.EPHEMERAL));
    first.getData(base + "/w", new Recorder("dataW"), null);
    first.exists(base + "/absent", new Recorder("existsAbsent"));
    first.getChildren(base + "/kids", new Recorder("kids"));
    first.exists(base + "/unchanged", new Recorder("unchanged"));
    first.addWatch(base + "/kids", new Recorder("recursive"), AddWatchMode.PERSISTENT_RECURSIVE);
    proxy.cut();
    awaitEvent(state("first", "Disconnected"), "first Disconnected");
    writer.setData(base + "/w", b("1"), -1);
    writer.create(base + "/absent", b(""), OPEN, CreateMode.PERSISTENT);
    writer.create(base + "/kids/missed", b(""), OPEN, CreateMode.PERSISTENT);
    emit(obj("ev", "mark", "mark", "changedWhileAway"));
    proxy.restore();
    awaitCount(state("first", "SyncConnected"), 2, "first reconnected");
    awaitWatch("dataW", "NodeDataChanged", base + "/w");
    awaitWatch("existsAbsent", "NodeCreated", base + "/absent");
    awaitWatch("kids", "NodeChildrenChanged", base + "/kids");
    step("sameSession", () -> first.getSessionId() == sid);
    writer.create(base + "/kids/after", b(""), OPEN, CreateMode.PERSISTENT);
    fence(first, writer, base);
    emit(obj("ev", "mark", "mark", "rearmed"));

    // Part 2: a brand-new client object resumes the session by id + password.
    proxy.cut();
    awaitCount(state("first", "Disconnected"), 2, "first disconnected twice");
    CountDownLatch resumed = new CountDownLatch(1);
    Recorder second = new Recorder("second");
    ZooKeeper again = new ZooKeeper(connectString, 20_000, e -> {
      second.process(e);
      if (e.getState() == Watcher.Event.KeeperState.SyncConnected) resumed.countDown();
    }, sid, pw);
    if (!resumed.await(WAIT_MS, TimeUnit.MILLISECONDS)) fail("resume did not connect");
    step("resumedSameId", () -> again.getSessionId() == sid);
    step("resumedEphemeralOwner", () -> again.exists(base + "/eph", false).getEphemeralOwner() == sid);
    step("resumedEphemerals", () -> again.getEphemerals(base));
    step("resumedCreate", () -> again.create(base + "/eph2", b(""), OPEN, CreateMode.EPHEMERAL));

    // Part 3: wrong password and unknown session id are reported as Expired.
    byte[] wrong = pw.clone();
    wrong[0] ^= 0x5a;
    Recorder wrongRec = new Recorder("wrongPassword");
    ZooKeeper bad = new ZooKeeper(connectString, 20_000, wrongRec, sid, wrong);
    awaitEvent(e -> "wrongPassword".equals(e.get("w")) && "Expired".equals(e.get("state")), "wrong password Expired");
    bad.close();
    Recorder unknownRec = new Recorder("unknownSession");
    ZooKeeper unknown = new ZooKeeper(connectString, 20_000, unknownRec, sid ^ 0x7777L, pw);
    awaitEvent(e -> "unknownSession".equals(e.get("w")) && "Expired".equals(e.get("state")), "unknown session Expired");
    unknown.close();
    // The wrong password did not kill the real session.
    // (The wrong-password attempt may have closed `again`'s connection first;
    // the client reconnects by itself, so a connection loss is retried.)
    step("stillAlive", () -> {
      for (int attempt = 0; ; attempt++) {
        try {
          return again.exists(base + "/eph", false) != null;
        } catch (KeeperException.ConnectionLossException e) {
          if (attempt > 50) throw e;
          Thread.sleep(100);
        }
      }
    });

    // Part 4: closing the resumed session removes every ephemeral it owns.
    again.close();
    step("afterClose", () -> obj("eph", writer.exists(base + "/eph", false) != null,
        "eph2", writer.exists(base + "/eph2", false) != null));
    // `first` still spins against the cut proxy; closing it would wait for a
    // connection, so the process exit ends it.
    writer.close();
  }
}
