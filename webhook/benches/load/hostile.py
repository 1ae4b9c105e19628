#!/usr/bin/env python3
"""The hostile clients of the load benchmark's hostile leg (webhook/benches/load/run).

    hostile.py amplify PORT SECONDS [SENDERS]   the amplifying pod, sent over and over
    hostile.py slow PORT SECONDS [CLIENTS]      bodies announced as 3,000,000 bytes, a byte per 100 ms
    hostile.py idle PORT SECONDS [CONNECTIONS]  plain TCP connections that never send a byte

Each runs until SECONDS have passed, reconnecting whenever the server closes a connection, so
the pressure lasts the whole measurement; at the end it prints one line of what it did.
"""

import json
import resource
import selectors
import socket
import ssl
import sys
import threading
import time


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def amplifying_review():
    """One opted-in pod with 10,000 paths in one pod-level annotation and 300 containers
    (~111 KB): the pod that once made the server unresponsive for 40 s."""
    paths = ",".join(f"/data/p{n}" for n in range(10_000))
    containers = [{"name": f"c{n}", "image": "x", "command": ["/x"]} for n in range(300)]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "amplifier", "annotations": {
            "landlock-injector.io/inject": "true", "landlock-injector.io/read": paths}},
        "spec": {"containers": containers},
    }
    review = {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "amplifier", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "namespace": "apps", "operation": "CREATE", "object": pod},
    }
    return json.dumps(review).encode()


def amplify(port, seconds, senders=4):
    body = amplifying_review()
    head = (f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    end = time.monotonic() + seconds
    counts = {"answered": 0, "denied": 0, "errors": 0}
    lock = threading.Lock()

    def sender():
        ctx = tls_context()
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
                    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                        while time.monotonic() < end:
                            s.sendall(head + body)
                            answer = read_answer(s)
                            with lock:
                                counts["answered"] += 1
                                if b'"allowed":false' in answer:
                                    counts["denied"] += 1
            except OSError:
                with lock:
                    counts["errors"] += 1
                time.sleep(0.05)

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"amplify: {counts['answered']} amplifying pods answered "
          f"({counts['denied']} denied), {counts['errors']} connection errors")


def read_answer(s):
    """Reads one HTTP response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed")
        rest += chunk
    return rest


def slow(port, seconds, clients=50):
    end = time.monotonic() + seconds
    counts = {"connections": 0, "cut": 0}
    lock = threading.Lock()
    head = (b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 3000000\r\n\r\n{")

    def client():
        ctx = tls_context()
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
                    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                        with lock:
                            counts["connections"] += 1
                        s.sendall(head)
                        s.settimeout(0.1)
                        while time.monotonic() < end:
                            s.sendall(b" ")
                            try:
                                if s.recv(4096) is not None:
                                    break  # answered (408) or closed
                            except (socket.timeout, ssl.SSLWantReadError):
                                pass
                        with lock:
                            counts["cut"] += 1
            except OSError:
                time.sleep(0.05)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"slow: {clients} clients, {counts['connections']} slow bodies started, "
          f"{counts['cut']} cut by the server")


def idle(port, seconds, connections=12_500):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, connections + 64)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    connections = min(connections, want - 64)
    sel = selectors.DefaultSelector()
    end = time.monotonic() + seconds
    opened = closed_by_server = 0

    def open_one():
        nonlocal opened
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect_ex(("127.0.0.1", port))
        except OSError:
            s.close()
            return False
        sel.register(s, selectors.EVENT_READ)
        opened += 1
        return True

    for _ in range(connections):
        if not open_one():
            break
    held_max = len(sel.get_map())
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(1)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                closed_by_server += 1
                open_one()  # keep the pressure on
        held_max = max(held_max, len(sel.get_map()))
    print(f"idle: {opened} idle connections opened, at most {held_max} held at once, "
          f"{closed_by_server} closed by the server")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    what, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    extra = [int(a) for a in sys.argv[4:]]
    {"amplify": amplify, "slow": slow, "idle": idle}[what](port, seconds, *extra)


if __name__ == "__main__":
    main()
