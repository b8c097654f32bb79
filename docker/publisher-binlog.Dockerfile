# The CDC publisher reading the binlog itself (`--source binlog`): no Java, no Maxwell.
#
# Build from the repository root:
#   docker build -f docker/publisher-binlog.Dockerfile -t eventhub-publisher-binlog:local .
# Run (see compose.publisher.yml, profile "binlog"): needs HUB_ENV, CELERY_BROKER_URL and
# MYSQL_URL=mysql://USER:PASS@HOST:3306/ (binlog_format=ROW, binlog_row_metadata=FULL; the user
# needs REPLICATION SLAVE, REPLICATION CLIENT and SELECT).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/opt/hub CDC_SPOOL_DIR=/var/lib/cdc_publisher

COPY requirements/publisher.txt /tmp/publisher.txt
RUN pip install --no-cache-dir -r /tmp/publisher.txt \
 && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin hubpub \
 && mkdir -p /var/lib/cdc_publisher && chown hubpub /var/lib/cdc_publisher

COPY cdc_publisher/ /opt/hub/cdc_publisher/
USER hubpub
WORKDIR /opt/hub

# The checkpoint lives in CDC_SPOOL_DIR (a volume): a restart resumes where delivery stopped.
CMD ["sh", "-c", "exec python -m cdc_publisher --env \"$HUB_ENV\" --source binlog --mysql-url \"$MYSQL_URL\""]
