"""Run the fault-injecting proxy as its own process (for tests whose own reactor is blocked).

``python -m tests.s3.run_proxy TARGET_URL FAULT_RATE [SEED]`` prints the
proxy's port on its first line, serves until its standard input closes, then
prints a JSON summary (requests seen and faults injected, by kind).
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from twisted.internet import reactor, stdio
from twisted.internet.protocol import Protocol

from tests.s3.proxy import FAULTS, start_proxy


def main() -> None:
    target, rate = sys.argv[1], float(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    proxy, url = start_proxy(target, fault_rate=rate, seed=seed, delay=0.2)
    # Answers cut short too. Not "damage": a damaged part of a share cannot be
    # told from a good one by the server (the client's hashes find it).
    proxy.faults = (*FAULTS, "cut")
    print(url.rsplit(":", 1)[1], flush=True)

    class StopOnClose(Protocol):
        def connectionLost(self, reason: object = None) -> None:
            faults = Counter(r.fault for r in proxy.requests if r.fault)
            summary = {"requests": len(proxy.requests), "faults": dict(faults)}
            print(json.dumps(summary), flush=True)
            reactor.stop()

    stdio.StandardIO(StopOnClose())
    reactor.run()


if __name__ == "__main__":
    main()
