"""A repo id resolved from the local Hugging Face cache only: never a download, never a network call.

``--model-option repo=ORG/NAME`` (optionally ``revision=BRANCH|TAG|COMMIT``, default
``main``) names a checkpoint already in the cache that ``hf download`` (or
``huggingface-cli download``) or ``from_pretrained`` filled. The cache is found as
huggingface_hub finds it, at the moment the model is built: ``HF_HUB_CACHE``, else
``HF_HOME/hub``, else ``XDG_CACHE_HOME/huggingface/hub``, else
``~/.cache/huggingface/hub``. Its layout::

    models--ORG--NAME/refs/main                 the commit hash the branch "main" pointed at
    models--ORG--NAME/snapshots/<commit>/...    the files of that commit (links into blobs/)

The snapshot folder is then loaded as a local directory; its commit hash is what
the certificate records as the revision. Only the standard library is used here.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Mapping, Optional

import medrobust

__all__ = ["Snapshot", "NotInCache", "hub_cache_dir", "resolve_repo", "snapshot_from_options", "REPO_ID"]

REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*$")
"""``ORG/NAME`` (or a legacy ``NAME``), as the Hub spells repo ids."""
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHORT_COMMIT = re.compile(r"^[0-9a-f]{7,39}$")


class NotInCache(medrobust.OptionError):
    """A repo id or revision that the local Hugging Face cache does not hold; the message says how to get it."""


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A checkpoint found in the local Hugging Face cache.

    Attributes:
        repo_id: ``ORG/NAME`` as given.
        requested: The revision asked for (``main`` by default).
        commit: The commit hash of the snapshot folder.
        path: The snapshot folder, loaded as a local checkpoint directory.
    """

    repo_id: str
    requested: str
    commit: str
    path: Path

    def describe(self) -> dict[str, str]:
        """What the certificate names: repo id, resolved commit, and the revision asked for."""
        return {"repo_id": self.repo_id, "revision": self.commit, "revision_requested": self.requested}


def snapshot_from_options(plugin: str, options: Mapping[str, Any]) -> Optional[Snapshot]:
    """The snapshot the ``repo`` / ``revision`` options name, or ``None`` for ``path`` (a local directory).

    Raises:
        medrobust.OptionError: Both ``path`` and ``repo``, or ``revision`` without ``repo``.
        NotInCache: See :func:`resolve_repo`.
    """
    path, repo, revision = options.get("path") or "", options.get("repo") or "", options.get("revision") or ""
    if repo:
        if path:
            raise medrobust.OptionError(f"{plugin}: --model-path {path} and repo={repo} both name a checkpoint; "
                                        "give one of them")
        return resolve_repo(plugin, repo, revision)
    if revision:
        raise medrobust.OptionError(f"{plugin}: revision={revision} picks a revision of repo=ORG/NAME in the "
                                    "Hugging Face cache; a --model-path directory holds one already")
    return None


def hub_cache_dir() -> tuple[Path, str]:
    """The Hugging Face hub cache folder and where that came from (read from the environment now)."""
    env = os.environ
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser(), "HF_HUB_CACHE"
    if env.get("HUGGINGFACE_HUB_CACHE"):  # the older name, still honoured by huggingface_hub
        return Path(env["HUGGINGFACE_HUB_CACHE"]).expanduser(), "HUGGINGFACE_HUB_CACHE"
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub", "HF_HOME/hub"
    xdg = env.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(xdg).expanduser() / "huggingface" / "hub", "the default cache (set HF_HUB_CACHE or HF_HOME to move it)"


def _download_hint(repo: str, revision: str) -> str:
    rev = f" --revision {revision}" if revision and revision != "main" else ""
    return (f"nothing is downloaded at run time: fetch it once beforehand, where the Hub is reachable, with "
            f"`hf download {repo}{rev}` (older huggingface_hub: `huggingface-cli download {repo}{rev}`), "
            "or point HF_HUB_CACHE / HF_HOME at the cache that holds it, or pass --model-path DIR")


def resolve_repo(plugin: str, repo: str, revision: str = "") -> Snapshot:
    """The snapshot folder of ``repo`` at ``revision`` in the local cache.

    Args:
        plugin: The plugin name, for messages.
        repo: ``ORG/NAME``.
        revision: A branch or tag recorded in ``refs/``, a full commit hash, or a unique
            prefix (7+ hex digits) of a cached snapshot's commit; empty: ``main``.

    Raises:
        medrobust.OptionError: A malformed repo id.
        NotInCache: The repo, the revision or its snapshot is not in the cache; the message
            names where it looked, what the cache holds and how to get it.
    """
    repo, revision = repo.strip(), (revision.strip() or "main")
    if not REPO_ID.match(repo) or ".." in repo or "--" in repo or repo.endswith((".", "-")):
        raise medrobust.OptionError(f"{plugin}: repo={repo!r} is not a Hugging Face repo id; give ORG/NAME, "
                                    "e.g. repo=llava-hf/llava-1.5-7b-hf")
    cache, origin = hub_cache_dir()
    folder = cache / ("models--" + repo.replace("/", "--"))
    if not folder.is_dir():
        raise NotInCache(f"{plugin}: {repo} is not in the local Hugging Face cache (looked for {folder}; "
                         f"the cache is {cache}, from {origin}); {_download_hint(repo, revision)}")
    snapshots = folder / "snapshots"
    cached = sorted(p.name for p in snapshots.iterdir() if p.is_dir()) if snapshots.is_dir() else []
    ref = folder / "refs" / revision
    if _COMMIT.match(revision):
        commit = revision
    elif ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
    elif _SHORT_COMMIT.match(revision) and len([c for c in cached if c.startswith(revision)]) == 1:
        commit = next(c for c in cached if c.startswith(revision))
    else:
        refs_dir = folder / "refs"
        refs = sorted(str(p.relative_to(refs_dir)) for p in refs_dir.rglob("*") if p.is_file()) \
            if refs_dir.is_dir() else []
        raise NotInCache(f"{plugin}: revision {revision!r} of {repo} is not in the local Hugging Face cache "
                         f"({folder}); it holds the revisions {', '.join(refs) or 'none'} and the snapshots "
                         f"{', '.join(c[:12] for c in cached) or 'none'}; {_download_hint(repo, revision)}")
    path = snapshots / commit
    if not path.is_dir():
        raise NotInCache(f"{plugin}: {repo} at {revision} is commit {commit}, whose snapshot folder {path} is not "
                         f"in the cache (an interrupted or deleted download); {_download_hint(repo, revision)}")
    return Snapshot(repo_id=repo, requested=revision, commit=commit, path=path)
