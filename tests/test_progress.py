"""Progress on long runs: counts, rate, ETA, journal hits; throttled plain lines; quiet under -q; the logger."""

from __future__ import annotations

import logging
import re

import pytest

from conftest import TOY_PLUGIN

from medrobust.run.progress import (BarDisplay, LineDisplay, LogDisplay, Progress, Snapshot, Throttle, format_bar,
                                    format_done, format_line)

SLOW_MODEL = '''

class SlowModel:
    """The toy model, a few milliseconds a sample (a long run in miniature)."""

    def __init__(self, options):
        self.inner = ToyModel(options)

    def answer(self, samples):
        import os
        import time

        time.sleep(float(os.environ.get("SLOW_SECONDS", "0.004")) * len(samples))
        return self.inner.answer(samples)

    def describe(self):
        return {"name": "slow-toy", "weights_sha256": "1" * 64}


@medrobust.hookimpl
def medrobust_register_models(register):
    register("slow", SlowModel)
'''

YAML_SPEC = "suite: slow\nnoises: [gaussian_noise]\nseverities: [1, 2, 3, 4]\n" \
            "expect: {closed_accuracy: {max_drop: 1.0}}\n"

LINE = re.compile(r"^medrobust: slow\.robust\.yaml: ([\d,]+)/([\d,]+) answers \(\d+ %\), [\d.]+ answers/s, ETA [\d:]+"
                  r".*; composition (\d)/5 (\S+): (\d+)/24", re.M)


HYPOTHESIS_SPEC = """
from hypothesis import given, settings
import medrobust as mr
settings.load_profile("medrobust")

@given(noise=mr.compositions(modality="image", max_noises=1, max_severity=2))
def test_hyp(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=1.0)
"""


@pytest.fixture
def slow(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(TOY_PLUGIN.read_text() + SLOW_MODEL)
    pytester.makefile(".ini", pytest="[pytest]\n")
    pytester.makefile(".robust.yaml", slow=YAML_SPEC)
    monkeypatch.setenv("MEDROBUST_PROGRESS_INTERVAL", "0.05")
    return pytester


ARGS = ("--model", "slow", "--dataset", "toy", "--batch-size", "4", "--journal", "none", "-p", "no:cacheprovider")


def test_a_run_without_a_tty_prints_plain_progress_lines_with_counts(slow):
    slow.makepyfile(test_hyp=HYPOTHESIS_SPEC)
    result = slow.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=5)
    out = result.stdout.str()
    assert "\r" not in out and "\x1b[" not in out  # a log, not a terminal: no carriage return, no cursor moves
    lines = LINE.findall(out)
    assert len(lines) >= 2, out
    totals = {int(total.replace(",", "")) for _, total, *_ in lines}
    assert totals == {(4 + 1) * 24}  # 4 compositions and the clean answers, 24 samples each
    done = [int(n.replace(",", "")) for n, *_ in lines]
    assert done == sorted(done) and 0 < done[0] < done[-1] <= 120
    assert {label for *_, label, _ in lines} <= {"clean", "gaussian_noise@1", "gaussian_noise@2",
                                                 "gaussian_noise@3", "gaussian_noise@4"}
    result.stdout.re_match_lines([r"medrobust: slow\.robust\.yaml: done, 120 answers in 5 compositions, "
                                  r"[\d:]+ \([\d.]+ answers/s\)$"])
    # a hypothesis spec: at most max_examples (8 in the medrobust profile) compositions, the clean answers known
    result.stdout.re_match_lines([r"medrobust: test_hyp: \d+ of at most 192 answers \(\d+ %\), .*, ETA [\d:]+ at most"
                                  r"; composition \d/8 \S+: \d+/24$"])
    # pytest's own lines stay whole: the outcome comes after the file name again, on a line of its own
    result.stdout.re_match_lines([r"^slow\.robust\.yaml \.+"])


@pytest.mark.parametrize("silence", [("-q",), ("-p", "no:medrobust-progress")])
def test_quiet_runs_show_no_progress(slow, silence):
    result = slow.runpytest_subprocess(*ARGS, *silence)
    result.assert_outcomes(passed=4)
    assert "answers/s" not in result.stdout.str() + result.stderr.str()


