#!/bin/bash
# The publisher container's command (docker/publisher.Dockerfile): Maxwell's JSON lines, through a
# named pipe, into `python -m cdc_publisher --env $HUB_ENV`.
#
# Not a plain `maxwell | python -m cdc_publisher` because the order of stopping matters:
# - on `docker stop` (SIGTERM to this script), Maxwell stops first; the publisher then reads end of
#   input, publishes the batch it holds and exits. Nothing Maxwell printed is dropped.
# - if the publisher dies, Maxwell is stopped at once. Left running, it would go on printing into a
#   pipe nobody reads (Java's System.out ignores write errors) while advancing its binlog position
#   in MySQL, and those changes would never reach the hub.
# While the hub's Redis is unreachable the publisher keeps batches in its spool (CDC_SPOOL_DIR).
#
# Environment: HUB_ENV, CELERY_BROKER_URL (read by cdc_publisher), MYSQL_HOST, MYSQL_PORT,
# MYSQL_USER, MYSQL_PASSWORD, and MAXWELL_OPTIONS (extra Maxwell flags, split on spaces).
set -u
set -f # no globbing when MAXWELL_OPTIONS is split

: "${HUB_ENV:?HUB_ENV is required (dev, staging or prod)}"
: "${CELERY_BROKER_URL:?CELERY_BROKER_URL is required (the Redis of the hub)}"
: "${MYSQL_HOST:?MYSQL_HOST is required}"
: "${MYSQL_USER:?MYSQL_USER is required}"
: "${MYSQL_PASSWORD:?MYSQL_PASSWORD is required}"

log() { echo "run-publisher: $*" >&2; }
alive() { kill -0 "$1" 2>/dev/null; }

# Wait for one child; a trapped signal makes `wait` return early (status > 128), so wait again
# while the child is still running.
wait_for() {
  local status
  while :; do
    wait "$1"
    status=$?
    alive "$1" || return "$status"
  done
}

fifo_dir=$(mktemp -d) || exit 1
fifo="$fifo_dir/maxwell.jsonl"
mkfifo -m 600 "$fifo" || exit 1

# Opening the pipe blocks each side until the other opens it too.
python -m cdc_publisher --env "$HUB_ENV" <"$fifo" &
publisher=$!

# shellcheck disable=SC2086 # MAXWELL_OPTIONS is split on purpose
/app/bin/maxwell \
  --host="$MYSQL_HOST" --port="${MYSQL_PORT:-3306}" \
  --user="$MYSQL_USER" --password="$MYSQL_PASSWORD" \
  --producer=stdout ${MAXWELL_OPTIONS:-} >"$fifo" &
maxwell=$!

stopping=0
stop() {
  stopping=1
  log "stopping Maxwell; the publisher then publishes what it holds and exits"
  kill -TERM "$maxwell" 2>/dev/null
}
trap stop TERM INT

# Run until one of the two ends.
while alive "$maxwell" && alive "$publisher"; do
  sleep 1 &
  wait $!
done

if ! alive "$publisher" && alive "$maxwell"; then
  log "the publisher exited; stopping Maxwell"
  kill -TERM "$maxwell" 2>/dev/null
fi
# Once Maxwell has ended (stopped, or failed) the pipe's only writer is gone: the publisher reads
# end of input, publishes what it holds and exits.
wait_for "$maxwell"
maxwell_status=$?
wait_for "$publisher"
publisher_status=$?
rm -rf "$fifo_dir"

if [ "$publisher_status" -ne 0 ]; then
  log "the publisher exited with status $publisher_status"
  exit "$publisher_status"
fi
if [ "$stopping" -eq 0 ]; then
  # Maxwell ended on its own (MySQL unreachable, bad credentials...): fail, so the container
  # restart policy starts both again.
  log "Maxwell exited with status $maxwell_status"
  exit 1
fi
exit 0
