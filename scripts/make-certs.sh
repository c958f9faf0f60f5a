#!/usr/bin/env bash
# Create a private CA, the broker's certificate and one client certificate per name given, in ./certs.
# Usage: scripts/make-certs.sh BROKER_HOSTNAME [CLIENT ...]    (keys stay on this machine: certs/ is ignored by git)
set -euo pipefail
broker="${1:?broker host name, e.g. mqtt.example-community.cn}"
shift
out="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/certs"
mkdir -p "$out"
cd "$out"
umask 077
if [[ ! -f ca.key ]]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=smart-community CA" -keyout ca.key -out ca.crt
fi
issue() {
    local name="$1" san="$2"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name.key" -out "$name.csr"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
        -extfile <(printf 'subjectAltName=%s\n' "$san") -out "$name.crt"
    rm -f "$name.csr"
}
issue broker "DNS:$broker,DNS:mosquitto,DNS:localhost,IP:127.0.0.1"
for client in "$@"; do issue "$client" "DNS:$client"; done
chmod 644 ./*.crt
echo "certificates in $out"
