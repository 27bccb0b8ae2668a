#!/usr/bin/env python3
"""memtyped --help: every option has its MEMTYPED_* variable and every listed
variable an option. The names come from one place (Setting in
Sources/memtyped/Memtyped.swift); this catches an option added without one.

Usage: python3 tests/help_env_test.py --bin PATH/TO/memtyped
"""
import argparse
import re
import subprocess
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--bin", required=True)
binary = parser.parse_args().bin

text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
options = set(re.findall(r"^\s+--([a-z][a-z0-9-]*)", text, re.M)) - {"help", "version"}
listed = re.search(r"Environment:(.*?)\.\s+Under systemd", text, re.S)
if not listed:
    sys.exit("help_env_test: no 'Environment:' list in memtyped --help")
variables = set(re.findall(r"MEMTYPED_[A-Z0-9_]+", listed.group(1)))
expected = {"MEMTYPED_" + o.upper().replace("-", "_") for o in options}
failures = [f"option --{o} has no {n} in the list" for o, n in sorted((o, "MEMTYPED_" + o.upper().replace("-", "_")) for o in options) if n not in variables]
failures += [f"{v} is listed but no option matches it" for v in sorted(variables - expected)]
if len(options) < 20:
    failures.append(f"only {len(options)} options parsed from --help: the parser no longer matches its layout")
# Wiring: each variable set to a value no setting accepts must not be
# reported as another one, and the flags' and the integer options' variables
# (an option with a number as its default) must name themselves: a lookup of
# the wrong Setting case fails one or the other.
blocks = re.split(r"\n(?=  --)", text.split("OPTIONS:", 1)[-1])
must_name = set()
for block in blocks:
    m = re.match(r"\s*--([a-z][a-z0-9-]*)(\s+<)?", block)
    if not m or m.group(1) in ("help", "version", "port", "db"):  # --port and --db are given below
        continue
    if m.group(2) is None or re.search(r"\[default:\s+[0-9][0-9,]*\]", block):
        must_name.add("MEMTYPED_" + m.group(1).upper().replace("-", "_"))
import os
import tempfile
named = 0
with tempfile.TemporaryDirectory() as work:
    for var in sorted(variables):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMTYPED_")}
        env[var] = "not-a-value-7"
        try:
            r = subprocess.run([binary, "--port", "0"] + ([] if var == "MEMTYPED_DB" else ["--db", os.path.join(work, "s.sqlite")]),
                               capture_output=True, text=True, env=env, timeout=10, cwd=work)
            err = r.stderr
        except subprocess.TimeoutExpired as e:  # it started: nothing to see in the wiring
            err = (e.stderr or b"").decode(errors="replace")
        others = set(re.findall(r"MEMTYPED_[A-Z0-9_]+", err)) - {var}
        if others:
            failures.append(f"{var}=not-a-value-7 is reported as {sorted(others)}")
        named += var in err
        if var in must_name and var not in err:
            failures.append(f"{var}=not-a-value-7 (a flag or an integer) is not reported by name: {err.strip()[:160]!r}")
if len(must_name) < 10:
    failures.append(f"only {len(must_name)} flags and integer options found in --help: the parser no longer matches its layout")
for f in failures:
    print("FAIL", f)
print(f"help_env_test: {len(options)} options, {len(variables)} variables ({named} name themselves when bad, {len(must_name)} must), {len(failures)} failures")
sys.exit(1 if failures else 0)
