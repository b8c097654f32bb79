"""The house's floors: no app imports one above it. Read from the source (every import, also
those inside functions), not from what happens to be loaded."""

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Bottom to top. An app may import its own floor and those below.
FLOORS = [
    ["cdc_publisher"],  # runs without the hub: the contract, the envelope
    ["core"],  # Redis, roles, health, the broker, throttling: imports no app
    ["notifications"],  # the records and the live side
    ["receivers"],  # where tickets go
    ["rules"],
    ["jira_bridge"],
    ["pipeline"],  # a batch through the rules and the ledger; replay
    ["oss_watch", "dashboard"],
    ["hub"],  # the project: settings, urls, the Celery app, metrics
]
FLOOR = {app: level for level, apps in enumerate(FLOORS) for app in apps}
# Imports that still reach up (none today): each listed, to be taken away; none may be added.
KNOWN: set[tuple[str, str]] = set()


def imports_up() -> dict[tuple[str, str], list[str]]:
    found = defaultdict(list)
    for app in FLOOR:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in FLOOR and FLOOR[top] > FLOOR[app]:
                        found[(app, top)].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_app_imports_one_above_it():
    up = imports_up()
    new = {pair: where for pair, where in up.items() if pair not in KNOWN}
    assert not new, f"imports reaching up a floor (FLOORS in this file): {new}"


def test_the_known_exceptions_are_still_there():
    # Taken away: then out of KNOWN too, so that it cannot come back unseen
    gone = KNOWN - set(imports_up())
    assert not gone, f"no longer imported, remove from KNOWN: {gone}"
