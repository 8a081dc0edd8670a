"""``python -m engine.eval.watchdog -- ARGV...``: run a server that dies with its parent.

The server starts in its own session (so its children, e.g. vLLM's engine processes, share one
process group). The watchdog then waits for its stdin, a pipe from the eval, to close: that
happens when the eval stops the server and also when the eval is killed (even by SIGKILL).
Either way the whole group gets SIGTERM, then SIGKILL after the grace period. Its own exit
status is the server's when the server ends first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading


def _stop(server: subprocess.Popen, grace_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)  # children that outlived the server
    server.wait()


def main(argv: list[str]) -> int:
    grace_s = float(argv[0])
    command = argv[argv.index("--") + 1 :]
    done = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the eval's to handle
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)

    def parent_gone() -> None:
        while os.read(0, 1 << 16):  # unbuffered: no lock held at interpreter exit
            pass
        done.set()

    def server_gone() -> None:
        server.wait()
        done.set()

    for target in (parent_gone, server_gone):
        threading.Thread(target=target, daemon=True).start()
    done.wait()
    if server.poll() is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)  # children left behind by the server
        return server.returncode
    _stop(server, grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
