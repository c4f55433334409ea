"""Hostile dataset inputs: image paths that leave the dataset folder, devices, FIFOs, huge files and texts.

Every loader reads an image only from a regular file inside the dataset's folder, no larger than
``max_image_bytes``, and skips (and lists) a record whose question or answer is over its cap. The
cases that hung or ate memory before run the loader in a child process under a memory limit and a
timeout, so that a regression fails here instead of stalling the machine; the harness itself is
what keeps them short.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from medrobust_plugins.datasets import DatasetError, jsonl, pathvqa, slake, vqa_rad
from medrobust_plugins.datasets._images import MAX_IMAGE_BYTES
from public_fixtures import (image_bytes, picture, write_image, write_jsonl, write_parquet, write_pathvqa_original,
                             write_slake, write_vqa_rad_osf, write_vqa_rad_parquet)

CHILD_SECONDS = 20
"""A safety net only: the loader answers in about a second; before, a FIFO blocked it for ever."""
CHILD_MEMORY = 1 << 30
"""Address space of the child (it needs about 160 MB): before, ``/dev/zero`` grew without bound."""

_LIMITS = textwrap.dedent('''
    import json, resource, sys, warnings
    resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
    warnings.simplefilter("ignore")
''').format(memory=CHILD_MEMORY)

_LOAD = textwrap.dedent('''
    from medrobust_plugins.datasets import {loader} as loader
    data = loader.load(json.loads(sys.argv[1]))
    ids = [s.id for s in data.samples("test")]
    print(json.dumps({{"ids": ids, "problems": data.describe()["skipped"]["problems"]}}))
''')


def in_child(code: str, *args: str) -> str:
    """What ``code`` prints, run in a child process under :data:`CHILD_MEMORY` and :data:`CHILD_SECONDS`."""
    try:
        run = subprocess.run([sys.executable, "-c", _LIMITS + code, *args], capture_output=True, text=True,
                             timeout=CHILD_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child did not finish within {CHILD_SECONDS} s: the loader blocked on an input")
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def load_in_child(loader: str, options: dict[str, Any]) -> dict[str, Any]:
    """The test sample ids and the listed problems of ``loader.load(options)``, computed in a child process."""
    return json.loads(in_child(_LOAD.format(loader=loader), json.dumps(options)))


def problem_of(found: dict[str, Any], record: str) -> str:
    """The message of the one listed problem whose record label starts with ``record``."""
    messages = [p["message"] for p in found["problems"] if p["record"].startswith(record)]
    assert len(messages) == 1, found["problems"]
    return messages[0]


# -- JSONL image paths ----------------------------------------------------------
def hostile_manifest(root: Path, image: str, **extra: Any) -> Path:
    """The fixture manifest with a test line ``x`` whose image is ``image``."""
    return write_jsonl(root, [
        {"id": "ok", "image": "images/a.png", "question": "Is it?", "answer": "yes"},
        {"id": "x", "image": image, "question": "Is it?", "answer": "no", **extra},
        {"id": "r", "image": "images/c.png", "question": "Is it?", "answer": "no", "split": "train"}])


OUTSIDE = "which leads outside the release folder"
LINK_OUTSIDE = "which a symbolic link leads outside the release folder"
ABSOLUTE = "an absolute path; expected a path relative to the release folder"


def _escape(root: Path) -> str:
    write_image(root.parent / "secret.png", picture(7, (24, 24), "L"))
    return "../secret.png"


def _absolute(root: Path) -> str:
    return str(write_image(root.parent / "secret.png", picture(7, (24, 24), "L")))


def _link_out(root: Path) -> str:
    (root / "images" / "link.png").symlink_to(write_image(root.parent / "secret.png", picture(7, (24, 24), "L")))
    return "images/link.png"


def _folder_link_out(root: Path) -> str:
    write_image(root.parent / "elsewhere" / "secret.png", picture(7, (24, 24), "L"))
    (root / "linked").symlink_to(root.parent / "elsewhere", target_is_directory=True)
    return "linked/secret.png"


def _dev_zero(root: Path) -> str:
    return "/dev/zero"


def _link_to_dev_zero(root: Path) -> str:
    (root / "images" / "zero.png").symlink_to("/dev/zero")
    return "images/zero.png"


@pytest.mark.parametrize("make,expected", [
    (_escape, OUTSIDE), (_absolute, ABSOLUTE), (_link_out, LINK_OUTSIDE), (_folder_link_out, LINK_OUTSIDE),
    (_dev_zero, ABSOLUTE), (_link_to_dev_zero, LINK_OUTSIDE),
], ids=["dotdot-escape", "absolute", "symlink-escape", "symlinked-folder", "dev-zero", "symlink-to-dev-zero"])
def test_jsonl_images_stay_inside_the_manifest_folder(tmp_path: Path, make: Callable[[Path], str],
                                                      expected: str) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "images").mkdir()
    image = make(root)
    found = load_in_child("jsonl", {"path": str(hostile_manifest(root, image))})
    assert found["ids"] == ["jsonl/ok"]
    assert problem_of(found, "line 3 (id x)") == f"is {image!r}, {expected}" + (
        "; expected an image name inside the release" if expected == OUTSIDE else
        ", naming an image inside it" if expected == ABSOLUTE else
        "; expected an image inside the release (copy it in rather than linking to it)")


def test_odd_image_names_are_skipped_not_fatal(tmp_path: Path) -> None:
    long_name = "images/" + "a" * 5000 + ".png"
    found = load_in_child("jsonl", {"path": str(write_jsonl(tmp_path, [
        {"id": "ok", "image": "images/a.png", "question": "Is it?", "answer": "yes"},
        {"id": "nul", "image": "images/a\u0000.png", "question": "Is it?", "answer": "no"},
        {"id": "long", "image": long_name, "question": "Is it?", "answer": "no"}]))})
    assert found["ids"] == ["jsonl/ok"]
    assert problem_of(found, "line 3 (id nul)") == ("is 'images/a\\x00.png', which holds a NUL character; "
                                                    "expected an image name")
    assert problem_of(found, "line 4 (id long)") == f"{long_name[:237]}...: cannot be read (File name too long)"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    os.mkfifo(root / "images" / "pipe.png")
    found = load_in_child("jsonl", {"path": str(hostile_manifest(root, "images/pipe.png"))})
    assert found["ids"] == ["jsonl/ok"]
    assert problem_of(found, "line 3 (id x)") == ("images/pipe.png: is a named pipe (FIFO), not a regular file; "
                                                  "expected an image file")


def test_a_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "images" / "dir.png").mkdir(parents=True)
    found = load_in_child("jsonl", {"path": str(hostile_manifest(root, "images/dir.png"))})
    assert problem_of(found, "line 3 (id x)") == "images/dir.png: is a folder, not a regular file; expected an image file"


def test_devices_are_refused_before_they_are_opened() -> None:
    said = in_child(textwrap.dedent('''
        from pathlib import Path
        from medrobust_plugins.datasets._images import decode
        from medrobust_plugins.datasets._records import ImageSource
        try:
            decode(ImageSource.file(Path("/dev/zero"), "zero"))
        except Exception as exc:
            print(exc)
    '''))
    assert said == "is a character device, not a regular file; expected an image file\n"


# -- every loader ---------------------------------------------------------------
def _first_test_image(load: Callable[[dict[str, Any]], Any], root: Path) -> Path:
    record = load({"path": str(root)}).records("test")[0]
    return record.image.path


LOADERS = {
    "vqa-rad": (vqa_rad.load, lambda root: write_vqa_rad_osf(root)),
    "slake": (slake.load, lambda root: write_slake(root)),
    "pathvqa": (pathvqa.load, lambda root: write_pathvqa_original(root)),
    "jsonl": (jsonl.load, lambda root: write_jsonl(root)),
}
LOADER_MODULES = {"vqa-rad": "vqa_rad", "slake": "slake", "pathvqa": "pathvqa", "jsonl": "jsonl"}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_every_loader_refuses_a_symlink_out_and_a_fifo(tmp_path: Path, name: str) -> None:
    load, write = LOADERS[name]
    root = tmp_path / "release"
    given = write(root)
    image = _first_test_image(load, given)
    label = os.path.relpath(image, root)
    image.unlink()
    image.symlink_to(write_image(tmp_path / "outside.png", picture(7, (24, 24), "L")))
    found = load_in_child(LOADER_MODULES[name], {"path": str(given)})
    assert any(LINK_OUTSIDE in p["message"] for p in found["problems"]), found["problems"]

    image.unlink()
    os.mkfifo(image)
    found = load_in_child(LOADER_MODULES[name], {"path": str(given)})
    assert any(p["message"] == f"{label}: is a named pipe (FIFO), not a regular file; expected an image file"
               for p in found["problems"]), found["problems"]


# -- size caps --------------------------------------------------------------------
def test_an_image_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    with open(root / "images" / "huge.png", "wb") as sparse:  # a hole: no disk used, nothing to read
        sparse.truncate(MAX_IMAGE_BYTES + 1)
    manifest = hostile_manifest(root, "images/huge.png")
    found = load_in_child("jsonl", {"path": str(manifest)})
    assert problem_of(found, "line 3 (id x)") == (
        f"images/huge.png: is {MAX_IMAGE_BYTES + 1} bytes, over the cap of {MAX_IMAGE_BYTES} bytes; expected an "
        f"image file (raise the cap with --dataset-option max_image_bytes=N, 0 for none)")

    small = len(image_bytes(picture(51, (24, 24), "L")))
    data = jsonl.load({"path": str(manifest), "max_image_bytes": str(small - 1)})
    with pytest.raises(DatasetError, match=r"has no usable record .*images/a.png: is \d+ bytes, over the cap of"):
        data.samples("test")
    assert [s.id for s in jsonl.load({"path": str(write_jsonl(tmp_path / "fine"))}).samples("test")] == [
        "jsonl/p1", "jsonl/p2"]


def test_embedded_images_have_the_same_cap(tmp_path: Path) -> None:
    root = write_vqa_rad_parquet(tmp_path)
    with pytest.raises(DatasetError, match=r"row 0 field 'image': is \d+ bytes, over the cap of 10 bytes"):
        vqa_rad.load({"path": str(root), "max_image_bytes": "10"}).samples("test")


def test_a_question_or_answer_over_its_cap_skips_its_record(tmp_path: Path) -> None:
    long_question = "Is there " + "a very long question " * 5000  # 100,009 characters
    manifest = write_jsonl(tmp_path, [
        {"id": "ok", "image": "images/a.png", "question": "Is it?", "answer": "yes"},
        {"id": "q", "image": "images/b.png", "question": long_question, "answer": "no"},
        {"id": "a", "image": "images/b.png", "question": "What is it?", "answer": "x" * 4001},
        {"id": "r", "image": "images/c.png", "question": "Is it?", "answer": "no", "split": "train"}])
    data = jsonl.load({"path": str(manifest)})
    assert [s.id for s in data.samples("test")] == ["jsonl/ok"]
    found = {p["record"]: (p["field"], p["message"]) for p in data.describe()["skipped"]["problems"]}
    assert found == {
        "line 3 (id q)": ("question", f"is {len(long_question.strip())} characters long, over the cap of 2000; the "
                                      f"record is skipped (raise the cap with --dataset-option max_question_chars=N, "
                                      f"0 for none)"),
        "line 4 (id a)": ("answer", "is 4001 characters long, over the cap of 4000; the record is skipped (raise "
                                    "the cap with --dataset-option max_answer_chars=N, 0 for none)")}
    assert "skipped and listed" in data.describe()["over_the_cap"]
    lifted = jsonl.load({"path": str(manifest), "max_question_chars": "0", "max_answer_chars": "5000"})
    assert [s.id for s in lifted.samples("test")] == ["jsonl/ok", "jsonl/q", "jsonl/a"]
    with pytest.raises(DatasetError, match="option max_question_chars must be 0 .no cap. or more, got -1"):
        jsonl.load({"path": str(manifest), "max_question_chars": "-1"})


def test_parquet_questions_have_the_same_cap(tmp_path: Path) -> None:
    root = write_vqa_rad_parquet(tmp_path)
    shard = next((root / "data").glob("test-*.parquet"))
    row = {"image": {"bytes": image_bytes(picture(8)), "path": None}, "answer": "no"}
    write_parquet(shard, [{**row, "question": "Q" * 2001}, {**row, "question": "Is it?"}])
    data = vqa_rad.load({"path": str(root)})
    assert [s.id for s in data.samples("test")] == ["vqa-rad/test/00001"]
    assert [(p["record"], p["field"]) for p in data.describe()["skipped"]["problems"]] == [("row 0", "question")]
