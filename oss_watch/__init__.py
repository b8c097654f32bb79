"""OSS watch: checks watched Alibaba OSS buckets (or local directories) on a beat schedule
(queue ``scheduler:oss-check``) and turns created, modified and deleted objects into events on
``oss:events``, which go through the same rules and ledger as database changes."""
