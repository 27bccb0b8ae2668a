#!/usr/bin/env python3
"""Calls every operation of a live memtyped once, through the Python client
openapi-python-client generated from openapi.yaml.

The operations come from openapi.yaml itself: an operation the document has
and CALLS below does not is a failure (so is a call for an operation the
document no longer has), so an operation added later must get its call here.
Each call goes through the generated module's `sync_detailed`, with the
request body built by the generated model from the document's own example
(`Model.from_dict(example)`), and must answer the status CALLS expects, which
must be one the document lists for the operation. A JSON answer must parse
into the generated model, and no object in it may carry a member the model
does not know (a member the generator dropped would land in
`additional_properties`).

memtyped is started here: a fresh SQLite store and a tokens file in a
temporary directory, on a free loopback port; it is stopped with SIGTERM.

Usage: call_every_operation.py --bin PATH/TO/memtyped --client DIR --spec openapi.yaml
  DIR holds the generated package `memtyped_client`.
"""
import argparse
import importlib
import inspect
import os
import pathlib
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import types
import urllib.request

import attrs
import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
TOKEN = secrets.token_hex(16)

# Every operation once, in an order that makes each succeed: profiles and VMs
# are created before they are read, and deleted last. Each entry is
# (operationId, expected status, keyword arguments for sync_detailed).
# `body` is filled from the document's first example of the request body,
# unless the arguments give it; an argument may be a function of the answers
# so far (operationId -> the generated Response), called just before the call.
CALLS = [
    ("health", 200, {}),
    ("ready", 200, {}),
    ("metrics", 200, {}),
    ("openapi", 200, {}),
    ("webPage", 200, {}),
    ("webFile", 200, {"file": "memtyped.js"}),
    ("listModels", 200, {}),
    ("effectiveTypeTable", 200, {}),
    ("effectiveType", 200, {}),
    ("decide", 200, {}),
    ("decideBatch", 200, {}),
    ("evaluateQuirks", 200, {}),
    ("resolveMTRR", 200, {}),
    ("replayGuestMemtype", 200, {}),
    ("listBaselines", 200, {}),
    ("putHostProfile", 201, {"name": "spr-6-16"}),
    ("getHostProfile", 200, {"name": "spr-6-16"}),
    ("listHostProfiles", 200, {}),
    ("getHostProfileHistory", 200, {"name": "spr-6-16"}),
    ("putVM", 201, {"id": "web-01"}),
    ("getVM", 200, {"id": "web-01"}),
    ("patchVM", 200, {"id": "web-01"}),
    ("listVMs", 200, {"label": ["team=web"]}),
    ("getVMHistory", 200, {"id": "web-01"}),
    ("decideForVM", 200, {"id": "web-01"}),
    ("getVMDecision", 200, {"id": "web-01", "gpa": "0xfd000000", "pat_index": 2}),
    ("getVMKVMQuirks", 200, {"id": "web-01"}),
    # The VMM applied the mask of the revision kvm-quirks reported.
    ("putVMApplied", 200, {"id": "web-01",
                           "body": lambda answers: {"revision": answers["getVMKVMQuirks"].parsed.vm.revision}}),
    ("getKernelPlan", 200, {"name": "spr-6-16", "kernel": "6.15"}),
    ("getVMPlacements", 200, {"id": "web-01"}),
    ("listRisks", 200, {}),
    ("moveVMBaseline", 200, {"id": "web-01"}),
    ("moveBaselines", 200, {}),
    ("deleteVM", 204, {"id": "web-01"}),
    ("deleteHostProfile", 204, {"name": "spr-6-16"}),
]


def operations(spec):
    """operationId -> (METHOD, path, operation object)."""
    ops = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                ops[op["operationId"]] = (method.upper(), path, op)
    return ops


def deref(spec, node):
    """Follows $ref chains within the document."""
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def request_example(spec, op):
    """The first example of the operation's request body, or None."""
    body = deref(spec, op.get("requestBody"))
    if not body:
        return None
    for media in body["content"].values():
        if "example" in media:
            return media["example"]
        for example in (media.get("examples") or {}).values():
            return deref(spec, example)["value"]
    return None


def documented_statuses(spec, op):
    return {int(code) for code in op["responses"] if code.isdigit()}


def client_modules(client_dir):
    """(METHOD, path) -> the generated module for that operation, found from
    the method and URL each module's _get_kwargs sends."""
    found = {}
    for file in sorted(pathlib.Path(client_dir, "memtyped_client", "api").glob("*/*.py")):
        if file.name == "__init__.py":
            continue
        text = file.read_text()
        m = re.search(r'"method": "(\w+)",\s*"url": "([^"]+)"', text)
        if not m:
            sys.exit(f"{file}: no method and url found")
        module = f"memtyped_client.api.{file.parent.name}.{file.stem}"
        found[(m.group(1).upper(), m.group(2))] = module
    return found


def body_model(module):
    """The generated model class of the module's `body` parameter, if it has one."""
    param = inspect.signature(module.sync_detailed).parameters.get("body")
    if param is None:
        return None
    annotation = param.annotation
    candidates = annotation.__args__ if isinstance(annotation, types.UnionType) else (annotation,)
    for candidate in candidates:
        if hasattr(candidate, "from_dict"):
            return candidate
    sys.exit(f"{module.__name__}: no model among {annotation}")


