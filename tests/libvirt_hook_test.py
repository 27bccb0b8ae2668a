#!/usr/bin/env python3
"""The libvirt QEMU hook (deploy/libvirt/qemu) run as libvirt runs it: argv
`DOMAIN prepare begin -`, the domain XML on stdin, a config file naming a live
memtyped on loopback (run by .ci/run; not a unit test).

- the sample domains (deploy/libvirt/samples: VGA, bochs-display, virtio-gpu,
  none) are registered by UUID with their display devices and the host
  profile of the config, on the server's current baseline; each mask file
  holds kvm-quirks' mask_to_apply; the record shows the applied revision;
- a domain name with a tab, or longer than 256 UTF-8 bytes: labelled
  without the control characters, cut on a character boundary;
- a second prepare after the server's current baseline changed keeps the
  domain's baseline, mask and revision; a new domain gets the new baseline;
- a known domain started on a host with another profile gets that profile
  (one revision, in its history), its baseline and mask unchanged;
- the host profile moved by another host between the hook's PATCH and its
  kvm-quirks read, or the record changed between its GET and PATCH (412):
  the hook settles it again and checks the mask against this host;
- a mask this host's KVM refuses (IGNORE_GUEST_PAT disabled, no self-snoop)
  fails the start, naming the quirk, and writes no mask file;
- a quirk change after a start shows restart_required (and the list filter
  finds it); the next prepare applies the new revision and clears it;
- a quirk change between the hook's read and its report (through a proxy
  that patches the VM first): memtyped answers 409, the hook reads the mask
  again, writes it and reports the new revision;
- an incoming migration or restore (migrate/restore begin, then prepare):
  a marker, consumed by the prepare, which writes the mask but records no
  start (no PUT .../applied); refused while restart_required, or when this
  host's KVM refuses the mask; a VM never started: a warning; stale markers
  (too old, another boot, unreadable) ignored and removed; release removes
  one; a marker that cannot be written refuses the migration;
- a domain named . or .. with a {name} mask_file, or a <uuid> that is not
  one: refused, no file written or removed outside the mask directory;
- a refusal after a 404 (the VM deleted during the start) carries
  memtyped's detail; timeout = 0, -1 or nan is a configuration error;
- a host profile memtyped does not know refuses the start, naming it; so
  does a token file that is not one line of visible ASCII (never showing it,
  whatever on_unavailable says);
- timeout bounds a prepare's whole conversation: a server dripping its
  headers one line at a time, or a 404's body one byte at a time, and a
  prepare of several slow requests, are refused once it passes;
- a log file that cannot be written (missing directory): starts, refusals
  and releases go on as without it;
- memtyped down: on_unavailable=fail refuses the start, =warn starts it with
  the earlier mask file and logs a warning; an arrival likewise;
- release removes the domain's mask file and logs it, with memtyped down
  (with on_unavailable = warn it keeps it: the mask a start without memtyped uses);
  a second release (no file) and a file that cannot be removed exit 0 too;
- other operations (start, started, stopped, reconnect) exit 0 at once, even with memtyped down;
- enabled = no (the packaged config) starts every domain untouched; a missing
  config refuses the start (release still exits 0).

Usage: tests/libvirt_hook_test.py --bin PATH/memtyped
"""
import argparse, glob, json, os, re, socket, subprocess, threading, time, uuid

import support
from support import ROOT, check

HOOK = os.path.join(ROOT, "deploy", "libvirt", "qemu")
SAMPLES = os.path.join(ROOT, "deploy", "libvirt", "samples")
WORK = support.work_dir("memtyped-hook-")
TOKEN = "hook-token-0123456789abcdef"


class Server(support.Memtyped):
    """memtyped on a free loopback port, its store in WORK (the same store across restarts)."""

    def __init__(self, binary, baseline):
        super().__init__(binary, ["--db", os.path.join(WORK, "vms.sqlite"), "--tokens", os.path.join(WORK, "tokens"),
                                  "--baseline", baseline], log=os.path.join(WORK, "memtyped.log"), token=TOKEN)

    def request(self, method, path, body=None, headers=None):
        a = self.call(method, path, body, headers)
        return a.status, a.json()

    def vm(self, vm_id):
        status, body = self.request("GET", f"/v1/vms/{vm_id}")
        return body if status == 200 else None

    def restart_required_ids(self, value):
        status, body = self.request("GET", f"/v1/vms?restart_required={value}")
        return [vm["id"] for vm in body["items"]] if status == 200 else None


class RacingProxy(support.Proxy):
    """A loopback proxy to memtyped that, before it forwards the first
    `PUT .../applied`, changes the VM's quirks itself: the record moves on
    between the hook's read and its report, as when an operator patches the
    VM during its start."""

    def __init__(self, server, patch):
        self.applied_calls = 0

        def before(ex):
            if ex.method == "PUT" and ex.target.endswith("/applied"):
                self.applied_calls += 1
                if self.applied_calls == 1:
                    server.request("PATCH", f"/v1/vms/{ex.target.split('/')[3]}", patch)

        super().__init__(server.port, before)


