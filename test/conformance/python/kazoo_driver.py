"""Conformance driver for kazoo (Debian python3-kazoo), unmodified.

    /usr/bin/python3 kazoo_driver.py <host:port> <scenario> [args...]

Prints one JSON object per line, like ZkDriver.java:
    {"ev": "step", "step": NAME, "ok": true, "value": ...}
    {"ev": "step", "step": NAME, "ok": false, "error": "NoNodeError", "code": -101}
    {"ev": "watch", "w": NAME, "type": "CREATED", "path": "/x", "state": "CONNECTED"}
    {"ev": "state", "w": NAME, "state": "LOST"}
    {"ev": "done"}
"""
import json
import os
import socket
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, ZookeeperError
from kazoo.protocol.states import KazooState
from kazoo.recipe.counter import Counter
from kazoo.recipe.lock import Lock
from kazoo.security import OPEN_ACL_UNSAFE, make_acl, make_digest_acl

# Deadlines stretch with the test suite's (ZKTS_TEST_TIME_FACTOR).
WAIT_S = 15.0 * float(os.environ.get("ZKTS_TEST_TIME_FACTOR") or 1)
HOSTS = sys.argv[1]
_lock = threading.Lock()
events = []


def emit(line):
    with _lock:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


def jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if hasattr(value, "_asdict"):
        return {k: jsonable(v) for k, v in value._asdict().items()}
    return value


def step(name, action):
    try:
        value = action()
    except (ZookeeperError, KazooException) as error:
        emit({"ev": "step", "step": name, "ok": False, "error": type(error).__name__,
              "code": getattr(error, "code", None)})
        return None
    except Exception as error:  # pylint: disable=broad-except
        emit({"ev": "step", "step": name, "ok": False, "error": type(error).__name__,
              "code": None, "message": str(error)})
        return None
    emit({"ev": "step", "step": name, "ok": True, "value": jsonable(value)})
    return value


def fail(message):
    emit({"ev": "fatal", "message": message})
    sys.stdout.flush()
    import os
    os._exit(2)


def recorder(name):
    def watch(event):
        line = {"ev": "watch", "w": name, "type": event.type, "path": event.path, "state": event.state}
        with _lock:
            events.append(line)
        emit(line)
    return watch


def wait_until(predicate, what):
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        with _lock:
            if predicate(list(events)):
                return
        time.sleep(0.01)
    fail("timed out waiting for " + what)


def await_watch(name, typ, path):
    wait_until(lambda evs: any(e.get("w") == name and e.get("type") == typ and e.get("path") == path
                               for e in evs), "%s %s %s" % (name, typ, path))


def state_listener(name):
    def listener(state):
        line = {"ev": "state", "w": name, "state": state}
        with _lock:
            events.append(line)
        emit(line)
    return listener


def client(name, hosts=None, timeout=30.0, **kwargs):
    zk = KazooClient(hosts=hosts or HOSTS, timeout=timeout, **kwargs)
    zk.add_listener(state_listener(name))
    zk.start(timeout=WAIT_S)
    return zk


_fences = [0]


def fence(watching, writer, base):
    """All notifications for earlier writes reach `watching` before this one."""
    _fences[0] += 1
    path = "%s/fence-%d" % (base, _fences[0])
    watching.exists(path, watch=recorder("fence"))
    writer.create(path, ephemeral=True)
    await_watch("fence", "CREATED", path)


def mark(name):
    emit({"ev": "mark", "mark": name})


