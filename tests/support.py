"""What the test scripts share (tests/*.py, scripts/readme-check.py): memtyped
started on loopback, the run's work directory, checks, HTTP calls, and a
recording proxy to memtyped. Not a test itself.

Standard library only: the scripts run under the system python3, under
.venv-web's python (web_test.py) and under "$CLI_PY" (cli_test.py). A script
in tests/ imports it as it is (Python puts the script's own directory first on
sys.path); scripts/readme-check.py puts tests/ there itself.

A script's shape:

    import support
    from support import check

    def main():
        work = support.work_dir("memtyped-x-")
        server = support.Memtyped(binary, ["--db", os.path.join(work, "vms.sqlite")], log=os.path.join(work, "x.log"))
        check(server.call("GET", "/healthz").status == 200, "/healthz answers")

    if __name__ == "__main__":
        support.run(main, "x test")

run() is what keeps a failure from being lost or left running: however main
ends, no memtyped it started outlives it; a failed run (a failed check,
sys.exit with a message, an exception) prints the tail of each memtyped's log
and keeps the work directory for a look; a passing one removes it.
"""
import http.client, http.server, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time, traceback
from typing import NamedTuple, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --- checks -----------------------------------------------------------------------

passes, failures = [], []


def check(cond, what):
    """One check: printed as it is made, counted for the run's verdict (run())."""
    print(("ok   " if cond else "FAIL ") + what)
    (passes if cond else failures).append(what)
    return cond


# --- the binaries and the work directory ----------------------------------------------

def bin_dir(given=None):
    """The directory holding memtyped and memtype: `given` (a --bin), else swift build's (debug)."""
    if given:
        return os.path.abspath(given)
    return subprocess.check_output(["swift", "build", "--show-bin-path"], text=True, cwd=ROOT).strip()


def memtyped_binary(given=None):
    """The memtyped binary: `given` (a --bin naming the binary), else the one swift build made."""
    return os.path.abspath(given) if given else os.path.join(bin_dir(), "memtyped")


_work_dirs = []


def work_dir(prefix):
    """A fresh temporary directory for this run's stores, logs and tokens (removed by run() if it passes)."""
    path = tempfile.mkdtemp(prefix=prefix)
    _work_dirs.append(path)
    return path


def write(path, text, mode=0o600):
    """A file with `text`, mode 0600 unless told (memtyped warns of a tokens file any wider)."""
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def free_port():
    """A loopback port nothing listens on: bound and released, so free right after."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- HTTP ---------------------------------------------------------------------------

class Answer(NamedTuple):
    status: int
    etag: Optional[str]
    body: bytes

    def json(self):
        return json.loads(self.body) if self.body else None


class Connection(http.client.HTTPConnection):
    """A keep-alive connection to memtyped on loopback; `token`, if any, goes as a bearer token."""

    def __init__(self, port, token=None, timeout=10, source=None):
        super().__init__("127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None)
        self.token = token

    def call(self, method, path, body=None, headers=None):
        """One exchange; `body`, if not None, is sent as JSON. Raises OSError/HTTPException as http.client does."""
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        self.request(method, path, body=None if body is None else json.dumps(body), headers=h)
        r = self.getresponse()
        return Answer(r.status, r.getheader("ETag"), r.read())


# --- memtyped -------------------------------------------------------------------------

_LISTENING = re.compile(r"listening on (https?)://127\.0\.0\.1:(\d+)")
_started = []  # every Memtyped of this run, for run(): none outlives it, each log shown on failure


class Memtyped:
    """One memtyped on loopback, its stderr appended to `log` (a restart on the same log reads only
    its own lines: text()).

    port 0 (the default) lets it pick a free port, read back from its "listening on" line; a fixed
    port is waited for by GET /readyz instead (the log may say nothing: --log-level warning).
    `threads` None leaves --threads to memtyped; `env` is added to this process's environment;
    `token` is what call() and connect() send unless told otherwise."""

    def __init__(self, binary, args=(), *, log, port=0, threads=2, env=None, cwd=None, token=None, start_timeout=30):
        self.log, self.token, self.scheme = log, token, "http"
        self.offset = os.path.getsize(log) if os.path.exists(log) else 0
        argv = [binary, "--port", str(port)] + (["--threads", str(threads)] if threads else []) + list(args)
        with open(log, "a") as stderr:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                         env=None if env is None else {**os.environ, **env}, cwd=cwd)
        _started.append(self)
        self.port = port
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:  # first: on a fixed port, another server may answer
                sys.exit(f"memtyped exited at start ({self.proc.returncode}): {' '.join(argv)}")
            if port == 0:
                m = _LISTENING.search(self.text())
                if m:
                    self.scheme, self.port = m.group(1), int(m.group(2))
                    return
            elif self._ready():
                return
            time.sleep(0.05)
        self.kill()
        sys.exit(f"memtyped did not start within {start_timeout} s: {' '.join(argv)}")

    def _ready(self):
        try:
            return self.call("GET", "/readyz", timeout=1).status == 200
        except (OSError, http.client.HTTPException):
            return False

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def text(self):
        """What this start wrote to its log so far."""
        with open(self.log) as f:
            f.seek(self.offset)
            return f.read()

    def connect(self, token=None, timeout=10, source=None):
        return Connection(self.port, token or self.token, timeout, source)

    def call(self, method, path, body=None, headers=None, token=None, timeout=10, source=None):
        """One exchange on a connection of its own (closed after)."""
        conn = self.connect(token, timeout, source)
        try:
            return conn.call(method, path, body, headers)
        finally:
            conn.close()

    def stop(self, timeout=30):
        """SIGTERM, as systemd stops it; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self):
        """SIGKILL: no chance to finish anything."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()


def store_thread_priorities(pid):
    """The scheduling of a memtyped's store threads (named memtyped-store), one string per thread:
    "idle" under SCHED_IDLE, else the nice value (proc(5): /proc/PID/task/TID/stat fields 19 and 41)."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        stat = open(f"/proc/{pid}/task/{tid}/stat").read()
        if stat[stat.index("(") + 1:stat.rindex(")")] != "memtyped-store":
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
        out.append("idle" if int(fields[38]) == 5 else fields[16])  # SCHED_IDLE is 5
    return sorted(out)


