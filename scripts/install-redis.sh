#!/usr/bin/env bash
# Installs Debian's redis-server when it is missing. Tests start their own instance on
# 127.0.0.1 and stop it; this script only makes the binary available.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq redis-server >/dev/null
# Debian's package starts a system instance on port 6379; tests use their own, so stop it.
($SUDO service redis-server stop || true) >/dev/null 2>&1
