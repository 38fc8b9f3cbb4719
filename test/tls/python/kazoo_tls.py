"""kazoo (Debian python3-kazoo, unmodified) on a secure client port.

    /usr/bin/python3 kazoo_tls.py <host:port> <ca> <owner cert> <owner key> <owner DN> <other cert> <other key>

The owner creates a node readable only by x509:<owner DN>; the other certificate reads it
(NoAuthError expected); a client without a certificate tries to connect. Prints one JSON
object per step: {"step": NAME, "ok": true, "value": ...} or {"step": NAME, "ok": false, "error": ...}.
"""
import json
import os
import sys

from kazoo.client import KazooClient
from kazoo.security import make_acl

HOSTS, CA, OWNER_CERT, OWNER_KEY, OWNER_DN, OTHER_CERT, OTHER_KEY = sys.argv[1:8]
WAIT_S = 15.0 * float(os.environ.get("ZKTS_TEST_TIME_FACTOR") or 1)


def emit(step, ok, **fields):
    sys.stdout.write(json.dumps(dict(step=step, ok=ok, **fields)) + "\n")
    sys.stdout.flush()


def client(certfile=None, keyfile=None):
    return KazooClient(hosts=HOSTS, use_ssl=True, ca=CA, certfile=certfile, keyfile=keyfile, verify_certs=True,
                       connection_retry={"max_tries": 1})


def run(step, action):
    try:
        emit(step, True, value=action())
    except Exception as error:  # pylint: disable=broad-except
        emit(step, False, error=type(error).__name__)


owner = client(OWNER_CERT, OWNER_KEY)
run("owner.start", lambda: owner.start(timeout=WAIT_S))
acl = [make_acl("x509", OWNER_DN, all=True)]
run("owner.create", lambda: owner.create("/kazoo-tls", b"secret", acl=acl))
run("owner.get", lambda: owner.get("/kazoo-tls")[0].decode())
run("owner.acl", lambda: [[a.id.scheme, a.id.id] for a in owner.get_acls("/kazoo-tls")[0]])

other = client(OTHER_CERT, OTHER_KEY)
run("other.start", lambda: other.start(timeout=WAIT_S))
run("other.get", lambda: other.get("/kazoo-tls")[0].decode())

anonymous = client()
run("anonymous.start", lambda: anonymous.start(timeout=3 * WAIT_S / 15))

for c in (owner, other, anonymous):
    try:
        c.stop()
        c.close()
    except Exception:  # pylint: disable=broad-except
        pass
emit("done", True)
