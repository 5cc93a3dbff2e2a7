#!/usr/bin/env bash
# A stand-in for apache/kafka's tool of the same name, so compose health checks work with
# either image (the Maven-fetched jars do not include kafka-tools). It sends one
# ApiVersions request (v0) to the first --bootstrap-server and succeeds when the broker
# answers it without error. Usage: kafka-broker-api-versions.sh --bootstrap-server HOST:PORT
set -euo pipefail
server=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --bootstrap-server) server=${2%%,*}; shift 2 ;;
        --bootstrap-server=*) server=${1#*=}; server=${server%%,*}; shift ;;
        *) shift ;;
    esac
done
[[ -n $server ]] || { echo "usage: $0 --bootstrap-server HOST:PORT" >&2; exit 2; }
host=${server%:*}
port=${server##*:}
exec 3<>"/dev/tcp/$host/$port"
# size 10 | api key 18 (ApiVersions) | version 0 | correlation id 1 | null client id
printf '\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff' >&3
# the answer starts: size (4 bytes), correlation id (4), error code (2)
answer=$(timeout 10 head -c 10 <&3 | od -An -tx1 | tr -d ' \n')
exec 3<&-
if [[ ${answer:8:8} == 00000001 && ${answer:16:4} == 0000 ]]; then
    echo "$server answers ApiVersions"
else
    echo "$server gave no valid ApiVersions answer (got '${answer}')" >&2
    exit 1
fi
