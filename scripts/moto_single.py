#!/usr/bin/env python3
"""Start moto's server single-threaded on 127.0.0.1:<port> (used by the Rust test harness).

Why not `moto_server`: started normally it serves requests on several threads without a
lock, so concurrent conditional writes can both succeed (lost updates). Serving one request
at a time makes DynamoDB conditional writes and transactions exact, which the contract suite
asserts. Usage: python3 scripts/moto_single.py <port>
"""
import os
import signal
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: moto_single.py <port>", file=sys.stderr)
        return 2
    port = int(sys.argv[1])
    try:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import run_simple
    except ImportError as e:  # the Rust harness turns exit code 3 into an install hint
        print(f"cannot import moto server ({e}); install it with: pip install 'moto[server]'", file=sys.stderr)
        return 3
    # moto reads this to build URLs it hands back (e.g. SQS queue URLs).
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
