"""``tahoe-cloud run``: the storage node as a foreground process.

Configuration and identity are read before anything starts, so a bad tahoe.cfg
ends the process at once with the ConfigError's one line on stderr and exit
status 1, and so does a node directory another process already uses
(:mod:`tahoe_cloud.node.runlock`; the lock is held until the process ends).
Then the reactor runs the node and prints its NURL(s) on stdout with the
swissnum hidden: a service manager keeps stdout as a log, and no secret
belongs in a log (``tahoe-cloud nurl`` prints the whole NURL). SIGINT and
SIGTERM stop the reactor, whose "before shutdown" trigger stops the node
service cleanly: the listener closes and in-flight uploads are aborted before
the backend stops.

SIGINT stops the node even when the process started with SIGINT ignored, as
a background job of a non-interactive shell does (and every process it
starts, such as a test run's nodes). Twisted handles SIGINT only when
Python's default handler is in place, so such a node would ignore SIGINT
for good and could only be killed, without the clean stop.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from twisted.internet.defer import ensureDeferred
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from tahoe_cloud.errors import TahoeCloudError
from tahoe_cloud.node.logging import start_logging
from tahoe_cloud.node.nodedir import NodeDirectory, open_node_directory
from tahoe_cloud.node.nurl import hide_swissnum
from tahoe_cloud.node.runlock import lock_node_directory
from tahoe_cloud.node.service import StorageNodeService

NAME = "run"
HELP = "Run the storage node in the foreground (stop it with Ctrl-C or SIGTERM)."

_log = Logger(namespace="tahoe_cloud.node")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


def main(args: argparse.Namespace) -> int:
    node = open_node_directory(args.nodedir)
    with lock_node_directory(node.config.nodedir, NAME):
        return _run(node)


def _run(node: NodeDirectory) -> int:
    from twisted.internet import reactor

    log_file = start_logging(node.config.nodedir, level=node.config.log_level)
    service = StorageNodeService(node, reactor)
    status = 0

    def fail(message: str) -> None:
        nonlocal status
        status = 1
        print(f"tahoe-cloud run: {message}", file=sys.stderr, flush=True)
        reactor.stop()

    async def started() -> None:
        try:
            await service.started
        except TahoeCloudError as e:
            fail(str(e))
            return
        except CannotListenError as e:
            fail(f"cannot listen on {node.listen_endpoint} ({e.socketError})")
            return
        except Exception:  # noqa: BLE001 - anything else: logged, then a clean exit 1
            _log.failure("the storage node failed to start")
            fail("the storage node failed to start; see the log above")
            return
        for nurl in node.nurls:
            print(f"NURL: {hide_swissnum(nurl, node.config.nodedir)}", flush=True)

    def begin() -> None:
        service.startService()
        ensureDeferred(started())

    # What twisted.application.app.startApplication does, with run's own
    # reporting of how the start went.
    reactor.callWhenRunning(begin)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    # An inherited "ignore SIGINT" would keep Twisted from handling it (see above).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        reactor.run()
    finally:
        log_file.close()
    return status
