#!/usr/bin/env bash
# Makes the certificates of a secured Longboat cluster with openssl (Debian's
# openssl package): a CA, one certificate per broker and a client
# certificate, as PEM files that compose/secure.yml mounts.
#
#   scripts/gen-certs.sh [DIR]        (default DIR: compose/certs)
#
#   DIR/ca.pem, ca-key.pem            the CA (keep ca-key.pem off the brokers)
#   DIR/brokerN.pem, brokerN-key.pem  per broker: CN=brokerN, subjectAltName
#                                     DNS:brokerN, DNS:localhost, IP:127.0.0.1
#                                     plus $EXTRA_SANS; extendedKeyUsage
#                                     serverAuth,clientAuth: a broker presents
#                                     it on its SSL listeners and on Raft
#                                     (--raft-tls), where it is both server and
#                                     client
#   DIR/client.pem, client-key.pem    CN=$CLIENT_CN (principal User:$CLIENT_CN),
#                                     extendedKeyUsage clientAuth
#
# Environment:
#   BROKERS     broker host names (default "broker1 broker2 broker3")
#   EXTRA_SANS  more subjectAltName entries for every broker, e.g.
#               "DNS:kafka.example.com,IP:10.0.0.5"
#   CLIENT_CN   the client certificate's CN (default "client")
#   DAYS        validity in days (default 825)
#
# Keys are written mode 0644 so that the broker containers (uid 65532) can
# read them from a bind mount; on a shared host, chown them to 65532 and
# chmod 0600 instead. An existing CA in DIR is reused, so brokers added
# later chain to the same one; delete DIR to start over.
set -euo pipefail
dir=${1:-$(dirname "$0")/../compose/certs}
read -r -a brokers <<< "${BROKERS:-broker1 broker2 broker3}"
client_cn=${CLIENT_CN:-client}
days=${DAYS:-825}
command -v openssl >/dev/null || { echo "gen-certs: openssl not found (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"

if [ ! -f ca.pem ] || [ ! -f ca-key.pem ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem
  openssl req -x509 -new -key ca-key.pem -sha256 -days "$days" -subj "/CN=Longboat CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
  chmod 0600 ca-key.pem
  echo "gen-certs: CA $dir/ca.pem"
fi

# issue NAME CN EXTFILE: NAME.pem and NAME-key.pem signed by the CA.
issue() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$1-key.pem.tmp"
  openssl pkcs8 -topk8 -nocrypt -in "$1-key.pem.tmp" -out "$1-key.pem"
  rm -f "$1-key.pem.tmp"
  openssl req -new -key "$1-key.pem" -subj "/CN=$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -sha256 -days "$days" \
    -extfile "$3" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$3"
  chmod 0644 "$1-key.pem" "$1.pem"
}

for b in "${brokers[@]}"; do
  ext=$(mktemp)
  cat > "$ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:$b,DNS:localhost,IP:127.0.0.1${EXTRA_SANS:+,$EXTRA_SANS}
EOF
  issue "$b" "$b" "$ext"
  echo "gen-certs: broker $dir/$b.pem ($(openssl x509 -in "$b.pem" -noout -ext subjectAltName | tail -1 | sed 's/^ *//'))"
done

ext=$(mktemp)
cat > "$ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EOF
issue client "$client_cn" "$ext"
echo "gen-certs: client $dir/client.pem (principal User:$client_cn)"
openssl verify -CAfile ca.pem "${brokers[@]/%/.pem}" client.pem >/dev/null
