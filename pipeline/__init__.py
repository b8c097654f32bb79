"""The pipeline: a batch of events (CDC or OSS) through dedupe, match, silence, draft and record
in one transaction (``transform``), its bad lines isolated and a failed batch stored
(``batches``), the Celery tasks that run it (``tasks``), and replaying what failed, batches and
ticket requests alike (``replay``). Above the rules (matching, rendering) and the ledger and
bridge (jira_bridge), which it calls; a Django app without models."""