class DrippingServer:
    """A loopback server that answers every request with `head` and then one
    `piece(n)` every `interval` seconds, for `lines` pieces: each read waits
    less than a socket timeout, the answer does not end for a minute."""

    def __init__(self, head=b"HTTP/1.1 200 OK\r\n", piece=lambda n: f"X-Drip: {n}\r\n".encode(),
                 interval=0.5, lines=120):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()
        self.head, self.piece, self.interval, self.lines = head, piece, interval, lines
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.drip, args=(conn,), daemon=True).start()

    def drip(self, conn):
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(self.head)
                for n in range(self.lines):
                    if self.stopped.wait(self.interval):
                        return
                    conn.sendall(self.piece(n))
            except OSError:
                return

    def close(self):
        self.stopped.set()
        self.sock.close()


def config(name, url, profile, on_unavailable="fail", enabled="yes", timeout="2",
           token_file=None, mask_file=None, log_file=None):
    path = os.path.join(WORK, name + ".conf")
    with open(path, "w") as f:
        f.write(f"""[memtyped]
enabled = {enabled}
url = {url}
token_file = {token_file or os.path.join(WORK, "hook.token")}
timeout = {timeout}
on_unavailable = {on_unavailable}

[host]
profile = {profile}

[vmm]
mask_file = {mask_file or os.path.join(WORK, "run", "{uuid}.mask")}

[log]
file = {log_file or os.path.join(WORK, "hook.log")}
""")
    return path


