#!/usr/bin/env python3
"""Start localstripe (a stateful fake Stripe) on 127.0.0.1:<port> (used by the Stripe adapter's tests).

Why not the `localstripe` command: it binds every interface ('::'). This binds loopback only,
starts from an empty store, and never writes the store to /tmp/localstripe.pickle (the
command does after every write; parallel test servers would share that file).
Usage: python3 scripts/localstripe_loopback.py <port>
"""
import signal
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: localstripe_loopback.py <port>", file=sys.stderr)
        return 2
    port = int(sys.argv[1])
    try:
        from aiohttp import web
        from localstripe.resources import store
        from localstripe.server import app
    except ImportError as e:  # the Rust harness turns exit code 3 into an install hint
        print(f"cannot import localstripe ({e}); install it with: bash scripts/setup-test-tools.sh", file=sys.stderr)
        return 3
    store.dump_to_disk = lambda: None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