def test_progress_is_a_record_of_the_medrobust_logger_with_the_runs_other_records(slow):
    result = slow.runpytest_subprocess(*ARGS, "-q", "--log-cli-level=INFO")
    result.assert_outcomes(passed=4)
    out = result.stdout.str()
    for pattern in (r"medrobust\.plugins.*plugins loaded: .*conftest", r"medrobust\.run.*dataset 'toy': 24 samples",
                    r"medrobust\.run.*model 'slow' loaded in", r"medrobust\.progress.*slow\.robust\.yaml: \d+/120",
                    r"medrobust\.progress.*slow\.robust\.yaml: done, 120 answers",
                    r"medrobust\.run.*evidence probe repeatability in [\d.]+ s \(the model asked again",
                    r"medrobust\.certificate.*certificate written: .*certificate\.json"):
        assert re.search(pattern, out), (pattern, out)


def test_xdist_workers_leave_the_terminal_to_the_controller(slow):
    result = slow.runpytest_subprocess(*ARGS, "-n", "2")
    result.assert_outcomes(passed=4)
    assert "answers/s" not in result.stdout.str() + result.stderr.str()


def test_the_journal_hits_are_counted(slow):
    args = [a for a in ARGS if a not in ("--journal", "none")]
    slow.runpytest_subprocess(*args).assert_outcomes(passed=4)
    again = slow.runpytest_subprocess(*args, "--log-cli-level=INFO")
    again.stdout.re_match_lines([r".*medrobust\.progress.*slow\.robust\.yaml: done, 120 answers in 5 compositions, "
                                 r".*120 from the journal$"])


def test_a_bad_progress_interval_is_refused_at_start_up(slow, monkeypatch):
    monkeypatch.setenv("MEDROBUST_PROGRESS_INTERVAL", "soon")
    refused = slow.runpytest(*ARGS)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*MEDROBUST_PROGRESS_INTERVAL='soon': give the seconds between two progress "
                                  "lines, a number >= 0 (default 10)"])


# -- the parts, without pytest ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_throttle_waits_first_then_lets_a_line_through_per_step_or_per_minute():
    t = Throttle(first=10, every=10, step=0.10, at_most=60)
    t.start(100.0)
    assert not t.due(105.0, 0.5)  # a spec shorter than `first` prints nothing
    assert t.due(110.0, 0.05)
    assert not t.due(115.0, 0.50)  # never two lines within `every`
    assert not t.due(121.0, 0.12)  # 10 s passed, but the spec advanced by less than a step
    assert t.due(122.0, 0.16)
    assert not t.due(150.0, 0.17)
    assert t.due(182.0, 0.17)  # a minute without a line: due whatever the progress
    assert not t.due(193.0, None) and t.due(242.0, None)  # unknown total: once a minute
    assert t.lines == 4
    t.start(300.0)
    assert t.lines == 0 and not t.due(305.0, 1.0)


def _spec(clock: Clock, display, total=120) -> Progress:
    progress = Progress(display, clock=clock)
    progress.begin_spec("file", "slow.robust.yaml", total, compositions=4)
    return progress


def test_progress_counts_answers_journal_hits_and_the_rate_of_the_models_answers_only():
    clock = Clock()
    shown: list[Snapshot] = []

    class Record:
        def start(self, now):
            pass

        def show(self, snapshot, now):
            shown.append(snapshot)

        def clear(self):
            pass

        def finish(self, snapshot):
            shown.append(snapshot)

    progress = _spec(clock, Record())
    arm = progress.arm("uncalibrated")
    first = arm.composition("gaussian_noise@1", 24, journal=20)  # 20 read back from the journal at once
    clock.now += 2.0
    first.advance(4)
    first.close()
    clock.now += 100.0  # time outside compositions (a calibrator fitting) is not the model's rate
    second = arm.composition("gaussian_noise@2", 24)
    clock.now += 2.0
    second.advance(8)
    last = shown[-1]
    assert (last.answers, last.asked, last.journal, last.total) == (32, 12, 20, 120)
    assert last.composition == "gaussian_noise@2 (uncalibrated)" and last.compositions == 2
    assert (last.composition_answers, last.composition_total) == (8, 24)
    assert last.rate == pytest.approx(3.0) and last.eta == pytest.approx((120 - 32) / 3.0)
    arm.composition("gaussian_noise@2", 24)  # the same composition on the other arm: still the second
    assert shown[-1].compositions == 2
    progress.end_spec()
    assert progress.current is None and shown[-1].spec == "slow.robust.yaml"


