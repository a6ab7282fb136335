#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries for the tests and the PostgreSQL ingest benchmark,
# which start throwaway servers of their own (initdb + pg_ctl in a temporary folder, Unix socket
# only). Idempotent: does nothing when initdb and pg_ctl are already there. The package's own
# cluster is not needed; where the package starts one, it is left as the package set it up.
set -euo pipefail

for bin in /usr/lib/postgresql/*/bin; do
    if [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ]; then
        echo "PostgreSQL already installed: $("$bin/postgres" --version)"
        exit 0
    fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: installing PostgreSQL needs root (or sudo); run: apt-get install postgresql" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends postgresql
ls -d /usr/lib/postgresql/*/bin
