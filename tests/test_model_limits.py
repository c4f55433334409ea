"""Limits on the model: a per-call timeout (``--answer-timeout``) and Ctrl-C that still leaves a certificate.

The end-to-end cases run pytest in a subprocess (a real SIGINT, a model that never returns); the run is
bounded by the harness itself, the subprocess timeout is only a safety net.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import TOY_ARGS, TOY_PLUGIN
from medrobust.errors import ModelUnavailable
from medrobust.noise import Composition
from medrobust.run.evaluate import Evaluator
from medrobust.run.journal import AnswerJournal
from medrobust.run.model_calls import DEFAULT_ANSWER_TIMEOUT, ModelCalls
from medrobust.run.options import RunOptions, replay_command
from medrobust.sample import Sample

SAFETY_NET = 120
"""Seconds after which a subprocess run counts as hung (the harness should end it far sooner)."""


class Recorder:
    """A model that logs its calls, counts how many run at once, and sleeps ``delay`` in each."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0
        self.active = 0
        self.most_active = 0
        self.threads: set[str] = set()
        self.release = threading.Event()

    def answer(self, samples):
        self.calls += 1
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        self.threads.add(threading.current_thread().name)
        try:
            if self.delay == float("inf"):
                self.release.wait(30)
            else:
                time.sleep(self.delay)
            return ["yes"] * len(samples)
        finally:
            self.active -= 1


def _samples(n: int) -> list[Sample]:
    return [Sample(f"s{i}", Image.new("L", (8, 8), i), "q?", "yes", "closed") for i in range(n)]


# -- the model's calls, in process -------------------------------------------------------------------

def test_a_call_past_its_limit_is_abandoned_and_the_model_is_not_called_beside_it():
    model = Recorder(float("inf"))
    calls = ModelCalls(0.1)
    started = time.perf_counter()
    with pytest.raises(ModelUnavailable, match=r"^model call timed out after 0\.2 s \(--answer-timeout 0\.1 s "
                                               r"a sample, 2 in the call\)$"):
        calls.call(model.answer, [1, 2])
    with pytest.raises(ModelUnavailable, match="^not asked: the model has not returned from an earlier call that "
                                               "timed out after 0.2 s"):
        calls.call(model.answer, [3])
    assert time.perf_counter() - started < 1.0
    assert model.calls == 1 and calls.unavailable.startswith("the model has not returned")
    assert calls.seconds == pytest.approx(0.2)  # the model's time: the limit it was given
    model.release.set()  # the abandoned call comes back: the model can be asked again, on the same thread
    deadline = time.monotonic() + 5
    while calls.unavailable is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    model.delay = 0.0
    assert calls.call(model.answer, [4]) == ["yes"]
    assert model.calls == 2 and model.most_active == 1 and model.threads == {"medrobust-model"}


def test_errors_come_back_from_the_worker_and_no_limit_means_none():
    def broken(samples):
        raise RuntimeError("GPU fell over")

    calls = ModelCalls(0)
    assert calls.timeout is None and calls.limit(64) is None
    with pytest.raises(RuntimeError, match="GPU fell over"):
        calls.call(broken, [1])
    assert calls.call(lambda samples: [len(samples)], [1, 2]) == [2]
    assert ModelCalls(DEFAULT_ANSWER_TIMEOUT).limit(64) == DEFAULT_ANSWER_TIMEOUT * 64
    # a call made from within a call (a calibrator asking its model) runs in place instead of waiting on itself
    nested = ModelCalls(1)
    assert nested.call(lambda samples: nested.call(lambda inner: ["inner"] * len(inner), samples), [1]) == ["inner"]


def test_a_hanging_model_gives_error_rows_and_the_evaluation_goes_on():
    model = Recorder(float("inf"))
    evaluator = Evaluator(model, "hangs", _samples(6), {}, run_seed=0, batch_size=2, calls=ModelCalls(0.1))
    started = time.perf_counter()
    evaluation = evaluator.evaluate(Composition())
    assert time.perf_counter() - started < 1.5
    assert evaluation.answers == (None,) * 6 and model.calls == 1  # not asked again sample by sample
    assert evaluation.errors["s0"] == evaluation.errors["s1"] == \
        "model call timed out after 0.2 s (--answer-timeout 0.1 s a sample, 2 in the call)"
    assert evaluation.errors["s5"].startswith("not asked: the model has not returned from an earlier call")
    model.release.set()


