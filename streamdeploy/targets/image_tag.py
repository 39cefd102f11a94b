"""An image tag derived from what the image is built from, so new code means a new tag.

The tag hashes the build context as `docker build` would send it (``.dockerignore``
applied, moby/patternmatcher rules) together with the Dockerfile. Files streamdeploy
generates (the Dockerfile, .dockerignore, entrypoint) are hashed as rendered, not as
found on disk, so the tag is the same before and after `up` writes them. A pod template
whose image reference changes is a new rollout; an unchanged one is not (Skaffold's
``inputDigest`` tagger works the same way).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamdeploy.description import Spec
    from streamdeploy.targets.base import Context

TAG_LENGTH = 12  # hex digits: 48 bits, plenty for one project's images
STATE_DIR = ".streamdeploy"  # streamdeploy's own state (markers, logs, deploy-time files): never code


def release_tag(spec: Spec, service: str, ctx: Context, skip: tuple[str, ...] = ()) -> str:
    """The tag of a service's image in one release: the hash of its build inputs.

    Files streamdeploy wrote for any platform (fly.toml, compose.yaml, manifests: the
    writer's record) and its state under .streamdeploy/ are deploy settings, not the
    image's code: left out, so rendering another target or deploying never changes the
    tag, whatever the project's own .dockerignore says."""
    from streamdeploy import writer
    from streamdeploy.targets import docker

    rendered = {f.path: f.content for f in docker.image_files(spec, ctx).files}
    generated = tuple(path for path in writer.read_record(ctx.root) if path not in rendered)
    return content_tag(ctx.root, docker.build_context(spec, service), docker.dockerfile_path(spec, service),
                       rendered, skip=(STATE_DIR, *skip, *generated))


def content_tag(root: Path, context: str, dockerfile: str, rendered: dict[str, str],
                skip: tuple[str, ...] = ()) -> str:
    """The tag for an image built from ``context`` with ``dockerfile`` (both relative to root).

    ``rendered``: generated files (path relative to root -> text) that win over the disk;
    ``skip``: files and directories relative to root never hashed (output that lists this
    very tag, deploy settings).
    """
    digest = hashlib.sha256()
    for path, data in sorted(_files(root, context, dockerfile, rendered, skip).items()):
        digest.update(f"{path}\0{data}\n".encode("utf-8"))
    return digest.hexdigest()[:TAG_LENGTH]


def _files(root: Path, context: str, dockerfile: str, rendered: dict[str, str],
           skip: tuple[str, ...]) -> dict[str, str]:
    """path inside the context (or ``Dockerfile:<path>``) -> "<mode> <sha256>"."""
    prefix = "" if context == "." else context.rstrip("/") + "/"
    ignore_path = prefix + ".dockerignore"
    ignore_text = rendered.get(ignore_path)
    if ignore_text is None:
        ignore_text = _read_text(root / ignore_path) or ""
    rules = parse_dockerignore(ignore_text)
    skipped = {s.rstrip("/") for s in skip}
    found: dict[str, str] = {}
    base = root / context
    if base.is_dir():
        for directory, dirs, names in os.walk(base):
            relative_dir = Path(directory).relative_to(base).as_posix()
            relative_dir = "" if relative_dir == "." else relative_dir + "/"
            kept_dirs = []
            for name in sorted(dirs):
                inside = relative_dir + name
                if (prefix + inside) in skipped or (not rules.has_exceptions and rules.excluded(inside)):
                    continue
                kept_dirs.append(name)
            dirs[:] = kept_dirs
            for name in names:
                inside = relative_dir + name
                if rules.excluded(inside) or (prefix + inside) in skipped:
                    continue
                entry = _entry(Path(directory) / name)
                if entry is not None:
                    found[inside] = entry
    for path, text in rendered.items():
        if path.startswith(prefix) or prefix == "":
            inside = path[len(prefix):]
            if not rules.excluded(inside) or inside in (".dockerignore",):
                found[inside] = "file " + _sha(text.encode("utf-8"))
    # The Dockerfile is sent even when .dockerignore names it, and may live outside the context.
    text = rendered.get(dockerfile)
    data = text.encode("utf-8") if text is not None else _read_bytes(root / dockerfile) or b""
    found[f"Dockerfile:{dockerfile}"] = "file " + _sha(data)
    return found


def _entry(path: Path) -> str | None:
    try:
        info = path.lstat()
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return "link " + _sha(os.readlink(path).encode("utf-8", "surrogateescape"))
    if not stat.S_ISREG(info.st_mode):
        return None  # sockets, fifos: docker does not send them either
    mode = "exec" if info.st_mode & stat.S_IXUSR else "file"
    return f"{mode} {_file_sha(path, info)}"


_CACHE: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256: render, check and plan all ask


def _file_sha(path: Path, info: os.stat_result) -> str:
    key = (str(path), info.st_size, info.st_mtime_ns)
    if key not in _CACHE:
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError:
            return "unreadable"
        _CACHE[key] = digest.hexdigest()
    return _CACHE[key]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_text(path: Path) -> str | None:
    data = _read_bytes(path)
    return data.decode("utf-8", "replace") if data is not None else None


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


# --- .dockerignore ---------------------------------------------------------------------------


class IgnoreRules:
    """moby/patternmatcher: the last pattern that matches a path, or one of its parents, wins."""

    def __init__(self, patterns: list[tuple[re.Pattern, bool]]):
        self.patterns = patterns  # (regex, is_exception)
        self.has_exceptions = any(exception for _, exception in patterns)

    def excluded(self, path: str) -> bool:
        parts = path.split("/")
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        result = False
        for regex, exception in self.patterns:
            if any(regex.match(c) for c in candidates):
                result = not exception
        return result


def parse_dockerignore(text: str) -> IgnoreRules:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
        line = posixpath.normpath(line.replace("\\", "/")).lstrip("/")
        if line in ("", "."):
            continue
        patterns.append((_regex(line), exception))
    return IgnoreRules(patterns)


def _regex(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out.append("(?:.*/)?")  # `**/`: any number of directories, none included
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1:end]
                body = "^" + body[1:] if body.startswith(("!", "^")) else body
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("^" + "".join(out) + "$")
