"""Running migrations in a test: to a state in the past, then forward, on the test database."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets: list[tuple[str, str | None]]):
    """Migrate to ``targets`` ((app, None) unapplies an app) and return the apps as they are then."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([(app, name) for app, name in targets if name]).apps


@pytest.fixture
def latest_schema_afterwards():
    """The test goes back in time; the tests after it need today's schema."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
