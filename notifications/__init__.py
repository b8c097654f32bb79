"""The hub's durable record: every event received, errors and bad input, job failures, the audit
trail of what the hub did, notifications for people, and daily statistics. Other apps write here
only through the functions in ``notifications.records``."""
