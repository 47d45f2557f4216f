#!/bin/sh
# Makes openssl-fixtures.json: keys and signatures produced by the openssl CLI, an implementation
# independent of the mirror's WebCrypto code, so the verification specs do not agree with themselves.
#   sh test/signatures/make-openssl-fixtures.sh > test/signatures/openssl-fixtures.json
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '%s' '{"critical":{"identity":{"docker-reference":"example.test/app"},"image":{"docker-manifest-digest":"sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"},"type":"cosign container image signature"},"optional":null}' > "$dir/message"
openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ecdsa.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/rsa.key" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$dir/ed25519.key" 2>/dev/null
openssl ecparam -name secp384r1 -genkey -noout -out "$dir/p384.key" 2>/dev/null
for kind in ecdsa rsa ed25519 p384; do openssl pkey -in "$dir/$kind.key" -pubout -out "$dir/$kind.pub"; done
openssl dgst -sha256 -sign "$dir/ecdsa.key" -out "$dir/ecdsa.sig" "$dir/message"
openssl dgst -sha256 -sign "$dir/rsa.key" -out "$dir/rsa.sig" "$dir/message"
openssl pkeyutl -sign -rawin -inkey "$dir/ed25519.key" -in "$dir/message" -out "$dir/ed25519.sig"
pem() { awk '{printf "%s\\n", $0}' "$1"; }
b64() { base64 -w0 "$1"; }
cat <<JSON
{
  "message": "$(b64 "$dir/message")",
  "ecdsa-p256": { "pem": "$(pem "$dir/ecdsa.pub")", "signature": "$(b64 "$dir/ecdsa.sig")" },
  "rsa": { "pem": "$(pem "$dir/rsa.pub")", "signature": "$(b64 "$dir/rsa.sig")" },
  "ed25519": { "pem": "$(pem "$dir/ed25519.pub")", "signature": "$(b64 "$dir/ed25519.sig")" },
  "ecdsa-p384": { "pem": "$(pem "$dir/p384.pub")" }
}
JSON
