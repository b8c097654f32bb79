"""The hub's image holds every package of the project the hub runs (Docker does not run here:
this reads the Dockerfile). A new app without its COPY line would build an image that fails at
start with ModuleNotFoundError."""

import re

from tests.conftest import ROOT

NOT_IN_THE_IMAGE = {"tests", "bench", "examples", "docs", "docker", "bin", "requirements"}


def test_every_package_of_the_project_is_copied_into_the_image():
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", (ROOT / "docker" / "Dockerfile").read_text(), re.M))
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - NOT_IN_THE_IMAGE
    assert {"hub", "cdc_publisher"} <= packages, "the project's packages were not found: nothing was checked"
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
