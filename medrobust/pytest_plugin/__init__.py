"""The pytest side of medrobust: options, the ``bench`` fixture, YAML specs, records, the certificate.

Each hook only connects pytest to the core run (:mod:`medrobust.run`): options
come from the run-option table, the run context lives in ``config.stash``, the
judgement is made once when the session finishes, and the certificate is
written there, the only place the core hands over to :mod:`medrobust.certificate`.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from ..errors import MedrobustError, RobustnessFailure
from ._interrupts import HeldInterrupts
from ._stash import is_active, run_context, run_key
from .junit import record_conclusion, record_verdict
from .markers import mark_spec, register_markers, strategy_noises
from .profiles import register_profiles
from .xdist import FACTS_KEY, SPEC_PROPERTY, XdistController

__all__ = ["run_context"]

register_profiles()

_controller_key = pytest.StashKey[XdistController]()
_share_key = pytest.StashKey[Optional[Path]]()
_judgement_key = pytest.StashKey[Any]()
_collected_key = pytest.StashKey[list[str]]()
_deselected_key = pytest.StashKey[list[str]]()
_fail_on_key = pytest.StashKey[tuple[str, ...]]()

FAIL_ON_CHOICES = ("error", "not-valid", "fail", "partial", "inconclusive", "not-run")
"""Verdicts ``--fail-on`` can name (lower case, hyphenated)."""
DEFAULT_FAIL_ON = "error,not-valid,fail"


def pytest_addoption(parser: pytest.Parser) -> None:
    from ..run.options import add_pytest_options

    group = parser.getgroup("medrobust", "medrobust robustness specs (each option also as an environment "
                                         "variable MEDROBUST_* and an ini key medrobust_*; command line > "
                                         "environment > ini > default)")
    add_pytest_options(group, parser)
    group.addoption("--fail-on", default=None, metavar="VERDICTS",
                    help=f"comma-separated verdicts that make pytest exit 1 even when every spec passed on its "
                         f"point estimate: {', '.join(FAIL_ON_CHOICES)} (default: {DEFAULT_FAIL_ON}); CI gating "
                         f"on the certificate: {DEFAULT_FAIL_ON},partial [env MEDROBUST_FAIL_ON, ini "
                         f"medrobust_fail_on]")
    parser.addini("medrobust_fail_on", f"--fail-on: verdicts that fail the session (default: {DEFAULT_FAIL_ON})",
                  default=None)


def _fail_on(config: pytest.Config) -> tuple[str, ...]:
    from ..run.options import env_or_ini

    text = config.getoption("--fail-on") or env_or_ini(config, "MEDROBUST_FAIL_ON", "medrobust_fail_on")[1] \
        or DEFAULT_FAIL_ON
    chosen = tuple(word.strip().lower() for word in str(text).split(",") if word.strip())
    unknown = [w for w in chosen if w not in FAIL_ON_CHOICES]
    if unknown:
        raise pytest.UsageError(f"--fail-on: unknown verdict(s) {', '.join(unknown)}; choose from "
                                f"{', '.join(FAIL_ON_CHOICES)}, e.g. --fail-on={DEFAULT_FAIL_ON},partial")
    return chosen


def _medrobust_plugins_in(config: pytest.Config) -> list[Any]:
    """conftest modules and -p plugins that implement medrobust hooks."""
    found = []
    for plugin in config.pluginmanager.get_plugins():
        if any(name.startswith("medrobust_register_") for name in dir(plugin)):
            if getattr(plugin, "__name__", "") not in ("medrobust.builtins",) and plugin is not sys.modules[__name__]:
                found.append(plugin)
    return found


_frozen = False


def _freeze_start_up_objects() -> None:
    """Leave the objects alive after start-up (modules, torch's and the plugins' own) out of every later
    garbage collection: they live until exit, and traversing them made each full collection of a run
    (pytest's at unconfigure, hypothesis', the interpreter's at exit) cost 0.1-0.3 s. Once per process,
    after a collection, so that no garbage is kept (an object still frees when its last reference goes)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    from ..run.context import RunContext
    from ..run.options import OPTIONS, option_source, options_from_pytest
    from ..run.outputs import check_certificate_path
    from ..run.plugins import activate, load_plugins

    try:
        host = load_plugins(extra=_medrobust_plugins_in(config))
        _freeze_start_up_objects()
        ctx = RunContext(options_from_pytest(config), host)
        ctx.validate_names()
        given = option_source(config, next(o for o in OPTIONS if o.flag == "--certificate"))[0] != "default"
        if given and not hasattr(config, "workerinput"):
            check_certificate_path(ctx.options.certificate)  # given: checked now; the default: once specs are found
    except (MedrobustError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[run_key] = ctx
    config.stash[_fail_on_key] = _fail_on(config)
    config.stash[_collected_key] = []
    config.stash[_deselected_key] = []
    activate(host)
    register_markers(config, host.noises)
    from .fail_early import FailEarly

    config.pluginmanager.register(FailEarly(ctx, _is_spec), "medrobust-fail-early")
    if not config.pluginmanager.is_blocked("medrobust-progress"):  # -p no:medrobust-progress: no display
        from .progress import ProgressPlugin

        config.pluginmanager.register(ProgressPlugin(config, ctx, _is_spec), "medrobust-progress")
    if not hasattr(config, "workerinput"):
        controller = XdistController(ctx)
        config.stash[_controller_key] = controller
        config.pluginmanager.register(controller, "medrobust-xdist-controller")
    else:
        from ..run.worker_share import share_path

        config.stash[_share_key] = share_path(config.workerinput["testrunuid"], "evidence")


def pytest_unconfigure(config: pytest.Config) -> None:
    from ..run.plugins import deactivate

    if is_active(config):
        deactivate()


def pytest_report_header(config: pytest.Config) -> Optional[list[str]]:
    """The sealed protocol's hash, before any spec runs."""
    if not is_active(config) or run_context(config).protocol is None:
        return None
    protocol = run_context(config).protocol
    return [f"medrobust protocol: {protocol.path} v{protocol.version}, sha256 {protocol.sha256}"]


@pytest.fixture(scope="session")
def medrobust_run(pytestconfig: pytest.Config) -> Any:
    """The session's run context (options, plugins, records)."""
    return run_context(pytestconfig)


@pytest.fixture(scope="session")
def bench(medrobust_run: Any) -> Any:
    """Evaluate the model under a noise composition and assert thresholds: ``bench.expect(...)``."""
    from ..run.checks import Bench

    return Bench(medrobust_run)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    if file_path.name.endswith(".robust.yaml"):
        from .yaml_items import RobustYamlFile

        return RobustYamlFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """The default certificate path is checked once specs are collected (and only then), before any runs;
    a ``--certificate`` given on the command line was checked when the session started."""
    config = session.config
    if not is_active(config) or hasattr(config, "workerinput") or not any(_is_spec(i) for i in session.items):
        return
    from ..run.outputs import check_certificate_path

    try:
        check_certificate_path(run_context(config).options.certificate)
    except MedrobustError as exc:
        raise pytest.UsageError(str(exc)) from None


def _is_spec(item: pytest.Item) -> bool:
    return getattr(item, "medrobust_spec", False) or "bench" in getattr(item, "fixturenames", ())


def pytest_itemcollected(item: pytest.Item) -> None:
    """Every spec collected, before ``-k``, ``-m``, ``--lf`` or ``--deselect`` take any away."""
    if is_active(item.config) and _is_spec(item):
        item.config.stash[_collected_key].append(item.nodeid)
        if not getattr(item, "medrobust_spec", False):  # a YAML item is marked by its collector
            mark_spec(item, strategy_noises(item), run_context(item.config).host.noises)


def pytest_deselected(items: list[pytest.Item]) -> None:
    """The specs taken away from the run."""
    for item in items:
        if is_active(item.config) and _is_spec(item):
            item.config.stash[_deselected_key].append(item.nodeid)


_SELECTION = (("-k", "keyword"), ("-m", "markexpr"), ("--lf", "lf"), ("--ff", "failedfirst"),
              ("--sw", "stepwise"), ("--deselect", "deselect"), ("--maxfail", "maxfail"))


def _selection(config: pytest.Config) -> dict[str, Any]:
    """The options that shaped which specs ran, as given (only those set)."""
    out: dict[str, Any] = {}
    for flag, dest in _SELECTION:
        value = getattr(config.option, dest, None)
        if value and not (flag == "--maxfail" and value == 0):
            out[flag] = value if not isinstance(value, (list, tuple)) else list(value)
    if out.get("--maxfail") == 1:
        del out["--maxfail"]
        out["-x"] = True
    return out


def _interrupted(session: pytest.Session, exitstatus: int) -> Optional[str]:
    for reason in (session.shouldfail, session.shouldstop):  # a stated reason first (-x, a broken model)
        if reason:
            return str(reason)
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted (Ctrl-C or a fatal error)"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Optional[pytest.Item]) -> None:
    """Tell the run which compositions this spec and the next will answer, where a declarative spec
    states them, so that their first inputs are prepared while the model answers (returns None: the
    run goes on as usual)."""
    if is_active(item.config) and _is_spec(item):
        declared = [i.composition for i in (item, nextitem)  # type: ignore[attr-defined]
                    if getattr(i, "medrobust_spec", False) and not getattr(i, "refusal", None)]
        run_context(item.config).plan(declared)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _is_spec(item):
        kind = "yaml" if getattr(item, "medrobust_spec", False) else "python"
        run_context(item.config).begin_spec(item.nodeid, item.name, kind)


def _outcome(report: pytest.TestReport, exc: Optional[BaseException]) -> tuple[str, str]:
    """The spec's outcome and message from pytest's report of its setup or call."""
    if hasattr(report, "wasxfail") and report.skipped:
        return "xfailed", str(exc) if exc is not None else ""
    if report.passed:
        return "passed", ""
    if report.skipped:
        return "skipped", str(exc) if exc is not None else ""
    if isinstance(exc, RobustnessFailure):
        return ("failed" if report.when == "call" else "error"), str(exc)
    if exc is not None:
        return ("failed" if isinstance(exc, AssertionError) else "error"), f"{type(exc).__name__}: {exc}"
    return ("failed" if report.when == "call" else "error"), ""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if not _is_spec(item):
        return report
    record = run_context(item.config).specs.get(item.nodeid)
    if record is None:
        return report
    if report.when == "call" or (report.when == "setup" and not report.passed):
        record.outcome, record.message = _outcome(report, call.excinfo.value if call.excinfo else None)
        record_conclusion(item, record)  # --junitxml: the interval's conclusion beside the outcome
        if hasattr(item.config, "workerinput"):  # under xdist: the controller writes the certificate
            report.user_properties.append((SPEC_PROPERTY, record.to_json()))
    return report


@pytest.hookimpl(tryfirst=True)  # before junitxml writes its file: the verdict goes into it
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Workers send their facts; the controller judges the run once, writes the certificate and sets the
    exit status from the verdict (``--fail-on``)."""
    config = session.config
    if not is_active(config):
        return
    from ..run.completeness import run_scope
    from ..run.facts import local_facts, run_facts
    from ..run.judgement import judge
    from ..run.model_calls import INTERRUPTED
    from ..run.validity import assess_validity

    ctx = run_context(config)
    if exitstatus == pytest.ExitCode.INTERRUPTED:  # Ctrl-C: the model is not asked again (no evidence probes)
        ctx.model_calls.close()
    if hasattr(config, "workerinput"):
        share = config.stash.get(_share_key, None)
        if ctx.model_calls.interrupted:  # no probes to share, and the controller may never clean up the file
            share = None
        facts = local_facts(ctx, share)
        if share is not None:
            facts["evidence_share"] = [str(share), str(share.with_suffix(".lock"))]
        facts["collection"] = {"collected": config.stash[_collected_key],
                               "deselected": config.stash[_deselected_key]}
        config.workeroutput[FACTS_KEY] = facts  # type: ignore[attr-defined]
        return
    remotes = config.stash[_controller_key].remote_facts
    for remote in remotes:  # the workers' shared evidence file has served its purpose
        for leftover in remote.get("evidence_share") or ():
            Path(leftover).unlink(missing_ok=True)
    collected = set(config.stash[_collected_key])
    deselected = set(config.stash[_deselected_key])
    for remote in remotes:
        collected.update((remote.get("collection") or {}).get("collected", ()))
        deselected.update((remote.get("collection") or {}).get("deselected", ()))
    if not ctx.specs and not collected:
        return
    if exitstatus == pytest.ExitCode.USAGE_ERROR or config.option.collectonly:  # nothing ran: the last
        return  # certificate stays (stopped at start-up, or --collect-only)
    with HeldInterrupts(ctx.model_calls) as held:  # Ctrl-C from here on: a PARTIAL certificate, still written
        facts = run_facts(ctx, remotes)
        interrupted = _interrupted(session, exitstatus)
        skipped = sorted(name for name, why in (facts.evidence.get("probe_errors") or {}).items()
                         if why == f"skipped: {INTERRUPTED}")
        if interrupted is None and skipped:
            interrupted = f"interrupted (Ctrl-C) during the evidence probes; not gathered: {', '.join(skipped)}"
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        validity = assess_validity(ctx.specs, ctx.protocol.validity if ctx.protocol else None,
                                   facts.evidence.get("shortcuts"), facts.sample_errors, facts.answers)
        scope = run_scope(collected, deselected, ctx.specs, interrupted, _selection(config))
        judgement = judge(ctx.specs, ctx.protocol, validity, scope)
        config.stash[_judgement_key] = judgement
        if judgement.verdict.lower().replace(" ", "-") in config.stash[_fail_on_key] and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if not ctx.options.certificate:
            record_verdict(config, judgement)
            return
        from ..certificate import write_certificate

        with held.writing():
            try:
                paths = write_certificate(ctx.options, judgement, facts, ctx.options.certificate)
            except OSError as exc:  # a full disk, a folder changed under the run: the old certificate stays whole
                paths = None
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
                message = (f"medrobust: the certificate {ctx.options.certificate} could not be written: "
                           f"{exc.strerror or exc} ({getattr(exc, 'filename', None) or 'its folder'}); "
                           f"nothing was replaced, a previous certificate there is unchanged")
    record_verdict(config, judgement, paths)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        if paths is None:
            reporter.write_line(message, red=True)
        else:
            reporter.write_sep("-", f"medrobust certificate: {paths[0]} and {paths[1]}")
    elif paths is None:
        print(message, file=sys.stderr)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Deviations from the sealed protocol, and the verdict with uncertainty, as judged at session end."""
    judgement = config.stash.get(_judgement_key, None)
    if judgement is None:
        return
    if judgement.protocol is None:
        terminalreporter.write_line("medrobust protocol: none; the thresholds are the specs' own placeholders, "
                                    "not clinical claims (--protocol PATH seals justified criteria)")
    if judgement.deviations:
        terminalreporter.write_sep("-", f"medrobust: {len(judgement.deviations)} deviation(s) from protocol "
                                        f"{judgement.protocol.sha256[:12]}", yellow=True)
        for d in judgement.deviations:
            terminalreporter.write_line(f"DEVIATION {d['spec']} [{d['composition_key']}]: {d['message']}")
    disagree = judgement.disagreements()
    if disagree:
        terminalreporter.write_line(f"medrobust: {len(disagree)} spec(s) where pytest's point-estimate outcome and "
                                    f"the 95 % interval's conclusion differ (the verdict follows the conclusion):")
        for nodeid, outcome, conclusion in disagree[:10]:
            terminalreporter.write_line(f"  {nodeid}: pytest {outcome}, conclusion {conclusion or 'none'}")
    terminalreporter.write_line(judgement.summary_line())
    token = judgement.verdict.lower().replace(" ", "-")
    if token in config.stash[_fail_on_key]:
        terminalreporter.write_line(f"medrobust: the session fails because the verdict {judgement.verdict} is in "
                                    f"--fail-on ({','.join(config.stash[_fail_on_key])})", red=True)
