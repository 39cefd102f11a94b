"""Every example rendered for every target matches tests/golden/<example>/<target>/.

Refresh after an intended change with `pytest tests/test_golden.py --update-golden`
and review the diff like any other code change.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import GOLDEN, example_files
from streamdeploy import loader, targets, writer
from streamdeploy.commands.render import collect
from streamdeploy.problems import ProblemsError

# Examples a target cannot take: an embedded database on a volume, on a platform without disks.
REFUSED = {("app", "cloudrun"), ("app", "digitalocean"), ("multi", "cloudrun"), ("multi", "digitalocean")}
CASES = [(path, name) for path in example_files()
         for name in (*targets.NAMES, *targets.described_extras(loader.load(path).spec))
         if (path.parent.name, name) not in REFUSED]


@pytest.mark.parametrize("example,target", sorted(REFUSED))
def test_an_example_a_target_cannot_take_is_refused_with_the_store_mode_as_fix(example, target):
    from conftest import load_example

    with pytest.raises(ProblemsError) as refused:
        collect(load_example(example), [target])
    problem = refused.value.problems[0]
    assert "volume" in problem.message and problem.key == "services.api.volumes"
    assert "store mode" in problem.fix and f"targets.{target}.store_urls" in problem.fix
    assert not (GOLDEN / example / target).exists()


@pytest.mark.parametrize("description,target", CASES, ids=[f"{p.parent.name}-{t}" for p, t in CASES])
def test_rendering_matches_golden(description, target, update_golden):
    loaded = loader.load(description)
    files, _ = collect(loaded, [target])
    golden_dir = GOLDEN / description.parent.name / target
    rendered = {f.path: writer.with_header(f, description.name) for f in files}
    # A file outside the example's directory (examples/multi builds the API from ../app) belongs
    # to the example that lives there: it must be that example's own docker golden, byte for byte.
    for path in [p for p in rendered if p.startswith("../")]:
        owner, rest = path.split("/", 2)[1:]
        assert rendered.pop(path) == (GOLDEN / owner / "docker" / rest).read_text(encoding="utf-8"), path
    if target != "docker":
        # Targets that build an image include the docker target's files; those are the docker
        # golden's business, so here they must only be identical to it.
        docker_files, _ = collect(loaded, ["docker"])
        for shared in docker_files:
            if shared.path in rendered:
                assert rendered.pop(shared.path) == writer.with_header(shared, description.name)
    if update_golden:
        shutil.rmtree(golden_dir, ignore_errors=True)
        for path, text in rendered.items():
            (golden_dir / path).parent.mkdir(parents=True, exist_ok=True)
            (golden_dir / path).write_text(text, encoding="utf-8")
    on_disk = {
        str(p.relative_to(golden_dir)): p.read_text(encoding="utf-8")
        for p in sorted(golden_dir.rglob("*")) if p.is_file()
    } if golden_dir.exists() else {}
    assert sorted(on_disk) == sorted(rendered), "files differ; run with --update-golden and review"
    for path, text in rendered.items():
        assert text == on_disk[path], f"{golden_dir / path} differs; run with --update-golden and review"


@pytest.mark.parametrize("description,target", CASES, ids=[f"{p.parent.name}-{t}" for p, t in CASES])
def test_rendering_is_deterministic(description, target):
    loaded = loader.load(description)
    first, _ = collect(loaded, [target])
    second, _ = collect(loader.load(description), [target])
    assert [(f.path, f.content) for f in first] == [(f.path, f.content) for f in second]