def test_an_estimate_exceeded_drops_the_total_and_outside_a_spec_nothing_is_counted():
    progress = Progress(None, clock=Clock())
    assert type(progress.arm().composition("clean", 24)).__name__ == "_NoComposition"
    progress.begin_spec("spec", "test_x", total=10, bounded=True)
    handle = progress.arm().composition("clean", 24)
    handle.advance(24)
    assert progress.current.total is None and progress.current.fraction is None


def test_line_display_prints_throttled_lines_and_a_last_line_only_for_a_spec_that_showed_any():
    clock, lines = Clock(), []
    progress = _spec(clock, LineDisplay(lines.append, Throttle(first=1, every=1, step=0.1, at_most=6)))
    handle = progress.arm().composition("clean", 24)
    for _ in range(6):  # one batch every 0.25 s: at most one line a second
        clock.now += 0.25
        handle.advance(4)
    handle.close()
    progress.end_spec()
    assert len(lines) == 2
    assert lines[0].startswith("medrobust: slow.robust.yaml: 16/120 answers (13 %), 16 answers/s, ETA 00:06; "
                               "composition 1/4 clean: 16/24")
    assert lines[1] == "medrobust: slow.robust.yaml: done, 24 answers in 1 composition, 00:01 (16 answers/s)"
    quiet: list[str] = []
    progress = _spec(clock, LineDisplay(quiet.append, Throttle(first=10)))
    progress.arm().composition("clean", 24).advance(24)
    progress.end_spec()
    assert quiet == []  # a short spec prints nothing


def test_formatters_show_counts_bounds_and_journal_hits():
    s = Snapshot("test_mild", answers=2640, total=25000, bounded=True, asked=2430, journal=210, seconds=75,
                 compositions=3, compositions_total=25, composition="gaussian_noise@2", composition_answers=640,
                 composition_total=1000, composition_journal=10)
    assert format_line(s) == ("medrobust: test_mild: 2,640 of at most 25,000 answers (11 %), 32.4 answers/s, "
                              "ETA 11:30 at most, 210 from the journal; composition 3/25 gaussian_noise@2: "
                              "640/1,000, 10 from the journal")
    assert format_done(s) == ("medrobust: test_mild: done, 2,640 answers in 3 compositions, 01:15 "
                              "(32.4 answers/s), 210 from the journal")
    waiting = Snapshot("test_x", answers=0, total=None, composition="clean", composition_total=8, compositions=1)
    assert format_line(waiting) == ("medrobust: test_x: 0 answers, no answer from the model yet; "
                                    "composition 1 clean: 0/8")
    for width in (60, 80, 120, 200):
        bar = format_bar(s, width)
        assert len(bar) <= width and "2640/25000" in bar and "11%" in bar and "\r" not in bar
    assert "█" not in format_bar(s, 100, ascii=True)
    assert "2640 answers" in format_bar(Snapshot("t", answers=2640, asked=10, seconds=1.0), 120)


def test_bar_display_waits_its_delay_redraws_at_most_every_refresh_and_erases():
    drawn, erased = [], []
    display = BarDisplay(drawn.append, lambda: erased.append(1), lambda: 100, delay=1.0, refresh=0.2)
    s = Snapshot("t", answers=1, total=10, composition="clean", composition_total=10)
    display.start(0.0)
    display.show(s, 0.5)
    assert drawn == [] and (display.clear() or erased == [])  # nothing drawn, nothing to erase
    display.show(s, 1.0)
    display.show(s, 1.1)
    display.show(s, 1.3)
    assert len(drawn) == 2 and all(len(d) <= 99 for d in drawn)
    display.finish(s)
    assert erased == [1]


def test_log_display_formats_nothing_when_nobody_listens(caplog):
    display = LogDisplay(Throttle(first=0, every=0))
    s = Snapshot("t", answers=1, total=10)
    display.start(0.0)
    with caplog.at_level(logging.WARNING, logger="medrobust"):
        display.show(s, 1.0)
    assert display.throttle.lines == 0 and not caplog.records
    with caplog.at_level(logging.INFO, logger="medrobust"):
        display.show(s, 2.0)
    assert [r.name for r in caplog.records] == ["medrobust.progress"]
    assert caplog.records[0].getMessage().startswith("t: 1/10 answers")