def run_hook(conf, name, xml, op="prepare", sub="begin"):
    """The hook as libvirt runs it: a clean environment, argv, XML on stdin."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
           "MEMTYPED_HOOK_CONFIG": conf}
    p = subprocess.run([HOOK, name, op, sub, "-"], input=xml, capture_output=True, text=True, env=env, timeout=30)
    return p.returncode, p.stdout, p.stderr


def timed_hook(conf, name, xml):
    """A prepare and how long it took: (exit code or None if still running after 30 s, stderr, seconds)."""
    began = time.monotonic()
    try:
        code, _, err = run_hook(conf, name, xml)
    except subprocess.TimeoutExpired:
        code, err = None, "still running after 30 s"
    return code, err, time.monotonic() - began


def mask_file(vm_uuid):
    try:
        with open(os.path.join(WORK, "run", vm_uuid + ".mask")) as f:
            return f.read()
    except OSError:
        return None


def marker(vm_uuid):
    """The path of the marker migrate/restore begin leave for the prepare that follows."""
    return os.path.join(WORK, "run", vm_uuid + ".mask.incoming")


def hook_log():
    with open(os.path.join(WORK, "hook.log")) as f:
        return f.read()


def sample(kind):
    with open(os.path.join(SAMPLES, kind + ".xml")) as f:
        text = f.read()
    return (re.search(r"<name>(.*?)</name>", text).group(1), re.search(r"<uuid>(.*?)</uuid>", text).group(1), text)


def fresh_domain(kind, name):
    """A sample under a new name and UUID."""
    _, old_uuid, text = sample(kind)
    new_uuid = str(uuid.uuid4())
    return name, new_uuid, re.sub(r"<name>.*?</name>", f"<name>{name}</name>", text).replace(old_uuid, new_uuid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the memtyped binary")
    args = ap.parse_args()
    support.write(os.path.join(WORK, "tokens"), f"hook {TOKEN}\n")
    support.write(os.path.join(WORK, "hook.token"), TOKEN + "\n")

    s = Server(args.bin, "legacy-ignore-guest-pat")
    url = f"http://127.0.0.1:{s.port}"
    spr = {"vendor": "intel", "self_snoop": True, "tdp": True, "cpu": {"family": 6, "model": "0x8f"}, "kernel": "6.16"}
    check(s.request("PUT", "/v1/hosts/spr-6-16", spr)[0] == 201, "host profile spr-6-16 created")
    check(s.request("PUT", "/v1/hosts/no-snoop", {**spr, "self_snoop": False})[0] == 201, "host profile no-snoop created")
    conf = config("spr", url, "spr-6-16")

    print("== the sample domains: registered, mapped, mask written, revision applied")
    expected = {"vga": ["VGA"], "bochs-display": ["bochs-display"], "virtio-gpu": ["virtio-gpu"], "none": []}
    check(sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(SAMPLES, "*.xml"))) == sorted(expected),
          "the samples are VGA, bochs-display, virtio-gpu and none")
    for kind, devices in expected.items():
        name, vm_uuid, xml = sample(kind)
        code, out, err = run_hook(conf, name, xml)
        check(code == 0 and out == "", f"{kind}: prepare exits 0 with nothing on stdout ({code}: {err.strip()})")
        vm = s.vm(vm_uuid)
        check(vm is not None, f"{kind}: registered under its UUID {vm_uuid}")
        if vm is None:
            continue
        check(vm["display_devices"] == devices, f"{kind}: display_devices {vm['display_devices']} == {devices}")
        check(vm["host_profile"] == "spr-6-16", f"{kind}: host profile from the config")
        check(vm["baseline"] == "legacy-ignore-guest-pat", f"{kind}: the current baseline")
        check(vm["labels"].get("libvirt.domain") == name, f"{kind}: labelled with the domain name")
        _, q = s.request("GET", f"/v1/vms/{vm_uuid}/kvm-quirks")
        check(mask_file(vm_uuid) == q["disable_quirks2"]["mask_to_apply"] + "\n",
              f"{kind}: mask file {mask_file(vm_uuid)!r} is kvm-quirks' mask_to_apply")
        check(vm["applied_revision"] == vm["revision"] == 1 and vm["restart_required"] is False,
              f"{kind}: applied_revision {vm['applied_revision']} is the revision, no restart required")
        check(vm["applied_at"] is not None and vm["applied_at"] >= vm["created_at"],
              f"{kind}: applied_at {vm['applied_at']} is the time of the start, not before the record's creation")
    log = open(os.path.join(WORK, "hook.log")).read()
    vga_name, vga_uuid, vga_xml = sample("vga")
    check(f"domain {vga_name} ({vga_uuid}): KVM quirk mask 0x0" in log, "the mask is logged")

    print("== the current baseline moves on: known domains keep theirs, new ones get it")
    s.stop()
    s = Server(args.bin, "honor-guest-pat-2025")
    url = f"http://127.0.0.1:{s.port}"
    conf = config("spr", url, "spr-6-16")
    before = s.vm(vga_uuid)
    code, _, err = run_hook(conf, vga_name, vga_xml)
    after = s.vm(vga_uuid)
    check(code == 0, f"second prepare of a known domain exits 0 ({err.strip()})")
    check(after["baseline"] == "legacy-ignore-guest-pat" and after["disabled_quirks"] == "0x0",
          f"a known domain keeps its baseline and mask ({after['baseline']}, {after['disabled_quirks']})")
    check(after["revision"] == before["revision"] == 1, "and its revision: the hook changed nothing")
    check(mask_file(vga_uuid) == "0x0\n", "its mask file still 0x0")
    status, history = s.request("GET", f"/v1/vms/{vga_uuid}/history")
    check(status == 200 and len(history["items"]) == 1, "its history is the create alone (starts are not changes)")
    new_name, new_uuid, new_xml = fresh_domain("virtio-gpu", "new-after-move")
    code, _, err = run_hook(conf, new_name, new_xml)
    new_vm = s.vm(new_uuid) or {}
    check(code == 0 and new_vm.get("baseline") == "honor-guest-pat-2025", f"a new domain gets the new baseline ({err.strip()})")
    check(mask_file(new_uuid) == "0x200\n", f"and its mask 0x200 ({mask_file(new_uuid)!r})")

    print("== a mask this host's KVM refuses fails the start")
    refused_conf = config("no-snoop", url, "no-snoop")
    bad_name, bad_uuid, bad_xml = fresh_domain("bochs-display", "refused-no-snoop")
    code, _, err = run_hook(refused_conf, bad_name, bad_xml)
    check(code == 1, f"prepare exits 1 ({code})")
    check("IGNORE_GUEST_PAT" in err and "EINVAL" in err and "0x200" in err and bad_name in err,
          f"stderr names the domain, the mask, the refused quirk and EINVAL: {err.strip()}")
    check(mask_file(bad_uuid) is None, "no mask file written")
    bad_vm = s.vm(bad_uuid) or {}
    check(bad_vm.get("applied_revision", "missing") is None and bad_vm.get("applied_at", "missing") is None,
          "nothing recorded as applied")

    print("== a configuration error refuses the start, saying what is wrong")
    missing_name, missing_uuid, missing_xml = fresh_domain("vga", "no-such-profile")
    code, _, err = run_hook(config("missing", url, "no-such-profile"), missing_name, missing_xml)
    check(code == 1 and "/host_profile" in err and "no-such-profile" in err,
          f"a host profile memtyped does not know: {err.strip()}")
    check(s.vm(missing_uuid) is None and mask_file(missing_uuid) is None, "nothing registered, no mask file")



    print("== a domain name memtyped would refuse as a label value: cleaned, the start goes on")
    for what, long_name, label in [("a tab and 300 bytes of CJK", "a\tb" + "\u540d" * 100, "ab" + "\u540d" * 84),
                                   ("300 ASCII characters", "x" * 300, "x" * 256)]:
        long_name, long_uuid, long_xml = fresh_domain("vga", long_name)
        code, _, err = run_hook(conf, long_name, long_xml)
        vm = s.vm(long_uuid) or {}
        check(code == 0 and vm.get("labels", {}).get("libvirt.domain") == label,
              f"{what}: registered, labelled without control characters, cut to 256 UTF-8 bytes on a character "
              f"boundary ({code}: {err.strip()})")

    print("== a token file that is not one line of visible ASCII: refused, the token not shown")
    tok_name, tok_uuid, tok_xml = fresh_domain("vga", "bad-token")
    for what, text in [("two lines", "first-half-secret\nsecond-half-secret\n"),
                       ("a non-ASCII character", "s\u00e9cret-half-secret\n"), ("a tab", "first-half-secret\tx\n"),
                       ("nothing", "\n")]:
        bad_token = support.write(os.path.join(WORK, "bad.token"), text)
        log_before = len(hook_log())
        code, _, err = run_hook(config("bad-token", url, "spr-6-16", on_unavailable="warn", token_file=bad_token),
                                tok_name, tok_xml)
        logged = hook_log()[log_before:]
        check(code == 1 and bad_token in err and "one line of visible ASCII" in err,
              f"{what}: the start is refused (even with on_unavailable = warn), naming the file ({code}: {err.strip()})")
        check("half-secret" not in err + logged, f"{what}: the token is in neither stderr nor the log")
    check(s.vm(tok_uuid) is None and mask_file(tok_uuid) is None, "nothing registered, no mask file")


    print("== a mask file path a domain name or UUID would take out of its directory")
    by_name = config("by-name", url, "spr-6-16", mask_file=os.path.join(WORK, "run", "names", "{name}", "mask"))
    for dots in (".", ".."):
        _, dots_uuid, dots_xml = fresh_domain("vga", dots)
        code, _, err = run_hook(by_name, dots, dots_xml)
        check(code == 1 and "cannot go into the mask file path" in err and s.vm(dots_uuid) is None,
              f"a domain named {dots!r}, mask_file .../{{name}}/mask: refused, nothing registered ({code}: {err.strip()})")
    check(not os.path.exists(os.path.join(WORK, "run", "mask")) and not os.path.exists(os.path.join(WORK, "run", "names", "mask")),
          "no mask file written outside the directory")
    code, _, _ = run_hook(by_name, "named-dir", fresh_domain("vga", "named-dir")[2])
    check(code == 0 and os.path.exists(os.path.join(WORK, "run", "names", "named-dir", "mask")), "another name: its mask file")
    escape = support.write(os.path.join(WORK, "escape.mask"), "0x0\n", 0o644)
    evil_xml = sample("vga")[2].replace(vga_uuid, "../escape")
    code, _, err = run_hook(conf, "evil", evil_xml, "release", "end")
    check(code == 0 and os.path.exists(escape), f"a <uuid> of ../escape: release removes nothing outside ({code})")
    code, _, err = run_hook(conf, "evil", evil_xml)
    check(code == 1 and "no <uuid> of the form libvirt writes" in err, f"and prepare refuses it ({err.strip()})")


    print("== refusals carry memtyped's detail; a timeout of 0 or less is a configuration error")
    deleted_name, deleted_uuid, deleted_xml = fresh_domain("vga", "deleted-during-start")

    def delete_first(ex):
        if ex.method == "PUT" and ex.target.endswith("/applied"):
            s.request("DELETE", f"/v1/vms/{deleted_uuid}")
    deleter = support.Proxy(s.port, delete_first)
    code, _, err = run_hook(config("deleter", deleter.url, "spr-6-16"), deleted_name, deleted_xml)
    deleter.close()
    answer = [ex for ex in deleter.exchanges if ex.target.endswith("/applied")]
    detail = json.loads(answer[0].response_body)["detail"] if answer and answer[0].status == 404 else "(no 404)"
    check(code == 1 and "recording the applied revision" in err and "404 " + detail in err,
          f"the VM deleted before PUT .../applied: 404, refused with memtyped's detail {detail!r} ({err.strip()})")
    for bad in ("0", "-1", "nan"):
        code, _, err = run_hook(config("bad-timeout", url, "spr-6-16", on_unavailable="warn", timeout=bad),
                                vga_name, vga_xml)
        check(code == 1 and "timeout must be a positive number of seconds" in err,
              f"timeout = {bad}: refused as a configuration error, even with on_unavailable = warn ({code}: {err.strip()})")

    print("== restart_required after a quirk change, cleared by the next start")
    status, patched = s.request("PATCH", f"/v1/vms/{vga_uuid}", {"quirks": {"IGNORE_GUEST_PAT": "disable"}},
                                {"If-Match": '"r1"'})
    check(status == 200 and patched["restart_required"] is True and patched["applied_revision"] == 1,
          f"the patched VM shows restart_required ({status}, {patched and patched.get('restart_required')})")
    check(s.restart_required_ids("true") == [vga_uuid], "GET /v1/vms?restart_required=true finds it alone")
    code, _, err = run_hook(conf, vga_name, vga_xml)
    after = s.vm(vga_uuid)
    check(code == 0 and after["applied_revision"] == 2 and after["restart_required"] is False,
          f"the next prepare applies revision 2 and clears it ({err.strip()})")
    check(after["applied_at"] >= patched["applied_at"] and after["applied_at"] >= patched["updated_at"],
          f"and records when: {after['applied_at']}, after the change at {patched['updated_at']}")
    check(mask_file(vga_uuid) == "0x200\n", "the mask file now holds 0x200")
    check(s.restart_required_ids("true") == [], "the filter finds none")

    print("== the record changes while the hook applies it: 409, the hook reads the mask again")
    proxy = RacingProxy(s, {"quirks": {"CD_NW_CLEARED": "disable"}})
    bochs_name, bochs_uuid, bochs_xml = sample("bochs-display")
    before = s.vm(bochs_uuid)
    code, _, err = run_hook(config("racing", proxy.url, "spr-6-16"), bochs_name, bochs_xml)
    proxy.close()
    after = s.vm(bochs_uuid)
    check(code == 0, f"prepare exits 0 ({err.strip()})")
    check(proxy.applied_calls == 2, f"two reports: the stale one (409), then the current one ({proxy.applied_calls})")
    check(after["revision"] == before["revision"] + 1 == after["applied_revision"] and after["restart_required"] is False,
          "the revision applied is the one after the change")
    check(mask_file(bochs_uuid) == after["disabled_quirks"] + "\n" == "0x2\n",
          f"the mask file holds the changed mask ({mask_file(bochs_uuid)!r})")

    print("== a known domain started on another host: its host profile follows, its quirks stay")
    other = {"vendor": "intel", "self_snoop": True, "tdp": True, "cpu": {"family": 6, "model": "0x8f"}, "kernel": "6.17"}
    check(s.request("PUT", "/v1/hosts/spr-6-17", other)[0] == 201, "host profile spr-6-17 created")
    before = s.vm(vga_uuid)
    code, _, err = run_hook(config("spr-6-17", url, "spr-6-17"), vga_name, vga_xml)
    after = s.vm(vga_uuid)
    check(code == 0 and after["host_profile"] == "spr-6-17", f"host_profile is now spr-6-17 ({err.strip()})")
    check(after["disabled_quirks"] == before["disabled_quirks"] and after["baseline"] == before["baseline"],
          "baseline and mask unchanged")
    check(after["revision"] == before["revision"] + 1 == after["applied_revision"] and after["restart_required"] is False,
          "one new revision (the move), applied by this start")
    _, history = s.request("GET", f"/v1/vms/{vga_uuid}/history?limit=1")
    check([c["field"] for c in history["items"][0]["changes"]] == ["/host_profile"], "the history says what moved")
    code, _, _ = run_hook(conf, vga_name, vga_xml)
    check(code == 0 and s.vm(vga_uuid)["host_profile"] == "spr-6-16", "and back")



    print("== the host profile moves under the hook: settled again before the mask is checked")
    race_name, race_uuid, race_xml = fresh_domain("vga", "host-profile-race")
    check(run_hook(conf, race_name, race_xml)[0] == 0, "a domain started on spr-6-16")
    calls = {"quirks": 0, "patch": 0}

    def another_host_takes_it(ex):
        if ex.method == "GET" and ex.target.endswith("/kvm-quirks"):
            calls["quirks"] += 1
            if calls["quirks"] == 1:  # between the hook's PATCH and its read, another host's hook moves it
                s.request("PATCH", f"/v1/vms/{race_uuid}", {"host_profile": "no-snoop", "host": None})
    mover = support.Proxy(s.port, another_host_takes_it)
    code, _, err = run_hook(config("race", mover.url, "spr-6-17"), race_name, race_xml)
    mover.close()
    vm = s.vm(race_uuid)
    check(code == 0 and vm["host_profile"] == "spr-6-17" and vm["applied_revision"] == vm["revision"],
          f"the hook sets its profile again and applies that revision ({code}: {err.strip()}; {vm['host_profile']})")
    check(calls["quirks"] == 2, f"the mask is read again, against this host ({calls['quirks']} reads)")

    def operator_patches_first(ex):
        if ex.method == "PATCH":
            calls["patch"] += 1
            if calls["patch"] == 1:  # the record moves between the hook's GET and its PATCH (If-Match)
                s.request("PATCH", f"/v1/vms/{race_uuid}", {"labels": {"owner": "ops"}})
    patcher = support.Proxy(s.port, operator_patches_first)
    code, _, err = run_hook(config("race-412", patcher.url, "spr-6-16"), race_name, race_xml)
    patcher.close()
    vm = s.vm(race_uuid)
    check(code == 0 and vm["host_profile"] == "spr-6-16" and vm["labels"].get("owner") == "ops"
          and vm["applied_revision"] == vm["revision"],
          f"412 on the PATCH of the host profile: read again, patched, applied ({code}: {err.strip()})")
    check(calls["patch"] == 2, f"two PATCHes: the stale one (412), then one on the changed record ({calls['patch']})")

    print("== an incoming migration or restore is not a start: no start recorded, refused if restart_required")
    proxy = support.Proxy(s.port)
    proxy_conf = config("arrivals", proxy.url, "spr-6-16")
    mig_name, mig_uuid, mig_xml = fresh_domain("virtio-gpu", "arrives-by-migration")
    check(run_hook(conf, mig_name, mig_xml)[0] == 0, "a domain started here first (revision 1 applied)")
    started = s.vm(mig_uuid)
    for op, word in [("migrate", "migration"), ("restore", "restore")]:
        del proxy.exchanges[:]
        code, out, err = run_hook(proxy_conf, mig_name, mig_xml, op, "begin")
        check(code == 0 and out == "" and err == "" and os.path.exists(marker(mig_uuid)),
              f"{op} begin: exit 0, nothing on stdout (XML unchanged), a marker written ({code}: {err.strip()})")
        check(proxy.exchanges == [], f"{op} begin asks memtyped nothing")
        os.unlink(os.path.join(WORK, "run", mig_uuid + ".mask"))
        code, out, err = run_hook(proxy_conf, mig_name, mig_xml)
        after = s.vm(mig_uuid)
        check(code == 0 and out == "", f"{op}: the prepare that follows exits 0 ({code}: {err.strip()})")
        check(not any(ex.target.endswith("/applied") for ex in proxy.exchanges),
              f"{op}: no PUT .../applied (methods: {[ex.method + ' ' + ex.target for ex in proxy.exchanges]})")
        check(after["applied_at"] == started["applied_at"] and after["applied_revision"] == 1,
              f"{op}: applied_revision and applied_at are the start's ({after['applied_at']})")
        check(mask_file(mig_uuid) == "0x200\n", f"{op}: the mask file is written ({mask_file(mig_uuid)!r})")
        check(not os.path.exists(marker(mig_uuid)), f"{op}: the marker is consumed")
        check(f"domain {mig_name} ({mig_uuid}) arrives by {word}, mask 0x200 of revision 1" in hook_log()
              and "no start recorded" in hook_log(), f"{op}: the log says it arrives, with its mask, no start recorded")
    status, _ = s.request("PATCH", f"/v1/vms/{mig_uuid}", {"quirks": {"CD_NW_CLEARED": "disable"}}, {"If-Match": '"r1"'})
    check(status == 200 and s.vm(mig_uuid)["restart_required"] is True, "its quirks change: restart_required")
    for op in ("migrate", "restore"):
        check(run_hook(proxy_conf, mig_name, mig_xml, op, "begin")[0] == 0, f"{op} begin")
        code, _, err = run_hook(proxy_conf, mig_name, mig_xml)
        after = s.vm(mig_uuid)
        check(code == 1 and "carrying the KVM quirk mask of revision 1" in err and "Restart the domain to apply revision 2"
              in err and "revert the change" in err, f"{op} with restart_required: refused, saying why: {err.strip()}")
        check(after["restart_required"] is True and after["applied_revision"] == 1,
              f"{op}: restart_required still true, applied_revision still 1")
        check(not os.path.exists(marker(mig_uuid)), f"{op}: the marker is consumed by the refused prepare too")
    code, _, err = run_hook(conf, mig_name, mig_xml)
    check(code == 0 and s.vm(mig_uuid)["restart_required"] is False and mask_file(mig_uuid) == "0x202\n",
          f"a plain start after it applies revision 2 ({err.strip()})")
    proxy.close()

    never_name, never_uuid, never_xml = fresh_domain("vga", "arrives-never-started")
    run_hook(conf, never_name, never_xml, "migrate", "begin")
    code, _, err = run_hook(conf, never_name, never_xml)
    check(code == 0 and mask_file(never_uuid) == "0x200\n" and s.vm(never_uuid)["applied_revision"] is None,
          f"a domain memtyped never saw started arrives: the current mask, no start recorded ({err.strip()})")
    check(f"warning: domain {never_name} ({never_uuid}) arrives by migration, but memtyped has no start recorded"
          in hook_log(), "and a warning that the mask it started with is unknown")

    refused_name, refused_uuid, refused_xml = fresh_domain("bochs-display", "arrives-refused")
    run_hook(conf, refused_name, refused_xml)
    run_hook(refused_conf, refused_name, refused_xml, "migrate", "begin")
    code, _, err = run_hook(refused_conf, refused_name, refused_xml)
    check(code == 1 and "IGNORE_GUEST_PAT" in err and "EINVAL" in err,
          f"an arrival on a host whose KVM refuses the mask: refused as a start ({err.strip()})")

    stale_name, stale_uuid, stale_xml = fresh_domain("vga", "stale-marker")
    run_hook(conf, stale_name, stale_xml)
    boot = open("/proc/sys/kernel/random/boot_id").read().strip()
    now = time.clock_gettime(time.CLOCK_BOOTTIME)
    for what, record in [("older than two minutes", {"operation": "migrate", "boot_id": boot, "boottime": now - 121}),
                         ("from another boot", {"operation": "migrate", "boot_id": "x" + boot[1:], "boottime": now}),
                         ("unreadable", "not json")]:
        status, _ = s.request("PATCH", f"/v1/vms/{stale_uuid}", {"labels": {"case": what.split()[0]}})
        support.write(marker(stale_uuid), json.dumps(record) if isinstance(record, dict) else record, 0o644)
        code, _, err = run_hook(conf, stale_name, stale_xml)
        vm = s.vm(stale_uuid)
        check(status == 200 and code == 0 and vm["applied_revision"] == vm["revision"] > 1
              and not os.path.exists(marker(stale_uuid)),
              f"a marker {what}: ignored and removed, the prepare is a start (revision {vm['revision']} "
              f"recorded as applied: {vm['applied_revision']}) ({err.strip()})")

    gone_name, gone_uuid, gone_xml = fresh_domain("vga", "arrival-released")
    run_hook(conf, gone_name, gone_xml, "restore", "begin")
    check(os.path.exists(marker(gone_uuid)), "restore begin leaves a marker")
    code, _, _ = run_hook(conf, gone_name, gone_xml, "release", "end")
    check(code == 0 and not os.path.exists(marker(gone_uuid)), "release removes it")
    stuck_name, stuck_uuid, stuck_xml = fresh_domain("vga", "marker-unwritable")
    os.makedirs(marker(stuck_uuid))  # os.replace onto a directory fails
    code, _, err = run_hook(conf, stuck_name, stuck_xml, "migrate", "begin")
    check(code == 1 and "cannot be written" in err and "take the arrival for a start" in err,
          f"a marker that cannot be written refuses the migration ({code}: {err.strip()})")
    os.rmdir(marker(stuck_uuid))
    code, out, err = run_hook(config("off", url, "spr-6-16", enabled="no"), stuck_name, stuck_xml, "migrate", "begin")
    check(code == 0 and out == "" and not os.path.exists(marker(stuck_uuid)), "enabled = no: migrate begin writes nothing")

    print("== timeout bounds the whole conversation of a prepare, not each read")
    drip_name, drip_uuid, drip_xml = fresh_domain("vga", "dripping-server")
    for what, drip in [("a server dripping one header line every 0.5 s", DrippingServer()),
                       ("a 404 whose body drips one byte every 0.5 s",
                        DrippingServer(head=b"HTTP/1.1 404 Not Found\r\nContent-Type: application/problem+json\r\n"
                                            b"Content-Length: 1000\r\n\r\n", piece=lambda n: b" "))]:
        code, err, took = timed_hook(config("drip", drip.url, "spr-6-16", timeout="2"), drip_name, drip_xml)
        drip.close()
        check(code == 1 and "did not finish answering within timeout = 2 s" in err and "on_unavailable = fail" in err,
              f"{what} (for 60 s): refused as unavailable ({code}: {err.strip()})")
        check(took < 15, f"within the 2 s timeout plus the interpreter's start, far from the drip's 60 s ({took:.1f} s)")
    slow_name, slow_uuid, slow_xml = fresh_domain("vga", "slow-server")
    check(run_hook(conf, slow_name, slow_xml)[0] == 0, "a domain started once (its next prepare: PUT, GET, GET, PUT)")
    applied = s.vm(slow_uuid)["applied_at"]
    slow = support.Proxy(s.port, lambda ex: time.sleep(1.2) if ex.method == "GET" else None)
    slow.server.handle_error = lambda *args: None  # the hook hangs up on a GET it stopped waiting for
    code, _, err = run_hook(config("slow", slow.url, "spr-6-16", timeout="2"), slow_name, slow_xml)
    check(code == 1 and "within timeout = 2 s" in err and s.vm(slow_uuid)["applied_at"] == applied,
          f"GETs of 1.2 s each: the second passes the prepare's 2 s, refused, no start recorded ({code}: {err.strip()})")
    time.sleep(0.5)  # the proxy's last GET ends before it closes
    slow.close()


    print("== a log file that cannot be written: syslog alone, the start goes on")
    nolog_name, nolog_uuid, nolog_xml = fresh_domain("vga", "log-file-missing")
    nolog_conf = config("nolog", url, "spr-6-16", log_file=os.path.join(WORK, "no-such-dir", "hook.log"))
    code, _, err = run_hook(nolog_conf, nolog_name, nolog_xml)
    vm = s.vm(nolog_uuid) or {}
    check(code == 0 and vm.get("applied_revision") == 1 and mask_file(nolog_uuid) == "0x200\n",
          f"prepare exits 0, the start recorded, the mask written ({code}: {err.strip()[-300:]})")
    code, _, err = run_hook(config("nolog-refused", url, "no-snoop", log_file=os.path.join(WORK, "no-such-dir", "x.log")),
                            bad_name, bad_xml)
    check(code == 1 and err.startswith("memtyped hook: domain") and "Traceback" not in err,
          f"a refused start is refused for its own reason, no traceback ({code}: {err.strip()[-300:]})")
    code, _, err = run_hook(nolog_conf, nolog_name, nolog_xml, "release", "end")
    check(code == 0 and mask_file(nolog_uuid) is None, f"release exits 0 and removes the mask file ({code})")

    print("== memtyped down")
    s.stop()
    code, _, err = run_hook(conf, vga_name, vga_xml)
    check(code == 1 and "cannot reach memtyped" in err and "on_unavailable = fail" in err,
          f"on_unavailable=fail refuses the start: {err.strip()}")
    warn_conf = config("warn", url, "spr-6-16", on_unavailable="warn")
    code, _, err = run_hook(warn_conf, vga_name, vga_xml)
    log = open(os.path.join(WORK, "hook.log")).read()
    check(code == 0, f"on_unavailable=warn lets it start ({code}: {err.strip()})")
    check(re.search(r"warning: cannot reach memtyped .* starting domain web-vga .* anyway .*\(0x200\)", log) is not None,
          "and logs a warning naming the mask file it keeps")
    check(mask_file(vga_uuid) == "0x200\n", "the earlier mask file is kept")
    code, _, err = run_hook(warn_conf, new_name + "-x", fresh_domain("none", "never-seen")[2])
    check(code == 0 and "with no mask file" in open(os.path.join(WORK, "hook.log")).read(),
          "a domain never started before: warned that no mask file exists")
    for mode, conf_path, expected in [("fail", conf, 1), ("warn", warn_conf, 0)]:
        check(run_hook(conf_path, vga_name, vga_xml, "migrate", "begin")[0] == 0, f"{mode}: migrate begin needs no memtyped")
        code, _, err = run_hook(conf_path, vga_name, vga_xml)
        check(code == expected and not os.path.exists(marker(vga_uuid))
              and (mode == "warn" or "refusing the migration of domain web-vga" in err),
              f"on_unavailable = {mode}: an arrival as a start ({code}: {err.strip()})")
    check("letting the migration of domain web-vga" in hook_log() and "anyway (on_unavailable = warn)" in hook_log(),
          "warn: logged as such")

    print("== release removes the mask file, with memtyped down (kept with on_unavailable = warn)")
    check(mask_file(vga_uuid) is not None, "the domain has a mask file before its release")
    code, out, err = run_hook(warn_conf, vga_name, vga_xml, "release", "end")
    check(code == 0 and out == "" and err == "" and mask_file(vga_uuid) == "0x200\n",
          f"on_unavailable = warn: release keeps the mask file a start without memtyped uses ({code}: {err.strip()})")
    check(f"info: domain {vga_name} ({vga_uuid}): released; mask file " in open(os.path.join(WORK, "hook.log")).read()
          and "kept (on_unavailable = warn" in open(os.path.join(WORK, "hook.log")).read(), "and says so in the log")
    code, out, err = run_hook(conf, vga_name, vga_xml, "release", "end")
    check(code == 0 and out == "" and err == "", f"release end: exit 0, no output ({code}: {err.strip()})")
    check(mask_file(vga_uuid) is None, "its mask file is removed")
    check(f"info: domain {vga_name} ({vga_uuid}): released; mask file " in open(os.path.join(WORK, "hook.log")).read(),
          "and the removal is logged")
    code, out, err = run_hook(conf, vga_name, vga_xml, "release", "end")
    check(code == 0 and out == "" and err == "" and mask_file(vga_uuid) is None,
          f"a second release (no mask file): exit 0, no output ({code}: {err.strip()})")
    stuck_name, stuck_uuid, stuck_xml = fresh_domain("vga", "stuck-mask")
    os.makedirs(os.path.join(WORK, "run", stuck_uuid + ".mask"))  # unlink fails: EISDIR
    code, out, err = run_hook(conf, stuck_name, stuck_xml, "release", "end")
    check(code == 0 and out == "", f"a mask file that cannot be removed: release still exits 0 ({code}: {err.strip()})")
    check(re.search(rf"warning: domain {stuck_name} \({stuck_uuid}\): released, but its mask file .* cannot be removed",
                    open(os.path.join(WORK, "hook.log")).read()) is not None, "and a warning is logged")
    code, _, _ = run_hook(os.path.join(WORK, "no-such.conf"), vga_name, vga_xml, "release", "end")
    check(code == 0, f"no config file: release exits 0 ({code})")
    code, _, err = run_hook(os.path.join(WORK, "no-such.conf"), vga_name, vga_xml)
    check(code == 1 and "no-such.conf" in err and "set enabled = no" in err,
          f"no config file: prepare refuses the start, naming the file and how to turn the hook off ({code}: {err.strip()})")

    print("== other operations are ignored, even with memtyped down")
    for op, sub in [("start", "begin"), ("started", "begin"), ("stopped", "end"), ("reconnect", "begin")]:
        code, out, err = run_hook(conf, vga_name, vga_xml, op, sub)
        check(code == 0 and out == "" and err == "", f"{op} {sub}: exit 0, no output")

    print("== enabled = no: the hook does nothing")
    code, out, err = run_hook(os.path.join(ROOT, "deploy", "libvirt", "qemu-hook.conf"), vga_name, vga_xml)
    check(code == 0 and out == "" and err == "", f"the packaged config (off): prepare exits 0 ({code}: {err.strip()})")
    s = Server(args.bin, "honor-guest-pat-2025")
    off_name, off_uuid, off_xml = fresh_domain("vga", "hook-off")
    code, _, err = run_hook(config("off", f"http://127.0.0.1:{s.port}", "spr-6-16", enabled="no"), off_name, off_xml)
    check(code == 0 and s.vm(off_uuid) is None and mask_file(off_uuid) is None,
          f"enabled = no: the domain starts, not registered, no mask file ({code}: {err.strip()})")
    s.stop()


if __name__ == "__main__":
    support.run(main, "libvirt hook")
