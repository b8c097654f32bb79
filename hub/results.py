"""Celery's task results in PostgreSQL (django-celery-results), kept through a database restart.

A worker stores a task's state after the task returns (or asks to be retried). With PostgreSQL
down for a moment (a restart, a fail-over) that store raised out of the worker itself, which
exited ("Unrecoverable error"): the batch came back to the queue, but nothing moved until someone
started a worker again. Here a lost connection is closed and the store tried again, with backoff
(``result_backend_always_retry``), so the worker waits for the database like the tasks do."""

from django.db import InterfaceError, OperationalError, connection
from django_celery_results.backends import DatabaseBackend


class RetryingDatabaseBackend(DatabaseBackend):
    def exception_safe_to_retry(self, exc: Exception) -> bool:
        if isinstance(exc, OperationalError | InterfaceError):
            connection.close()  # the next try opens a new connection
            return True
        return super().exception_safe_to_retry(exc)
