"""Sends exactly N requests of one kind over one keep-alive connection and
checks each answers 200; bench/server-instructions.sh uses it so that the
instructions counted in the server divide by a known number of requests.

Usage: python3 bench/keepalive_client.py PORT N healthz|decision|batch|vm|vm-repeat|static
(static: GET /decision.json, nginx's copy of the decision response)
"""
import http.client
import random
import sys

BODY = (b'{"kernel":"6.16","host":{"vendor":"intel","self_snoop":true,"cpu":{"family":6,"model":"0x8f"}},'
        b'"vm":{"disabled_quirks":["IGNORE_GUEST_PAT"]},"vcpu":{"pat":"0x0407050600070106"},'
        b'"access":{"gpa":"0xfd000000","pat_index":2}}')


def main():
    port, n, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    vms = int(sys.argv[4]) if len(sys.argv) > 4 else 100000
    conn = http.client.HTTPConnection("127.0.0.1", port)
    rng = random.Random(42)
    for i in range(n):
        if kind == "healthz":
            conn.request("GET", "/healthz")
        elif kind == "static":
            conn.request("GET", "/decision.json")
        elif kind == "decision":
            conn.request("POST", "/v1/decisions", body=BODY, headers={"Content-Type": "application/json"})
        elif kind == "batch":
            conn.request("POST", "/v1/decisions/batch", body=b'{"requests":[' + b",".join([BODY] * 100) + b"]}",
                         headers={"Content-Type": "application/json"})
        elif kind == "vm":  # random ids: mostly memo misses
            conn.request("GET", "/v1/vms/vm-%d/decision?gpa=0xfd000000&pat_index=2" % rng.randrange(vms))
        elif kind == "vm-repeat":  # 100 ids in turn: memo hits after the first pass
            conn.request("GET", "/v1/vms/vm-%d/decision?gpa=0xfd000000&pat_index=2" % (i % 100))
        else:
            sys.exit("unknown kind " + kind)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            sys.exit("%s answered %d" % (kind, response.status))


if __name__ == "__main__":
    main()
