import pytest

from rules.importing import import_rules
from tests.conftest import EXAMPLES


@pytest.fixture
def example_rules():
    import_rules((EXAMPLES / "rules.yaml").read_text())