def test_ctrl_c_while_the_model_answers_returns_at_once_and_closes_the_calls():
    model = Recorder(float("inf"))
    calls = ModelCalls(0)  # no limit: only Ctrl-C ends the wait
    timer = threading.Timer(0.2, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        calls.call(model.answer, [1])
    assert time.perf_counter() - started < 2.0
    assert calls.interrupted and calls.unavailable == "run interrupted"
    with pytest.raises(ModelUnavailable, match="^not asked: run interrupted$"):
        calls.call(model.answer, [2])
    assert model.calls == 1
    model.release.set()


def test_answer_timeout_option_is_checked_and_carried_by_the_replay_command():
    assert RunOptions().answer_timeout == DEFAULT_ANSWER_TIMEOUT == 60
    for bad in (-1, float("nan"), True):
        with pytest.raises(ValueError, match="--answer-timeout must be a number of seconds, at least 0"):
            RunOptions(answer_timeout=bad)
    assert "--answer-timeout" not in replay_command(RunOptions(), "[]", "closed_accuracy")
    assert "--answer-timeout 0.0" in replay_command(RunOptions(answer_timeout=0.0), "[]", "closed_accuracy")


def test_a_negative_answer_timeout_stops_pytest_at_start_up(toy):
    toy.makepyfile(test_spec="def test_a(bench):\n    bench.expect('clean', metric='closed_accuracy', min=0)\n")
    result = toy.runpytest(*TOY_ARGS, "--answer-timeout", "-5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--answer-timeout must be a number of seconds, at least 0 (0: no limit), got -5.0"])


# -- whole runs, in a subprocess ----------------------------------------------------------------------

MODELS = '''

import os as _os
import time as _time

import medrobust.run.facts as _facts
import medrobust.run.probes as _probes


class LoggedModel(ToyModel):
    """The toy model, slowed down; every call's start time is appended to $CALL_LOG."""

    delay = 0.25

    def answer(self, samples):
        with open(_os.environ["CALL_LOG"], "a") as log:
            log.write(f"{_time.time()!r}\\n")
        _time.sleep(self.delay)
        return super().answer(samples)


class HangingModel(LoggedModel):
    delay = 3600.0


def _marked(name, wrapped, pause=0.0):
    def mark(*args, **kwargs):
        open(_os.path.join(_os.environ["MARKS"], name), "w").close()
        _time.sleep(pause)
        return wrapped(*args, **kwargs)
    return mark


_probes.repeatability = _marked("probes", _probes.repeatability)
_facts.run_facts = _marked("certificate", _facts.run_facts, pause=float(_os.environ.get("CERT_PAUSE", "0")))

_TOY_MODELS_2 = medrobust_register_models


@medrobust.hookimpl
def medrobust_register_models(register):
    _TOY_MODELS_2(register)
    register("logged", LoggedModel)
    register("hanging", HangingModel)
'''

SPECS = '''
import pytest

@pytest.mark.parametrize("noise", ["gaussian_blur@1", "jpeg@1", "gaussian_noise@1", "char_typos@1"])
def test_spec(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=1.0)
'''


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # even where the test runner ignores it: Python then handles it


class Run:
    """A pytest run of :data:`SPECS` with the toy plugin and :data:`MODELS`, in a subprocess of its own."""

    def __init__(self, directory: Path, *args: str, spec: str = SPECS, cert_pause: float = 0.0) -> None:
        self.dir = directory
        self.log = directory / "calls.log"
        self.marks = directory / "marks"
        self.marks.mkdir()
        (directory / "conftest.py").write_text(TOY_PLUGIN.read_text(encoding="utf-8") + MODELS, encoding="utf-8")
        (directory / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        (directory / "test_spec.py").write_text(spec, encoding="utf-8")
        self.tmp = directory / "tmp"  # the run's temporary folder (xdist workers share their evidence there)
        self.tmp.mkdir()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "CALL_LOG": str(self.log), "MARKS": str(self.marks),
               "CERT_PAUSE": str(cert_pause), "TMPDIR": str(self.tmp)}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--dataset", "toy",
             "--journal", "journal.sqlite", *args], cwd=directory, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, preexec_fn=_default_sigint, start_new_session=True)
        self.output = ""

    def calls(self) -> list[float]:
        """Start times of the model's calls so far."""
        return [float(line) for line in self.log.read_text().split()] if self.log.exists() else []

    def wait_for(self, what: str, condition, limit: float = 60.0) -> None:
        """Poll until ``condition()`` holds (the run failing the test if it ends first or takes too long)."""
        deadline = time.monotonic() + limit
        while not condition():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.finish()
                pytest.fail(f"the run never reached {what}:\n{self.output[-3000:]}")
            time.sleep(0.02)

    def interrupt(self) -> float:
        """Send SIGINT to the run's process group, as Ctrl-C in a terminal does; returns when it was sent."""
        sent = time.time()
        os.killpg(self.proc.pid, signal.SIGINT)
        return sent

    def finish(self) -> int:
        """Wait for the run to end; returns its exit status."""
        try:
            self.output, _ = self.proc.communicate(timeout=SAFETY_NET)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.output, _ = self.proc.communicate()
            pytest.fail(f"the run hung (killed after {SAFETY_NET} s):\n{self.output[-3000:]}")
        return self.proc.returncode

    def certificate(self) -> dict:
        path = self.dir / "reports" / "certificate.json"
        assert path.exists(), self.output[-3000:]
        return json.loads(path.read_text(encoding="utf-8"))


def _journal_rows(path: Path) -> int:
    """How many answers the journal holds, after SQLite's own integrity check."""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    journal = AnswerJournal(path)
    try:
        return len(journal)
    finally:
        journal.close()