class Proxy(object):
    """TCP proxy that can cut all connections and refuse new ones."""

    def __init__(self, target):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.sockets = []
        self.port = 0
        self.listener = None
        self.open()

    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def open(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets.extend([conn, upstream])
            threading.Thread(target=self._pump, args=(conn, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, conn), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.sockets = []

    def restore(self):
        self.open()


# --------------------------------------------------------------------------- scenarios

def scenario_nodes(base):
    zk = client("main")
    zk.ensure_path(base)
    step("sessionId", lambda: "0x%x" % zk.client_id[0])
    step("create", lambda: zk.create(base + "/p", b"pdata"))
    step("createExists", lambda: zk.create(base + "/p", b"x"))
    step("createIncludeData", lambda: zk.create(base + "/q", b"qq", include_data=True))
    step("ephemeral", lambda: zk.create(base + "/e", b"", ephemeral=True))
    step("ephemeralOwner", lambda: zk.exists(base + "/e").ephemeralOwner == zk.client_id[0])
    step("ephemeralChild", lambda: zk.create(base + "/e/c", b""))
    step("seq1", lambda: zk.create(base + "/p/n-", b"", sequence=True))
    step("seq2", lambda: zk.create(base + "/p/n-", b"", sequence=True, ephemeral=True))
    step("makepath", lambda: zk.create(base + "/deep/er/path", b"x", makepath=True))
    step("get", lambda: zk.get(base + "/p"))
    step("set", lambda: zk.set(base + "/p", b"v1", version=0).version)
    step("setBadVersion", lambda: zk.set(base + "/p", b"v2", version=0))
    step("children", lambda: sorted(zk.get_children(base + "/p")))
    step("childrenWithData", lambda: zk.get_children(base + "/deep/er", include_data=True)[1].numChildren)
    step("existsMissing", lambda: zk.exists(base + "/missing"))
    step("getMissing", lambda: zk.get(base + "/missing"))
    step("deleteNotEmpty", lambda: zk.delete(base + "/deep"))
    step("deleteRecursive", lambda: zk.delete(base + "/deep", recursive=True))
    step("deleteGone", lambda: zk.exists(base + "/deep"))
    step("deleteBadVersion", lambda: zk.delete(base + "/q", version=7))
    step("sync", lambda: zk.sync(base))
    step("ruok", lambda: zk.command(b"ruok"))
    step("unicode", lambda: zk.create(base + "/\u00e9t\u00e9-\u4e2d", "d\u00e9j\u00e0".encode("utf-8")))
    step("unicodeChildren", lambda: sorted(zk.get_children(base)))
    step("unicodeGet", lambda: zk.get(base + "/\u00e9t\u00e9-\u4e2d")[0])
    zk.stop()
    zk.close()


def scenario_watches(base):
    watching = client("watching")
    writer = client("writer")
    writer.ensure_path(base + "/kids")
    writer.create(base + "/d", b"0")
    step("getWatch", lambda: watching.get(base + "/d", watch=recorder("data"))[0])
    step("existsWatch", lambda: watching.exists(base + "/new", watch=recorder("exists")))
    step("childWatch", lambda: watching.get_children(base + "/kids", watch=recorder("child")))
    writer.set(base + "/d", b"1")
    writer.create(base + "/new", b"")
    writer.create(base + "/kids/a", b"")
    fence(watching, writer, base)
    mark("phase1")
    writer.set(base + "/d", b"2")
    writer.delete(base + "/new")
    writer.create(base + "/kids/b", b"")
    fence(watching, writer, base)
    mark("phase2")
    watching.get(base + "/kids/a", watch=recorder("deleted"))
    writer.delete(base + "/kids/a")
    fence(watching, writer, base)
    mark("phase3")

    # Recipes: DataWatch and ChildrenWatch re-arm their one-shot watches.
    data_seen = []
    children_seen = []

    @watching.DataWatch(base + "/d")
    def _data(data, stat, event=None):
        data_seen.append([jsonable(data), event.type if event else None])

    @watching.ChildrenWatch(base + "/kids")
    def _kids(children):
        children_seen.append(sorted(children))

    for value in (b"3", b"4"):
        writer.set(base + "/d", value)
    writer.create(base + "/kids/c", b"")
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        if data_seen and data_seen[-1][0] == "4" and children_seen and "c" in children_seen[-1]:
            break
        time.sleep(0.01)
    # Recipes may coalesce; what matters is the final state they saw.
    step("dataWatchRecipe", lambda: data_seen[-1])
    step("dataWatchFirst", lambda: data_seen[0])
    step("childrenWatchRecipe", lambda: children_seen[-1])
    watching.stop()
    writer.stop()


def scenario_acl(base, super_password):
    admin = client("admin", auth_data=[("digest", "super:" + super_password)])
    owner = client("owner", auth_data=[("digest", "carol:pw-carol")])
    anon = client("anon")
    stranger = client("stranger")
    step("addAuth", lambda: stranger.add_auth("digest", "dave:pw-dave"))
    admin.ensure_path(base)
    carol = make_digest_acl("carol", "pw-carol", all=True)
    step("digestCreate", lambda: owner.create(base + "/secret", b"s", acl=[carol]))
    step("digestAcl", lambda: [[a.perms, a.id.scheme, a.id.id] for a in owner.get_acls(base + "/secret")[0]])
    step("ownerGet", lambda: owner.get(base + "/secret")[0])
    step("ownerChild", lambda: owner.create(base + "/secret/child", b""))
    for name, client_ in (("anon", anon), ("stranger", stranger)):
        step(name + ".get", lambda c=client_: c.get(base + "/secret"))
        step(name + ".set", lambda c=client_: c.set(base + "/secret", b"x"))
        step(name + ".children", lambda c=client_: c.get_children(base + "/secret"))
        step(name + ".create", lambda c=client_: c.create(base + "/secret/x", b""))
        step(name + ".delete", lambda c=client_: c.delete(base + "/secret/child"))
        step(name + ".setAcls", lambda c=client_: c.set_acls(base + "/secret", OPEN_ACL_UNSAFE))
        step(name + ".getAcls", lambda c=client_: c.get_acls(base + "/secret"))
    step("superGet", lambda: admin.get(base + "/secret")[0])
    step("superSetAcls", lambda: admin.set_acls(base + "/secret", OPEN_ACL_UNSAFE).aversion)
    step("anonAfterOpen", lambda: anon.get(base + "/secret")[0])
    read_only = make_acl("world", "anyone", read=True)
    step("readOnlyCreate", lambda: admin.create(base + "/ro", b"r", acl=[read_only]))
    step("readOnlyGet", lambda: anon.get(base + "/ro")[0])
    step("readOnlySet", lambda: anon.set(base + "/ro", b"x"))
    step("ipCreate", lambda: anon.create(base + "/ip", b"i", acl=[make_acl("ip", "127.0.0.1", all=True)]))
    step("ipGet", lambda: anon.get(base + "/ip")[0])
    step("ipOtherCreate", lambda: anon.create(base + "/ip2", b"i", acl=[make_acl("ip", "192.0.2.1", all=True)]))
    step("ipOtherGet", lambda: anon.get(base + "/ip2"))
    step("authWithoutId", lambda: anon.create(base + "/auth", b"", acl=[make_acl("auth", "", all=True)]))
    step("authWithId", lambda: owner.create(base + "/auth", b"", acl=[make_acl("auth", "", all=True)]))
    step("authAcl", lambda: [[a.perms, a.id.scheme, a.id.id] for a in owner.get_acls(base + "/auth")[0]])
    step("badScheme", lambda: anon.add_auth("nosuch", "x"))
    for c in (admin, owner, anon, stranger):
        c.stop()


def scenario_transaction(base):
    zk = client("main")
    zk.ensure_path(base)
    zk.create(base + "/a", b"a0")

    def commit(build):
        tx = zk.transaction()
        build(tx)
        results = tx.commit()
        return [type(r).__name__ if isinstance(r, Exception) else jsonable(r) for r in results]

    step("txOk", lambda: commit(lambda tx: (
        tx.create(base + "/b", b"b"),
        tx.set_data(base + "/a", b"a1", version=0),
        tx.check(base + "/b", 0),
        tx.create(base + "/s-", b"", sequence=True),
        tx.delete(base + "/b"))))
    step("txFail", lambda: commit(lambda tx: (
        tx.create(base + "/x", b""),
        tx.check(base + "/a", 0),
        tx.create(base + "/y", b""))))
    step("txFailNoNode", lambda: commit(lambda tx: (
        tx.create(base + "/x", b""),
        tx.delete(base + "/missing"))))
    step("afterFail", lambda: [zk.get(base + "/a")[0], zk.exists(base + "/x") is not None,
                               zk.exists(base + "/y") is not None])
    zk.stop()


def scenario_recipes(base):
    one = client("one")
    two = client("two")
    one.ensure_path(base)
    lock1 = Lock(one, base + "/lock", "one")
    lock2 = Lock(two, base + "/lock", "two")
    step("lock1", lambda: lock1.acquire(timeout=WAIT_S))
    step("lock2Blocked", lambda: lock2.acquire(timeout=0.3))
    step("contenders", lambda: lock1.contenders())
    got = []
    thread = threading.Thread(target=lambda: got.append(lock2.acquire(timeout=WAIT_S)))
    thread.start()
    # lock2 is queued behind lock1 once its node exists.
    deadline = time.time() + WAIT_S
    while time.time() < deadline and len(one.get_children(base + "/lock")) < 2:
        time.sleep(0.01)
    lock1.release()
    thread.join(WAIT_S)
    step("lock2AfterRelease", lambda: got)
    lock2.release()
    counter = Counter(one, base + "/counter")
    counter2 = Counter(two, base + "/counter")
    for _ in range(5):
        counter += 1
        counter2 += 2
    step("counter", lambda: counter.value)
    one.stop()
    two.stop()


def scenario_session(base, timeout_s):
    timeout_s = float(timeout_s)
    observer = client("observer")
    observer.ensure_path(base)

    # Resume by client_id on a second client after the first was cut off.
    proxy = Proxy(HOSTS)
    first = client("first", hosts=proxy.hosts(), timeout=20.0)
    session_id, password = first.client_id
    step("ephemeral", lambda: first.create(base + "/eph", b"", ephemeral=True))
    proxy.cut()
    wait_until(lambda evs: any(e.get("w") == "first" and e.get("state") == KazooState.SUSPENDED for e in evs),
               "first SUSPENDED")
    second = client("second", client_id=(session_id, password), timeout=20.0)
    step("resumedSameId", lambda: second.client_id[0] == session_id)
    step("resumedOwner", lambda: second.exists(base + "/eph").ephemeralOwner == session_id)
    first.stop()  # its closeSession cannot reach the server: the proxy is cut
    first.close()

    # Wrong password: kazoo sees the session as expired (LOST) and then starts
    # a fresh session of its own.
    wrong = bytes([password[0] ^ 0x5A]) + password[1:]
    bad = KazooClient(hosts=HOSTS, timeout=20.0, client_id=(session_id, wrong))
    bad.add_listener(state_listener("bad"))
    try:
        bad.start(timeout=WAIT_S)
    except Exception as error:  # pylint: disable=broad-except
        emit({"ev": "note", "badStart": type(error).__name__})
    # (kazoo reports no LOST here: it was never connected before.)
    wait_until(lambda evs: any(e.get("w") == "bad" and e.get("state") == KazooState.CONNECTED for e in evs),
               "bad CONNECTED")
    step("badNewSession", lambda: bad.client_id is not None and bad.client_id[0] not in (0, session_id))
    bad.stop()
    bad.close()

    # Expiry: cut a short-timeout client off and wait for its ephemeral to go.
    proxy2 = Proxy(HOSTS)
    victim = client("victim", hosts=proxy2.hosts(), timeout=timeout_s)
    step("negotiated", lambda: victim._session_timeout)
    step("victimEphemeral", lambda: victim.create(base + "/victim", b"", ephemeral=True))
    step("watchVictim", lambda: observer.exists(base + "/victim", watch=recorder("gone")) is not None)
    cut_at = time.time()
    proxy2.cut()
    await_watch("gone", "DELETED", base + "/victim")
    elapsed_ms = int((time.time() - cut_at) * 1000)
    step("expiredAfterMs", lambda: elapsed_ms)
    proxy2.restore()
    wait_until(lambda evs: any(e.get("w") == "victim" and e.get("state") == KazooState.LOST for e in evs),
               "victim LOST")
    step("resumedStillOwns", lambda: second.exists(base + "/eph") is not None)
    second.stop()
    second.close()
    step("closedRemovesEphemeral", lambda: observer.exists(base + "/eph"))
    victim.stop()
    victim.close()
    observer.stop()


SCENARIOS = {
    "nodes": scenario_nodes,
    "watches": scenario_watches,
    "acl": scenario_acl,
    "transaction": scenario_transaction,
    "recipes": scenario_recipes,
    "session": scenario_session,
}


def main():
    name = sys.argv[2]
    if name not in SCENARIOS:
        fail("unknown scenario " + name)
    SCENARIOS[name](*sys.argv[3:])
    emit({"ev": "done"})
    sys.stdout.flush()
    import os
    os._exit(0)


if __name__ == "__main__":
    main()
