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
for f in failures:
    print("FAIL", f)
print(f"help_env_test: {len(options)} options, {len(variables)} variables, {len(failures)} failures")
sys.exit(1 if failures else 0)
