"""The monitoring files in docker/ (Prometheus' scrape config and alerts, the Grafana dashboard)
ask only for metrics and labels that the hub's /metrics really exposes, and are complete. Docker
does not run here, so this is what stops a misspelt name from becoming a silent, empty panel or
an alert that can never fire."""

import json
import re
from pathlib import Path, PurePosixPath

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from notifications.models import JobFailure
from notifications.records import bump_daily_stats
from tests.conftest import ROOT

DOCKER = ROOT / "docker"
PROMETHEUS = DOCKER / "prometheus" / "prometheus.yml"
ALERTS = DOCKER / "prometheus" / "alerts.yml"
DASHBOARD = DOCKER / "grafana" / "dashboard.json"
COMPOSE = DOCKER / "compose.central.yml"

METRIC = re.compile(r"\bhub_\w+")
SELECTOR = re.compile(r"\b(hub_\w+)\s*\{([^}]*)\}")
MATCHER_LABEL = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
LABEL_VALUES = re.compile(r"label_values\(\s*(hub_\w+)\s*,\s*(\w+)\s*\)")


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every alert expression, dashboard target and dashboard variable query."""
    found = [(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()]
    for panel in dashboard()["panels"]:
        found += [(f"panel {panel['title']!r}", target["expr"]) for target in panel.get("targets", [])]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            found.append((f"variable {variable['name']}", variable["definition"]))
    return found


def labels_asked_for(expr: str) -> set[str]:
    """Label names an expression matches on or groups by."""
    names = {label for _, matchers in SELECTOR.findall(expr) for label in MATCHER_LABEL.findall(matchers)}
    names |= {name.strip() for group in GROUPING.findall(expr) for name in group.split(",") if name.strip()}
    return names | {label for _, label in LABEL_VALUES.findall(expr)}


def bind_mounts(service: dict) -> dict[str, Path]:
    """Container path -> repository file, for a compose service's bind mounts (from docker/)."""
    mounts = {}
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = DOCKER / source
    return mounts


def exposed(client) -> dict[str, set[str]]:
    """Sample name -> label names, from the text /metrics serves to a staff user."""
    response = client.get("/metrics")
    assert response.status_code == 200, "a staff login must be able to read /metrics"
    families = text_string_to_metric_families(response.content.decode())
    return {sample.name: set(sample.labels) for family in families for sample in family.samples}


@pytest.mark.django_db
def test_every_metric_and_label_the_files_use_is_exposed_by_the_hub(admin_client, broker):
    # Given one day of counters (so that every counter family has a sample) and a dead letter
    bump_daily_stats({("prod", "cdc", ""): {"events": 3, "tickets": 1, "failures": 1}})
    JobFailure.objects.create(task_name="t")

    # When /metrics is rendered, and the names and labels the monitoring files ask for are read
    metrics = exposed(admin_client)
    used = queries()
    assert len({name for _, expr in used for name in METRIC.findall(expr)}) >= 8, "few names found"

    # Then each of them is there: counters as hub_<name>_total, with the labels asked for
    for where, expr in used:
        names = set(METRIC.findall(expr))
        for name in names:
            assert name in metrics, f"{where} uses {name}, which /metrics does not expose"
        if names:
            labels = set().union(*(metrics[name] for name in names))
            unknown = labels_asked_for(expr) - labels
            assert not unknown, f"{where} asks for labels {unknown} that {sorted(names)} do not have"


def test_every_alert_has_a_severity_a_summary_and_a_description():
    rules = alert_rules()
    assert len(rules) >= 6, "alerts.yml lost its rules"
    for rule in rules:
        assert rule.get("expr", "").strip(), f"{rule['alert']} has no expression"
        assert rule.get("labels", {}).get("severity") in ("warning", "critical"), f"{rule['alert']}: severity"
        for annotation in ("summary", "description"):
            assert rule.get("annotations", {}).get(annotation, "").strip(), f"{rule['alert']}: {annotation}"


def test_every_dashboard_panel_queries_the_chosen_prometheus():
    board = dashboard()
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource", "panels pick Prometheus through it"
    assert variables["environment"]["definition"] == "label_values(hub_events_total, environment)"
    assert board["panels"], "the dashboard has no panels"
    for panel in board["panels"]:
        assert panel.get("targets"), f"panel {panel['title']!r} has no targets"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"panel {panel['title']!r} has an empty query"
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", f"panel {panel['title']!r}"


def test_the_monitoring_profile_wires_the_files_together():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    mounts = {name: bind_mounts(services[name]) for name in ("prometheus", "grafana")}
    for name, files in mounts.items():
        assert services[name]["profiles"] == ["monitoring"], name
        for source in files.values():
            assert source.exists(), f"{name} mounts {source}, which is not in the repository"

    # Prometheus: its rule file sits beside its config, it scrapes the web service's port, and
    # it reads the token from the secret compose gives it.
    config = yaml.safe_load(PROMETHEUS.read_text())
    config_dir = PurePosixPath("/etc/prometheus")
    assert mounts["prometheus"][str(config_dir / "prometheus.yml")] == PROMETHEUS
    assert [mounts["prometheus"][str(config_dir / path)] for path in config["rule_files"]] == [ALERTS]
    (job,) = config["scrape_configs"]
    web_command = services["web"]["command"]
    assert job["static_configs"][0]["targets"] == [f"web:{web_command[web_command.index('--port') + 1]}"]
    secret = PurePosixPath(job["authorization"]["credentials_file"])
    assert secret.parent == PurePosixPath("/run/secrets") and secret.name in services["prometheus"]["secrets"]
    assert compose["secrets"][secret.name] == {"environment": "HUB_METRICS_TOKEN"}
    assert services["web"]["environment"]["HUB_METRICS_TOKEN"] == "${HUB_METRICS_TOKEN:-}"
    assert services["web"]["environment"]["DJANGO_ALLOWED_HOSTS"].endswith(",web"), "Django checks Host"
    for rule in alert_rules():
        for job_name in re.findall(r'job="([^"]+)"', rule["expr"]):
            assert job_name == job["job_name"], f"{rule['alert']} watches job {job_name}"

    # Grafana: the provider reads the directory the dashboard is mounted in.
    provider_file = DOCKER / "grafana" / "provisioning" / "dashboards" / "eventhub.yml"
    (provider,) = yaml.safe_load(provider_file.read_text())["providers"]
    dashboards = {PurePosixPath(target).parent: source for target, source in mounts["grafana"].items()}
    assert dashboards[PurePosixPath(provider["options"]["path"])] == DASHBOARD
