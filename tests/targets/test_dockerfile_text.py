"""targets/dockerfile.py builds exactly what templates/Dockerfile.j2 and entrypoint.sh.j2 render.

The templates are the readable form; rendering builds strings instead, to spare every
`render` importing jinja2 and compiling them. Here every combination of the inputs that
change the Dockerfile is rendered both ways and compared byte for byte."""

from __future__ import annotations

import itertools
import re

import jinja2
import pytest

from conftest import REPO
from streamdeploy.spec import Service
from streamdeploy.targets import docker, dockerfile

TEMPLATES = REPO / "templates"
# The settings rendering used when it went through jinja2.
ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                                 keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)

PYTHONS = ["3.10", "3.12"]
INSTALLS = ["requirements.txt", "backend/requirements.txt", "pyproject.toml", "my app/pyproject.toml"]
COMMANDS = [[], ["python -m compileall -q ."], ["curl -s https://x | sh", "printf 'a\nb' > f", "make assets \\"]]
PACKAGES = [[], ["libgomp1", "curl", "libgomp1"]]
VOLUMES = [[], [{"name": "data", "mount": "/data"}],
           [{"name": "data", "mount": "/data"}, {"name": "cache", "mount": "/var/cache/my app"}]]
SERVING = [{}, {"port": 8000}, {"port": 8080, "health": {"path": "/healthz", "interval": "10s", "timeout": 2.5}}]
STARTS = ["uvicorn app.main:app --port $PORT", "exec python worker.py", "python migrate.py && uvicorn app:app"]


def services():
    for python, install, commands, packages, volumes, serving, start in itertools.product(
            PYTHONS, INSTALLS, COMMANDS, PACKAGES, VOLUMES, SERVING, STARTS):
        yield Service.model_validate({"start": start, "volumes": volumes, **serving, "build": {
            "python": python, "install": install, "commands": commands, "system_packages": packages}})


def test_the_dockerfile_is_the_templates_output_for_every_combination():
    template = ENVIRONMENT.get_template(dockerfile.TEMPLATE)
    seen = set()
    for service in services():
        context, _ = docker.dockerfile_context(service, "api")
        built = dockerfile.text(**context)
        assert built == template.render(**context), context
        seen.add(built)
    # every input shows in the text (the Python version at least in the header): 1,296 distinct files
    assert len(seen) == len(list(services())) == 1296


def test_every_branch_of_the_template_is_taken():
    """Each `{% if %}` of the template both ways over the combinations: none is left unchecked."""
    source = (TEMPLATES / dockerfile.TEMPLATE).read_text(encoding="utf-8")
    conditions = set(re.findall(r"{%-?\s*(?:if|elif)\s+(.+?)\s*-?%}", source))
    outcomes: dict[str, set[bool]] = {c: set() for c in conditions}
    for service in services():
        context, _ = docker.dockerfile_context(service, "api")
        for condition in conditions:
            if condition == "not loop.first":
                outcomes[condition] |= {True, False} if len(context["build_steps"]) > 1 else set()
            else:
                outcomes[condition].add(bool(ENVIRONMENT.compile_expression(condition)(**context)))
    assert {c: o for c, o in outcomes.items() if o != {True, False}} == {}


def test_the_entrypoint_is_the_templates_output():
    source = (TEMPLATES / dockerfile.ENTRYPOINT_TEMPLATE).read_text(encoding="utf-8")
    # Only the two variables the plain substitution fills in; no blocks, comments or others.
    assert "{%" not in source and "{#" not in source
    assert set(re.findall(r"{{.*?}}", source)) == {"{{ uid }}", "{{ gid }}"}
    rendered = ENVIRONMENT.get_template(dockerfile.ENTRYPOINT_TEMPLATE).render(uid=docker.APP_UID, gid=docker.APP_GID)
    assert dockerfile.entrypoint(uid=docker.APP_UID, gid=docker.APP_GID) == rendered


@pytest.mark.parametrize("name", ["Dockerfile.j2", "entrypoint.sh.j2"])
def test_the_installed_package_carries_the_templates(name):
    from importlib.resources import files

    assert files("streamdeploy.templates").joinpath(name).read_text(encoding="utf-8") == (
        TEMPLATES / name).read_text(encoding="utf-8")
