"""Writing the certificate: its path checked before any spec runs, its three files replaced together."""

import errno
import os
import resource
import subprocess
import sys

import pytest
from cert_runs import load, spec_run

from medrobust.certificate.record import ANSWERS_SUFFIX
from medrobust.errors import OptionError


@pytest.fixture
def outputs():
    from medrobust.run import outputs

    return outputs


@pytest.fixture
def atomic():
    from medrobust.certificate import atomic

    return atomic

SPEC = '''
from pathlib import Path

def test_pixels(bench):
    Path("spec-ran").write_text("yes")
    bench.expect("gaussian_noise@1", metric="closed_accuracy", max_drop=0.5)
'''
ARGS = ("--model", "toy", "--dataset", "toy", "-p", "no:cacheprovider", "--journal", "none")


def test_the_three_paths_keep_every_dot_of_the_name(tmp_path, outputs):
    certificate_paths = outputs.certificate_paths
    assert certificate_paths(tmp_path / "v1.5") == (tmp_path / "v1.5.json", tmp_path / "v1.5.html",
                                                   tmp_path / "v1.5.answers.jsonl")
    assert certificate_paths(tmp_path / "cert.json") == certificate_paths(tmp_path / "cert.html") == (
        tmp_path / "cert.json", tmp_path / "cert.html", tmp_path / "cert.answers.jsonl")
    assert outputs.ANSWERS_SUFFIX == ANSWERS_SUFFIX  # what verify looks for beside the certificate


def test_a_certificate_path_that_cannot_be_written_is_refused_naming_it(tmp_path, outputs):
    check_certificate_path = outputs.check_certificate_path
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "cert.html").mkdir()
    refused = {"/dev/null/x": "cannot write /dev/null/x.json: /dev/null is not a folder",
               str(tmp_path / "a-file" / "deeper" / "cert"): (f"cannot write {tmp_path / 'a-file/deeper/cert.json'}: "
                                                              f"{tmp_path / 'a-file'} is not a folder"),
               str(tmp_path / "cert"): f"cannot write {tmp_path / 'cert.html'}: a folder of that name is in the way"}
    for base, message in refused.items():
        with pytest.raises(OptionError) as caught:
            check_certificate_path(base)
        assert str(caught.value).startswith(f"--certificate {base}: {message}")
        assert "--certificate none" in str(caught.value)
    before = sorted(tmp_path.rglob("*"))
    check_certificate_path(str(tmp_path / "new" / "folder" / "cert"))  # can be created: fine, and nothing made
    check_certificate_path(None)
    assert sorted(tmp_path.rglob("*")) == before


def test_an_unwritable_folder_is_refused(tmp_path, monkeypatch, outputs):
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: False)  # as a user without permission sees it
    with pytest.raises(OptionError, match=f"cannot create {tmp_path / 'reports'} in {tmp_path}: permission denied"):
        outputs.check_certificate_path(str(tmp_path / "reports" / "cert"))


def _pytest(where, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", *ARGS, *args], cwd=where, capture_output=True,
                          text=True, env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    """A folder with the toy plugin's conftest and a spec that leaves a mark when it runs."""
    where = tmp_path_factory.mktemp("write")
    spec_run(where, SPEC, ARGS, "1 passed")
    (where / "spec-ran").unlink()
    return where


@pytest.mark.parametrize("given", [True, False])
def test_an_unwritable_certificate_path_stops_the_run_before_any_spec(toy_dir, tmp_path, given):
    where = tmp_path / "run"
    where.mkdir()
    for name in ("conftest.py", "pytest.ini", "test_spec.py"):
        (where / name).write_text((toy_dir / name).read_text())
    if given:
        done = _pytest(where, "--certificate", "/dev/null/x")
        expected = "--certificate /dev/null/x: cannot write /dev/null/x.json: /dev/null is not a folder"
    else:  # the default reports/certificate, where a file named reports is in the way
        (where / "reports").write_text("not a folder")
        done = _pytest(where)
        expected = f"--certificate reports/certificate: cannot write reports/certificate.json: reports is not a folder"
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:] + done.stderr[-2000:]
    assert expected in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) <= 3
    assert not (where / "spec-ran").exists()  # nothing ran


def _files(json_path):
    base = json_path.with_suffix("")
    return {p: p.read_bytes() for p in (json_path, base.with_suffix(".html"), base.with_name(base.name + ANSWERS_SUFFIX))}


def test_write_together_replaces_all_or_nothing(tmp_path, monkeypatch, atomic, outputs):
    paths = outputs.certificate_paths(tmp_path / "cert")
    atomic.write_together({p: b"old " + p.name.encode() for p in paths})
    old = {p: p.read_bytes() for p in paths}
    real = atomic._write_temporary

    def full_disk(path, content):
        if path.suffix == ".html":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, content)

    monkeypatch.setattr(atomic, "_write_temporary", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_together({p: b"new" for p in paths})
    assert {p: p.read_bytes() for p in paths} == old
    monkeypatch.setattr(atomic, "_write_temporary", real)
    # a rename that fails part way (the HTML's place taken by a folder): the ones done are put back
    paths[1].unlink()
    paths[1].mkdir()
    with pytest.raises(OSError):
        atomic.write_together({p: b"new" for p in paths})
    assert paths[0].read_bytes() == old[paths[0]] and paths[2].read_bytes() == old[paths[2]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary left
    paths[1].rmdir()
    atomic.write_together({p: b"new" for p in paths})
    assert all(p.read_bytes() == b"new" for p in paths)
    assert oct(paths[0].stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failed_html_write_leaves_the_previous_certificate_whole(tmp_path):
    json_path = spec_run(tmp_path, SPEC, ARGS, "1 passed")
    before = _files(json_path)
    sizes = {p.suffix: len(content) for p, content in before.items()}
    smaller = max(sizes[".json"], sizes[".jsonl"])
    assert sizes[".html"] > 1.5 * smaller
    limit = (smaller + sizes[".html"]) // 2  # the answers and the JSON fit, the page does not: "File too large"

    def cap_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ: writes fail EFBIG

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", *ARGS, "--seed", "7"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=300, check=False,
                          preexec_fn=cap_file_size)
    assert "1 passed" in done.stdout and done.returncode == pytest.ExitCode.INTERNAL_ERROR, done.stdout[-3000:]
    assert ("medrobust: the certificate reports/certificate could not be written: File too large"
            in done.stdout)
    assert "nothing was replaced, a previous certificate there is unchanged" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert _files(json_path) == before  # the old JSON, page and answers, byte for byte
    assert load(json_path)["run"]["options"]["seed"] == 0
    assert sorted(p.name for p in json_path.parent.iterdir()) == sorted(p.name for p in before)  # no temporaries