# --- a proxy that records -------------------------------------------------------------

class Exchange:
    def __init__(self, method, target, headers, body):
        self.method, self.target, self.headers, self.body = method, target, headers, body
        self.status = None
        self.response_headers = {}
        self.response_body = b""


class Proxy:
    """A loopback HTTP proxy to memtyped on `upstream_port`: forwards each request as it came and
    records both sides in `exchanges` (headers with lower-case names). `before(exchange)`, if
    given, runs before a request goes on: a test can change the record in between."""

    def __init__(self, upstream_port, before=None):
        self.exchanges = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                ex = Exchange(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                if before:
                    before(ex)
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "host")}
                conn.request(self.command, self.path, body=body if length else None, headers=headers)
                r = conn.getresponse()
                ex.status, ex.response_body = r.status, r.read()
                ex.response_headers = {k.lower(): v for k, v in r.getheaders()}
                conn.close()
                proxy.exchanges.append(ex)
                self.send_response(ex.status)  # (writes its own Date and Server)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "content-length", "transfer-encoding", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(ex.response_body)))
                self.end_headers()
                self.wfile.write(ex.response_body)

            do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- the run ------------------------------------------------------------------------------

def run(main, name):
    """Runs a script's main and exits with its verdict: 1 if a check failed, main raised, or it
    exited with a message or a non-zero code. Then no memtyped it started is left running; a
    failed run shows each one's log (the last 3000 characters) and keeps the work directory."""
    quiet = False  # main exited 0 itself, checking nothing (--help): no verdict to print
    try:
        main()
        code = 0
    except SystemExit as e:
        quiet = not e.code
        code = e.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
        code = code or 0
    except BaseException:  # an exception fails the run too, after its traceback
        traceback.print_exc()
        code = 1
    if failures:
        code = code or 1
    for server in _started:
        if server.proc.poll() is None:
            server.kill()
    if code:
        sys.stdout.flush()  # the checks' lines first, then the logs (stderr)
        for log in dict.fromkeys(s.log for s in _started):
            with open(log, errors="replace") as f:
                print(f"--- {log} (its end)\n{f.read()[-3000:]}", file=sys.stderr)
        for path in _work_dirs:
            print(f"work directory kept: {path}", file=sys.stderr)
    else:
        for path in _work_dirs:
            shutil.rmtree(path, ignore_errors=True)
    if passes or failures:
        print(f"{name}: {len(passes)} passed, {len(failures)} failed" + "".join("\n  - " + f for f in failures))
    elif code or not quiet:
        print(f"{name}: " + ("FAILED" if code else "passed"))
    sys.exit(code)
