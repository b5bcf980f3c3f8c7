#!/bin/sh
# One-shot: import deploy/rabbitmq/definitions.json (vhost, sms.events + sms.dlx exchanges, dead-letter queue,
# quorum-queue policies) through the management API. Idempotent: re-importing the same definitions is a no-op.
# The user itself comes from RABBITMQ_DEFAULT_USER/PASS on the broker, so no credential is stored in git.
set -eu
: "${RABBITMQ_HOST:=rabbitmq}"
: "${RABBITMQ_USER:?RABBITMQ_USER is required}"
: "${RABBITMQ_PASSWORD:?RABBITMQ_PASSWORD is required}"
DEFS="${RABBITMQ_DEFINITIONS:-/etc/sharemyshows/definitions.json}"

i=0
until rabbitmqadmin --host="$RABBITMQ_HOST" --port=15672 --username="$RABBITMQ_USER" --password="$RABBITMQ_PASSWORD" \
        list vhosts name >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then echo "rabbitmq management API not reachable on $RABBITMQ_HOST:15672" >&2; exit 1; fi
  sleep 2
done
rabbitmqadmin --host="$RABBITMQ_HOST" --port=15672 --username="$RABBITMQ_USER" --password="$RABBITMQ_PASSWORD" \
  import "$DEFS"
echo "rabbitmq definitions imported from $DEFS"
