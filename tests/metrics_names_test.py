#!/usr/bin/env python3
"""Every metric the Prometheus rules and the Grafana dashboard use is one memtyped exposes.

Starts memtyped, makes a few requests (so the per-route series exist, on a
store route too), reads GET /metrics and checks each metric name in
deploy/prometheus/*.yml exprs and deploy/grafana/*.json targets (plus `up`,
which Prometheus makes itself), each label they select on (on that metric),
and that each `route=~"..."` regex matches at least one exposed route.
Run by .ci/run. Usage: tests/metrics_names_test.py [--bin PATH]
"""
import argparse, glob, json, os, re, sys

import support

SYNTHETIC = {"up": {"job", "instance"}}  # made by Prometheus, not by memtyped


def exprs():
    for path in glob.glob("deploy/prometheus/*.yml"):
        for m in re.finditer(r"^[ \t]*expr:[ \t]*(?:\|\n((?:[ \t]{10,}.*\n)+)|(.*))", open(path).read(), re.M):
            yield path, (m.group(1) or m.group(2))
    for path in glob.glob("deploy/grafana/*.json"):
        dash = json.load(open(path))
        for p in dash["panels"]:
            for t in p.get("targets", []):
                yield path, t["expr"]
        for v in dash.get("templating", {}).get("list", []):
            if isinstance(v.get("query"), dict):
                yield path, v["query"]["query"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None)
    args = ap.parse_args()
    os.chdir(support.ROOT)
    binary = support.memtyped_binary(args.bin)
    work = support.work_dir("memtyped-metrics-")
    server = support.Memtyped(binary, ["--db", os.path.join(work, "db.sqlite")], log=os.path.join(work, "log"))
    for path in ["/healthz", "/readyz", "/v1/vms/nope", "/v1/hosts", "/nope"]:
        server.call("GET", path)
    answer = server.call("GET", "/metrics")
    server.stop()
    if answer.status != 200:
        sys.exit(f"GET /metrics: {answer.status}")
    text = answer.body.decode()

    exposed = {}  # name -> label names
    routes = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names = [m.group(1)] + ([m.group(1) + s for s in ("_bucket", "_sum", "_count")] if m.group(2) == "histogram" else [])
            for n in names:
                exposed.setdefault(n, set())
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            exposed.setdefault(m.group(1), set()).update(labels)
            if "route" in labels:
                routes.add(labels["route"])
    known = {**exposed, **{k: v | {"job", "instance"} for k, v in exposed.items()}, **SYNTHETIC}

    keywords = {"sum", "rate", "by", "histogram_quantile", "min", "max", "count", "le", "on", "without", "and", "or",
                "unless", "humanizePercentage", "label_values", "avg", "increase", "irate", "bool", "offset"}
    failures, used = [], set()
    for path, expr in exprs():
        # metric{selectors} or bare metric names (not functions, keywords, label names or strings)
        stripped = re.sub(r'"[^"]*"', '""', expr)
        stripped = re.sub(r"\[[^\]]*\]", "", stripped)
        stripped = re.sub(r"\b(by|without)\s*\([^)]*\)", "", stripped)
        for m in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b\s*(\{[^}]*\})?", stripped):
            name = m.group(1)
            if name in keywords or re.fullmatch(r"\d+", name) or (stripped[m.end():].lstrip().startswith("(") and not m.group(2)):
                continue
            if name.startswith("$") or name in ("__rate_interval", "instance", "job", "route", "status", "version"):
                continue
            used.add(name)
            if name not in known:
                failures.append(f"{path}: {name} is not exposed by /metrics")
        for m in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", expr):
            name = m.group(1)
            for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', m.group(2)):
                if name in known and label not in known[name]:
                    failures.append(f"{path}: {name} has no label {label}")
                if label == "route" and op == "=~" and not any(re.fullmatch(value, r) for r in routes):
                    failures.append(f"{path}: route=~\"{value}\" matches no exposed route ({sorted(routes)})")
    print(f"{len(used)} metric names used by the rules and dashboard: {sorted(used)}")
    for f in failures:
        print("FAIL " + f)
    if failures:
        sys.exit(f"metrics names test: {len(failures)} failed")


if __name__ == "__main__":
    support.run(main, "metrics names test")
