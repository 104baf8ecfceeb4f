#!/usr/bin/env bash
# Installs the real servers and clients the test suite starts on loopback, when missing.
# Package services are kept from starting: the suite runs its own instances.
set -euo pipefail

packages=(bind9 bind9-dnsutils pdns-server pdns-backend-sqlite3 pebble lego
          postgresql nghttp2-client iproute2)
commands=(named dig pdns_server - pebble lego pg_ctlcluster h2load ip)

missing=()
for i in "${!packages[@]}"; do
    if ! command -v "${commands[$i]}" >/dev/null 2>&1 \
        && ! dpkg-query -W -f='${Status}' "${packages[$i]}" 2>/dev/null \
            | grep -q "install ok installed"; then
        missing+=("${packages[$i]}")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
fi

echo "installing Debian packages: ${missing[*]}"
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
