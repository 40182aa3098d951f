#!/usr/bin/env bash
# Installs the test tools into .venv at the repo root: moto_server (AWS emulator used by the
# store tests via scripts/moto_single.py), localstripe (the Stripe emulator of the Stripe
# adapter's tests, started on loopback by scripts/localstripe_loopback.py), cfn-lint
# (template.yaml) and schemathesis (the OpenAPI fuzzer of scripts/fuzz-openapi.sh). Idempotent: a no-op taking well under a second
# when the pinned versions are already there.
set -euo pipefail

MOTO_VERSION=5.2.1
CFN_LINT_VERSION=1.51.0
SCHEMATHESIS_VERSION=4.32.5
LOCALSTRIPE_VERSION=1.15.10

cd "$(dirname "$0")/.."
VENV=.venv
PY="$VENV/bin/python3"

tools_ok() {
    [[ -x "$VENV/bin/moto_server" && -x "$VENV/bin/cfn-lint" && -x "$VENV/bin/schemathesis" && -x "$PY" ]] || return 1
    "$PY" - "$MOTO_VERSION" "$CFN_LINT_VERSION" "$SCHEMATHESIS_VERSION" "$LOCALSTRIPE_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
from importlib.util import find_spec
# What scripts/moto_single.py imports must import (not just be on disk); cfnlint is only
# located, as are schemathesis's, as importing them costs a second.
from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: F401
from werkzeug.serving import run_simple  # noqa: F401
# What scripts/localstripe_loopback.py imports.
from localstripe.server import app  # noqa: F401
from aiohttp import web  # noqa: F401
ok = find_spec("cfnlint") is not None and find_spec("schemathesis") is not None
pinned = (version("moto"), version("cfn-lint"), version("schemathesis"), version("localstripe"))
sys.exit(0 if ok and pinned == tuple(sys.argv[1:5]) else 1)
PY
}

if tools_ok; then
    echo "setup-test-tools: $VENV already has moto[server]==$MOTO_VERSION, localstripe==$LOCALSTRIPE_VERSION, cfn-lint==$CFN_LINT_VERSION and schemathesis==$SCHEMATHESIS_VERSION"
    exit 0
fi

created=""
if [[ ! -x "$PY" ]] || ! "$PY" -m pip --version >/dev/null 2>&1; then
    rm -rf "$VENV"   # a half-made venv (e.g. ensurepip missing) would make later runs fail
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            echo "setup-test-tools: python3 venv module missing; installing python3-venv" >&2
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$VENV"
        else
            echo "setup-test-tools: 'python3 -m venv' failed; install python3-venv (sudo apt-get install python3-venv) and retry" >&2
            exit 1
        fi
    fi
    created="created $VENV, "
fi

pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }
pip_install "moto[server]==$MOTO_VERSION" "localstripe==$LOCALSTRIPE_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
    "schemathesis==$SCHEMATHESIS_VERSION"
if ! tools_ok; then
    # Installed but damaged (e.g. a deleted entry-point script): pip skips satisfied pins.
    pip_install --force-reinstall --no-deps "moto==$MOTO_VERSION" "localstripe==$LOCALSTRIPE_VERSION" \
        "cfn-lint==$CFN_LINT_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
fi

if ! tools_ok; then
    echo "setup-test-tools: install finished but moto_server/localstripe/cfn-lint/schemathesis are not usable from $VENV" >&2
    exit 1
fi
echo "setup-test-tools: ${created}installed moto[server]==$MOTO_VERSION, localstripe==$LOCALSTRIPE_VERSION, cfn-lint==$CFN_LINT_VERSION and schemathesis==$SCHEMATHESIS_VERSION into $VENV"
