"""OSS watch: checks watched Alibaba OSS buckets on a beat schedule (queue
``scheduler:oss-check``) and turns changed objects into events on ``oss:events``. The queues are
declared and consumed from the start; the checks themselves arrive with the OSS issue."""