def test_a_long_model_call_moves_the_clock_and_keeps_its_time_limit():
    import time

    from medrobust.errors import ModelUnavailable
    from medrobust.run.model_calls import ModelCalls

    calls, ticks = ModelCalls(), []
    calls.heartbeat, calls.on_wait = 0.02, lambda: ticks.append(1)
    assert calls.call(lambda batch: time.sleep(0.2) or ["yes"] * len(batch), [1]) == ["yes"]
    assert len(ticks) >= 3
    limited = ModelCalls(timeout=0.05)
    limited.heartbeat, limited.on_wait = 0.01, lambda: 1 / 0  # a display that breaks does not break the call
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="timed out after 0.05 s"):
        limited.call(lambda batch: time.sleep(0.5), [1])
    assert time.monotonic() - started < 0.4


def test_while_the_model_is_in_a_call_the_lines_still_come_once_a_minute():
    clock, lines = Clock(), []
    progress = _spec(clock, LineDisplay(lines.append, Throttle(first=10, every=10, step=0.1, at_most=60)))
    progress.arm().composition("clean", 24)
    for _ in range(130):  # a first batch that takes over two minutes
        clock.now += 1.0
        progress.tick()
    assert len(lines) == 3 and all("no answer from the model yet; composition 1/4 clean: 0/24" in x for x in lines)
    progress.end_spec()
    assert lines[-1] == "medrobust: slow.robust.yaml: done, 0 answers in 1 composition, 02:10"


def _screen(raw: str) -> list[str]:
    """What a terminal shows after ``raw``: carriage return, newline, erase to the line's end, cursor up and
    to a column; colours dropped."""
    lines: list[list[str]] = [[]]
    row = col = 0
    for token in re.findall(r"\x1b\[[0-9;]*[A-Za-z]|[\s\S]", raw):
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
            while len(lines) <= row:
                lines.append([])
        elif token.startswith("\x1b["):
            code, arg = token[-1], token[2:-1]
            if code == "K":
                del lines[row][col:]
            elif code == "A":
                row = max(0, row - int(arg or 1))
            elif code == "G":
                col = int(arg or 1) - 1
        else:
            line = lines[row]
            line.extend(" " * (col + 1 - len(line)))
            line[col] = token
            col += 1
    return ["".join(line).rstrip() for line in lines]


def test_on_a_terminal_a_bar_shows_under_pytests_line_and_leaves_it_whole(slow, monkeypatch):
    import os
    import subprocess
    import sys

    pty = pytest.importorskip("pty")
    monkeypatch.setenv("SLOW_SECONDS", "0.015")  # 120 answers: about 2 s, past the bar's first second
    monkeypatch.setenv("COLUMNS", "110")
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "pytest", *ARGS, "-p", "no:xdist"], cwd=slow.path,
                               stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=60) == 0
    raw = b"".join(chunks).decode("utf-8", "replace")
    bars = re.findall(r"slow\.robust\.yaml \[\d/5 \S+ \d+/24\] +\d+%\|[^|]*\| \d+/120 \[[\d:]+<[\d:]+, [\d.]+ answers/s\]",
                      raw)
    assert bars, raw
    assert "medrobust: slow.robust.yaml:" not in raw  # the bar, not the plain lines
    screen = _screen(raw)
    assert any(re.fullmatch(r"slow\.robust\.yaml \.\.\.\. +\[100%\]", line) for line in screen), screen
    assert not any("answers/s" in line for line in screen), screen
    erased = re.findall(r"\n\r\x1b\[K\x1b\[A\x1b\[\d+G(?:\x1b\[\d*m)*\.", raw)  # erased, then the outcome
    assert len(erased) >= 2, raw


def test_medrobust_evaluate_shows_progress_on_stderr_and_keeps_stdout_for_the_result(slow, monkeypatch):
    import subprocess
    import sys

    command = [sys.executable, "-m", "medrobust.cli", "evaluate", "--plugin", "conftest.py", "--model", "slow",
               "--dataset", "toy", "--composition", "gaussian_noise@1", "--batch-size", "4", "--journal", "none",
               "--json"]
    done = subprocess.run(command, cwd=slow.path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    import json

    assert json.loads(done.stdout)["metrics"]  # stdout is the JSON alone
    assert re.search(r"^medrobust: evaluate gaussian_noise@1: \d+/48 answers \(\d+ %\), .*composition \d/2 ",
                     done.stderr, re.M), done.stderr
    assert "medrobust: evaluate gaussian_noise@1: done, 48 answers in 2 compositions" in done.stderr