def unknown_members(value, where="body"):
    """Objects in a parsed answer that hold members their model does not know."""
    problems = []
    props = getattr(value, "additional_properties", None)
    if props is not None:
        kind = str(getattr(type(value), "__annotations__", {}).get("additional_properties", ""))
        # Open objects (no additionalProperties in the schema) get
        # dict[str, Any]; maps (Labels, QuirkChoicesInput...) a typed dict.
        if props and "Any" in kind:
            problems.append(f"{where} ({type(value).__name__}): members the model does not know: {sorted(props)}")
        for field in attrs.fields(type(value)):
            if field.name != "additional_properties":
                problems += unknown_members(getattr(value, field.name), f"{where}.{field.name}")
        for key, item in props.items():
            problems += unknown_members(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            problems += unknown_members(item, f"{where}[{i}]")
    return problems


def spec_enums(node, found):
    """Every enum of the document, as the set of its non-null values."""
    if isinstance(node, dict):
        if isinstance(node.get("enum"), list):
            found.add(frozenset(v for v in node["enum"] if v is not None))
        for value in node.values():
            spec_enums(value, found)
    elif isinstance(node, list):
        for value in node:
            spec_enums(value, found)
    return found


def lossy_enums(spec):
    """Generated enums whose values are no enum of the document: the
    generator names members after their values, and two values that give one
    name (UC and UC- both gave `UC`) leave one of them out."""
    import enum
    import memtyped_client.models as models
    known = spec_enums(spec, set())
    return [f"{name}: {sorted(v.value for v in cls)}" for name, cls in vars(models).items()
            if isinstance(cls, type) and issubclass(cls, enum.Enum)
            and frozenset(v.value for v in cls) not in known]


def start_server(binary, work):
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        f.write(f"client-check {TOKEN}\n")
    os.chmod(tokens, 0o600)
    log = open(os.path.join(work, "memtyped.log"), "w+")
    proc = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", "0", "--threads", "2",
                             "--db", os.path.join(work, "store.sqlite"), "--tokens", tokens],
                            stdout=subprocess.DEVNULL, stderr=log, cwd=work)
    deadline = time.time() + 30
    while time.time() < deadline:
        log.seek(0)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
        if m:
            return proc, int(m.group(1)), log
        if proc.poll() is not None:
            log.seek(0)
            sys.exit(f"memtyped exited with {proc.returncode} at start:\n{log.read()}")
        time.sleep(0.1)
    proc.kill()
    sys.exit("memtyped did not report its port within 30 s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--client", required=True, help="the folder holding the generated memtyped_client package")
    ap.add_argument("--spec", required=True)
    args = ap.parse_args()

    spec = yaml.safe_load(open(args.spec))
    ops = operations(spec)
    planned = [op_id for op_id, _, _ in CALLS]
    missing = sorted(set(ops) - set(planned))
    stale = sorted(set(planned) - set(ops))
    twice = sorted({op_id for op_id in planned if planned.count(op_id) > 1})
    if missing or stale or twice:
        sys.exit(f"CALLS does not cover openapi.yaml once each: no call for {missing}, "
                 f"calls for operations it does not have {stale}, called twice {twice}")

    sys.path.insert(0, os.path.abspath(args.client))
    from memtyped_client import AuthenticatedClient  # noqa: E402 (generated at run time)
    modules = client_modules(args.client)

    failures = [f"generated enum loses a value of openapi.yaml's: {e}" for e in lossy_enums(spec)]
    passed = 0
    answers = {}
    with tempfile.TemporaryDirectory() as work:
        proc, port, log = start_server(os.path.abspath(args.bin), work)
        try:
            client = AuthenticatedClient(base_url=f"http://127.0.0.1:{port}", token=TOKEN,
                                         raise_on_unexpected_status=False, timeout=30.0)
            for op_id, expected, kwargs in CALLS:
                method, path, op = ops[op_id]
                label = f"{op_id} ({method} {path})"
                if expected not in documented_statuses(spec, op):
                    failures.append(f"{label}: expects {expected}, which openapi.yaml does not list")
                    continue
                if (method, path) not in modules:
                    failures.append(f"{label}: the generated client has no module for it")
                    continue
                module = importlib.import_module(modules[(method, path)])
                kwargs = {k: v(answers) if callable(v) else v for k, v in kwargs.items()}
                model = body_model(module)
                if model is not None:
                    example = kwargs.pop("body", None) or request_example(spec, op)
                    if example is None:
                        failures.append(f"{label}: openapi.yaml has no request example to send")
                        continue
                    try:
                        kwargs["body"] = model.from_dict(example)
                    except Exception as error:
                        failures.append(f"{label}: {model.__name__} cannot hold the document's example: {error}")
                        continue
                try:
                    response = module.sync_detailed(client=client, **kwargs)
                except Exception as error:  # the generated code failed on the answer
                    failures.append(f"{label}: the client raised {type(error).__name__}: {error}")
                    continue
                status = int(response.status_code)
                if status != expected:
                    failures.append(f"{label}: answered {status}, expected {expected}: {response.content[:300]!r}")
                    continue
                ctype = response.headers.get("content-type", "")
                if "json" in ctype and response.parsed is None:
                    failures.append(f"{label}: the JSON answer was not parsed into a model")
                failures += [f"{label}: {p}" for p in unknown_members(response.parsed)]
                answers[op_id] = response
                passed += 1
                print(f"ok   {status}  {label}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = "killed after 30 s"
            if code != 0:
                log.seek(0)
                failures.append(f"memtyped exited with {code} after SIGTERM:\n{log.read()[-2000:]}")

    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    print(f"python-client: {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