def _probe_note(cert: dict, probe: str) -> str:
    """Why the certificate lacks the ``probe`` evidence, as its limitations state it ("" if it does not)."""
    prefix = f"The {probe} evidence could not be gathered ("
    for line in cert["limitations"]:
        if line.startswith(prefix):
            return line[len(prefix):].split("); the report lacks it.")[0]
    return ""


def test_a_hanging_model_is_cut_off_by_the_harness_and_the_run_writes_its_certificate(tmp_path):
    run = Run(tmp_path, "--model", "hanging", "--answer-timeout", "1", "--batch-size", "2")
    status = run.finish()
    elapsed = time.monotonic() - run.started
    assert elapsed < 40, elapsed  # one call of 2 samples cut off after 2 s; the rest are not asked
    assert len(run.calls()) == 1, run.output[-2000:]
    cert = run.certificate()
    errors = {e["error"] for e in cert["sample_errors"]}
    assert len(cert["sample_errors"]) == 24 * 5  # every sample, clean and under each of the 4 noises
    assert errors == {"model call timed out after 2 s (--answer-timeout 1 s a sample, 2 in the call)",
                      "not asked: the model has not returned from an earlier call that timed out after 2 s "
                      "(--answer-timeout 1 s a sample, 2 in the call)"}
    assert cert["verdict"] == "NOT VALID"
    assert cert["repeatability"] is None and cert["shortcuts"] is None
    assert _probe_note(cert, "repeatability").startswith("skipped: the model has not returned"), cert["limitations"]
    assert status == pytest.ExitCode.TESTS_FAILED, run.output[-2000:]  # not-valid is in the default --fail-on


def test_ctrl_c_during_the_specs_writes_a_partial_certificate_without_asking_the_model_again(tmp_path):
    run = Run(tmp_path, "--model", "logged", "--batch-size", "4")
    # 6 calls for the clean answers, 6 under the first spec's noise: Ctrl-C in the second spec
    run.wait_for("the second spec", lambda: len(run.calls()) >= 14)
    sent = run.interrupt()
    status = run.finish()
    assert status == pytest.ExitCode.INTERRUPTED, run.output[-3000:]
    assert [t for t in run.calls() if t > sent] == [], "the model was asked after Ctrl-C"
    cert = run.certificate()
    assert cert["verdict"] == "PARTIAL"
    assert "interrupted" in cert["judgement"]["completeness"]["interrupted"]
    assert _probe_note(cert, "repeatability") == _probe_note(cert, "shortcuts") == "skipped: run interrupted"
    assert _journal_rows(tmp_path / "journal.sqlite") >= 13 * 4  # the batches answered before Ctrl-C are kept


def test_ctrl_c_during_the_evidence_probes_stops_them_and_the_certificate_is_partial(tmp_path):
    run = Run(tmp_path, "--model", "logged", "--batch-size", "8",
              spec="def test_clean(bench):\n    bench.expect('clean', metric='closed_accuracy', min=0.0)\n")
    run.wait_for("the evidence probes", lambda: (run.marks / "probes").exists())
    time.sleep(0.1)  # inside the probe's first call to the model
    sent = run.interrupt()
    status = run.finish()
    assert status == pytest.ExitCode.INTERRUPTED, run.output[-3000:]
    assert [t for t in run.calls() if t > sent] == [], "the model was asked after Ctrl-C"
    assert time.time() - sent < 10
    cert = run.certificate()
    assert cert["verdict"] == "PARTIAL"
    completeness = cert["judgement"]["completeness"]
    assert "during the evidence probes" in completeness["interrupted"], completeness
    assert _probe_note(cert, "repeatability") == "skipped: run interrupted"


def test_a_second_ctrl_c_while_the_certificate_is_written_leaves_journal_and_certificate(tmp_path):
    run = Run(tmp_path, "--model", "logged", "--batch-size", "4", cert_pause=1.5)
    run.wait_for("the second spec", lambda: len(run.calls()) >= 14)
    run.interrupt()
    run.wait_for("the certificate step", lambda: (run.marks / "certificate").exists())
    run.interrupt()
    status = run.finish()
    assert status == pytest.ExitCode.INTERRUPTED, run.output[-3000:]
    assert "medrobust: writing the PARTIAL certificate from what was answered" in run.output
    assert run.certificate()["verdict"] == "PARTIAL"
    assert _journal_rows(tmp_path / "journal.sqlite") >= 4


def test_ctrl_c_under_xdist_does_not_ask_the_model_again_nor_leave_files_behind(tmp_path):
    run = Run(tmp_path, "--model", "logged", "--batch-size", "4", "-n", "2")
    run.wait_for("the second spec of a worker", lambda: len(run.calls()) >= 14)
    sent = run.interrupt()
    status = run.finish()
    assert status == pytest.ExitCode.INTERRUPTED, run.output[-3000:]
    assert [t for t in run.calls() if t > sent] == [], "the model was asked after Ctrl-C"
    assert list(run.tmp.glob("medrobust-*")) == []  # the workers shared no evidence they did not gather
    assert _journal_rows(tmp_path / "journal.sqlite") >= 8
