#!/bin/sh
# How the PEM fixtures in this folder were made (OpenSSL 3). The tests read the committed files and
# never run this script; running it again makes new keys, and the tests follow them.
#
#   sh tests/vectors/pem/generate.sh
set -eu
cd "$(dirname "$0")"

# A P-256 key as `openssl ecparam -genkey` writes it by default: an EC PARAMETERS block, then the
# SEC1 / RFC 5915 EC PRIVATE KEY (named curve and public key included).
openssl ecparam -name prime256v1 -genkey -out p256_ec_params.pem
# The same key without the parameters block, as `ecparam -genkey -noout` and `openssl ec` write it.
openssl ec -in p256_ec_params.pem -out p256_ec.pem
# The same key as unencrypted PKCS#8, and its SPKI public key.
openssl pkcs8 -topk8 -nocrypt -in p256_ec.pem -out p256_pkcs8.pem
openssl ec -in p256_ec.pem -pubout -out p256_public.pem
# The fingerprint: SHA-256 of the public key's SPKI DER, in hex and in base64.
openssl pkey -pubin -in p256_public.pem -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1 \
  >p256_public.sha256
openssl pkey -pubin -in p256_public.pem -outform DER | openssl dgst -sha256 -binary | openssl base64 \
  >p256_public.sha256.b64

# The same key with explicit curve parameters instead of the named curve (refused).
openssl ec -in p256_ec.pem -param_enc explicit -out p256_ec_explicit.pem
# The same key encrypted: PKCS#8 (ENCRYPTED PRIVATE KEY) and legacy PEM (Proc-Type: 4,ENCRYPTED).
openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:tessera -in p256_ec.pem \
  -out p256_pkcs8_encrypted.pem
openssl ec -in p256_ec.pem -aes256 -passout pass:tessera -out p256_ec_encrypted.pem

# Keys of another curve and another algorithm (refused).
openssl ecparam -name secp384r1 -genkey -noout -out p384_ec.pem
openssl pkcs8 -topk8 -nocrypt -in p384_ec.pem -out p384_pkcs8.pem
openssl ec -in p384_ec.pem -pubout -out p384_public.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa_pkcs8.pem
openssl pkey -in rsa_pkcs8.pem -pubout -out rsa_public.pem
