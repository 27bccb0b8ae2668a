"""Issue 16 item 1's attack: C connections each send
`PUT /v1/vms/x1` with Content-Type: text/plain, Content-Length: 1048576,
no token, and then the whole body, as fast as the server takes it.
Samples the server's resident memory meanwhile and prints its peak
(VmHWM, the kernel's high-water mark, and the highest VmRSS seen) and
what the connections got back.

Usage: python3 bench/upload_flood.py PORT SERVER_PID [CONNECTIONS=1000]
"""
import collections
import selectors
import socket
import sys
import time

BODY_SIZE = 1 << 20
HEAD = (b"PUT /v1/vms/x1 HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\n"
        b"Content-Length: %d\r\n\r\n" % BODY_SIZE)
CHUNK = b"x" * 65536


def rss_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    sel = selectors.DefaultSelector()
    state = {}
    start_rss = rss_kib(pid, "VmRSS")
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        state[s] = {"out": HEAD, "sent_body": 0, "in": b""}
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    statuses = collections.Counter()
    peak_rss = start_rss
    deadline = time.time() + 120
    last_sample = 0
    while state and time.time() < deadline:
        for key, events in sel.select(timeout=0.05):
            s = key.fileobj
            st = state.get(s)
            if st is None:
                continue
            done = False
            if events & selectors.EVENT_READ:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                st["in"] += data
                if not data:
                    done = True
            if not done and events & selectors.EVENT_WRITE:
                try:
                    if st["out"]:
                        k = s.send(st["out"])
                        st["out"] = st["out"][k:]
                    elif st["sent_body"] < BODY_SIZE:
                        k = s.send(CHUNK[:BODY_SIZE - st["sent_body"]])
                        st["sent_body"] += k
                    else:
                        sel.modify(s, selectors.EVENT_READ)
                except OSError:
                    done = True
            if done:
                line = st["in"].split(b"\r\n", 1)[0].decode("latin1")
                statuses[line.split(" ")[1] if line.count(" ") >= 1 else "no answer"] += 1
                sel.unregister(s)
                s.close()
                del state[s]
        now = time.time()
        if now - last_sample > 0.05:
            peak_rss = max(peak_rss, rss_kib(pid, "VmRSS"))
            last_sample = now
    for s in list(state):
        statuses["unfinished"] += 1
        s.close()
    print("connections %d  rss before %.1f MB  peak rss %.1f MB  VmHWM %.1f MB  answers %s" % (
        n, start_rss / 1024, peak_rss / 1024, rss_kib(pid, "VmHWM") / 1024, dict(statuses)))


if __name__ == "__main__":
    main()
