# The CDC publisher, for ONE environment machine: Maxwell (Java) reads the environment's MySQL
# binlog and prints one JSON line per change; `python -m cdc_publisher --env $HUB_ENV` reads those
# lines on stdin and publishes them, in batches, to the hub's Redis. A pipe cannot join two
# containers, so both run in this one: the Maxwell image plus a Python venv with only
# requirements/publisher.txt and cdc_publisher/ (no Django, no database driver).
#
# Without Java: docker/publisher-binlog.Dockerfile runs `--source binlog`, which reads the binlog
# itself (no Maxwell, no pipe).
#
# Build from the repository root (the build context must be the root):
#   docker build -f docker/publisher.Dockerfile -t eventhub-publisher:local .

# Pin a tested Maxwell release in production (MAXWELL_TAG in docker/.env). The Python comes from
# the Maxwell image's distribution (whatever its python3 package is). The check below fails the
# build if it is older than 3.10, which the requirements need: older Maxwell tags were built on
# Debian images whose python3 is 3.9 or older.
ARG MAXWELL_TAG=latest
FROM zendesk/maxwell:${MAXWELL_TAG}

USER root

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "cdc_publisher needs Python >= 3.10; this Maxwell image has " + sys.version)' \
 && test -x /app/bin/maxwell \
 && python3 -m venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONPATH=/opt/hub \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY requirements/publisher.txt /opt/hub/requirements/publisher.txt
RUN pip install --no-cache-dir -r /opt/hub/requirements/publisher.txt

COPY cdc_publisher/ /opt/hub/cdc_publisher/
COPY docker/run-publisher.sh /usr/local/bin/run-publisher
RUN chmod 0755 /usr/local/bin/run-publisher \
 && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin hubpub \
 && mkdir -p /var/lib/cdc_publisher && chown hubpub /var/lib/cdc_publisher

# Maxwell keeps its binlog position in the MySQL `maxwell` schema. The publisher writes only its
# spool (CDC_SPOOL_DIR, a volume: batches waiting while the hub's Redis is unreachable) and a
# named pipe under /tmp.
ENV CDC_SPOOL_DIR=/var/lib/cdc_publisher
USER hubpub
WORKDIR /opt/hub

# Only CMD, so that an ENTRYPOINT of the base image (if any) still wraps it.
CMD ["/usr/local/bin/run-publisher"]
