#!/usr/bin/env bash
# What the dashboard's tests need beyond Node 20 and npm: Debian's chromium (headless, driven
# by the npm package playwright-core; no browser download). Installs it when missing (CI runs
# as root on Debian).
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing chromium (Debian package) for the dashboard's browser tests"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null 2>&1 || { echo "node (20 or later) and npm are required for the dashboard" >&2; exit 1; }
