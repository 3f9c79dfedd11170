"""Appends to an audit log under load until killed (the SIGKILL tests' subprocess).

    python crash_driver.py LOG_DIR TAG [--threads N] [--node-root ROOT --node NODE] [--count N]

Prints one line per acknowledged append, only after ``commit()`` returned
(the entry is fsynced and a signed checkpoint covers it):

    ack <log dir name> <index> <token> <checkpoint size> <checkpoint root hex>
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading

from proof_messenger.auditlog import AuditLog, AuditRecord, open_node_log


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("log_dir")
    p.add_argument("tag")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--node", default=None, help="lease a slot <log_dir>/<node>-<k> instead")
    p.add_argument("--count", type=int, default=0, help="appends per thread, then exit cleanly (0: forever)")
    p.add_argument("--hold", action="store_true", help="keep the log open until stdin closes")
    args = p.parse_args()
    if args.node:
        log = open_node_log(args.log_dir, node=args.node, checkpoint_interval=0.02)
    else:
        log = AuditLog.open(args.log_dir, origin="example.com/crash", checkpoint_interval=0.02)
    out_lock = threading.Lock()
    name = log.directory.name
    print(f"ready {name} {os.getpid()}", flush=True)

    def worker(t: int) -> None:
        rnd = random.Random(f"{args.tag}-{t}")
        k = 0
        while not args.count or k < args.count:
            batch = rnd.choice((1, 1, 2, 5, 40))  # now and then a big write, to tear
            records = []
            for _ in range(batch):
                token = f"{args.tag}-{t}-{k}"
                records.append(
                    AuditRecord(
                        time_ms=k,
                        decision="accepted",
                        reason=None,
                        audience="crash",
                        client=token,
                        signed_digest=os.urandom(32).hex(),
                        subject="x" * rnd.randrange(1, 2000),
                    )
                )
                k += 1
            pending = log.append_many(records)
            cp = log.commit()
            lines = "".join(
                f"ack {name} {r.index} {json_token(r.entry)} {cp.size} {cp.root.hex()}\n" for r in pending
            )
            with out_lock:
                sys.stdout.write(lines)
                sys.stdout.flush()

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(args.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if args.hold:
        sys.stdin.read()
    log.close()
    print("done", flush=True)


def json_token(entry: bytes) -> str:
    import json

    return str(json.loads(entry)["client"])


if __name__ == "__main__":
    main()
