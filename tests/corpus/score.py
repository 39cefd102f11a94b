"""Run `streamdeploy init` on every corpus app and count the fields it gets right.

A field is a leaf of either description (expected or init's), `targets:` left out (it only
repeats the name); a list of plain values is one field, a list of mappings one per item. Values
are compared after loading, so `1GB` and `1000000000` agree, and a key one side leaves out
counts as its default.

    python tests/corpus/score.py      # a table, and the totals for the README
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).resolve().parent
APPS = CORPUS / "apps"
REPO = CORPUS.parents[1]


def apps() -> dict[str, dict]:
    return yaml.safe_load((CORPUS / "corpus.yaml").read_text(encoding="utf-8"))["apps"]


def leaves(raw: Any, prefix: tuple = ()) -> set[tuple]:
    if isinstance(raw, dict):
        out: set[tuple] = set()
        for key, value in raw.items():
            out |= leaves(value, prefix + (key,))
        return out
    if isinstance(raw, list) and any(isinstance(v, dict) for v in raw):
        out = set()
        for i, value in enumerate(raw):
            out |= leaves(value, prefix + (i,))
        return out
    return {prefix}


def value_at(dumped: Any, path: tuple) -> Any:
    for part in path:
        if isinstance(dumped, dict):
            dumped = dumped.get(part)
        elif isinstance(dumped, list) and isinstance(part, int):
            dumped = dumped[part] if part < len(dumped) else None
        else:
            return None
    return dumped


def dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


@dataclass
class Score:
    app: str
    right: int = 0
    total: int = 0
    wrong: list[str] = field(default_factory=list)
    details: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def compare(expected_file: Path, written_file: Path, app: str) -> Score:
    from streamdeploy import loader

    raw_expected = yaml.safe_load(expected_file.read_text(encoding="utf-8"))
    raw_written = yaml.safe_load(written_file.read_text(encoding="utf-8"))
    # both must be valid descriptions: the loader is the one `validate` uses
    expected = loader.load_text(expected_file.read_text(encoding="utf-8"), expected_file, str(expected_file)).spec
    written = loader.load(written_file).spec
    dump_expected = expected.model_dump(by_alias=True, mode="json")
    dump_written = written.model_dump(by_alias=True, mode="json")
    keys = {k for k in leaves(raw_expected) | leaves(raw_written) if k and k[0] != "targets"}
    score = Score(app)
    for key in sorted(keys, key=dotted):
        want, got = value_at(dump_expected, key), value_at(dump_written, key)
        score.total += 1
        if want == got:
            score.right += 1
        else:
            score.wrong.append(dotted(key))
            score.details[dotted(key)] = (want, got)
    return score


def init_copy(app: str, into: Path) -> tuple[Path, subprocess.CompletedProcess]:
    """Copy apps/<app> (or apps/<repo>/<dir>) into ``into`` and run init there, as a user would."""
    top = app.split("/")[0]
    shutil.copytree(APPS / top, into / top, ignore=shutil.ignore_patterns("__pycache__", ".streamdeploy",
                                                                         "streamdeploy.yaml"))
    where = into / app
    done = subprocess.run([sys.executable, "-m", "streamdeploy", "init", str(where)], capture_output=True,
                          text=True, cwd=into, env={**__import__("os").environ, "NO_COLOR": "1"}, timeout=120)
    return where, done


def score_all() -> list[Score]:
    out = []
    for app, meta in apps().items():
        with tempfile.TemporaryDirectory() as tmp:
            where, done = init_copy(app, Path(tmp))
            if done.returncode != 0:
                raise SystemExit(f"init failed on {app}: {done.stderr}")
            out.append(compare(CORPUS / "expected" / f"{meta.get('expected', app)}.yaml",
                               where / "streamdeploy.yaml", app))
    return out


def main() -> int:
    scores = score_all()
    for s in scores:
        print(f"{s.app:24} {s.right:3}/{s.total:<3} {', '.join(s.wrong)}")
    right, total = sum(s.right for s in scores), sum(s.total for s in scores)
    print(f"{'all':24} {right:3}/{total:<3} ({100 * right / total:.1f} %) on {len(scores)} apps")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
