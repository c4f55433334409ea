"""The pytest side of medrobust: options, the ``bench`` fixture, YAML specs, the certificate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from .hypothesis_profiles import register_profiles
from .registry import PluginError

run_key = pytest.StashKey["Any"]()

register_profiles()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("medrobust", "medrobust robustness specs")
    group.addoption("--model", default="reference", help="registered model to test (default: reference)")
    group.addoption("--model-path", default=None, help="local path of the model's weights")
    group.addoption("--model-option", action="append", default=[], metavar="KEY=VALUE",
                    help="option passed to the model factory (repeatable)")
    group.addoption("--calibrator", default="none", help="registered calibrator (default: none)")
    group.addoption("--calibrator-option", action="append", default=[], metavar="KEY=VALUE",
                    help="option passed to the calibrator factory (repeatable)")
    group.addoption("--dataset", default="phantom-vqa", metavar="NAME[:PATH]",
                    help="registered dataset, with a local path if it needs one (default: phantom-vqa)")
    group.addoption("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                    help="option passed to the dataset factory, e.g. lang=all (repeatable)")
    group.addoption("--samples", type=int, default=None, metavar="N",
                    help="evaluate on a seeded subset of N test samples (default: the whole split)")
    group.addoption("--seed", type=int, default=0, help="run seed; every noise seed derives from it")
    group.addoption("--certificate", default="reports/certificate", metavar="PATH",
                    help="write PATH.json and PATH.html (default: reports/certificate; 'none' to skip)")
    group.addoption("--device", default="cpu", help="device for the model (cpu, cuda, cuda:1...)")
    group.addoption("--batch-size", type=int, default=64, help="samples per model call (default: 64)")
    group.addoption("--journal", default=".medrobust/journal.sqlite", metavar="PATH",
                    help="answer journal shared by re-runs and xdist workers ('none' to disable; "
                         "default: .medrobust/journal.sqlite)")
    group.addoption("--severity-scale", choices=("declared", "calibrated"), default="declared",
                    help="severity levels as each noise's declared table, or calibrated to target SSIM / "
                         "edit similarity on the reference split (default: declared)")
    group.addoption("--protocol", default=None, metavar="PATH",
                    help="pre-registered test protocol (YAML): criteria with clinical justifications, "
                         "hashed before the run; checks whose thresholds differ are flagged as deviations")


def _options(config: pytest.Config) -> Any:
    from .session import RunOptions, parse_dataset, parse_key_values

    dataset, dataset_path = parse_dataset(config.getoption("--dataset"))
    samples = config.getoption("--samples")
    if samples is not None and samples < 1:
        raise pytest.UsageError(f"--samples must be at least 1, got {samples}")
    certificate = config.getoption("--certificate")
    try:
        return RunOptions(
            model=config.getoption("--model"), model_path=config.getoption("--model-path"),
            model_options=parse_key_values(config.getoption("--model-option"), "--model-option"),
            calibrator=config.getoption("--calibrator"),
            calibrator_options=parse_key_values(config.getoption("--calibrator-option"),
                                                "--calibrator-option"),
            dataset=dataset, dataset_path=dataset_path,
            dataset_options=parse_key_values(config.getoption("--dataset-option"), "--dataset-option"),
            samples=samples, seed=config.getoption("--seed"),
            certificate=None if certificate in ("none", "") else certificate,
            device=config.getoption("--device"), batch_size=config.getoption("--batch-size"),
            severity_scale=config.getoption("--severity-scale"),
            journal=None if config.getoption("--journal") in ("none", "") else config.getoption("--journal"),
            protocol=config.getoption("--protocol") or None)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _medrobust_plugins_in(config: pytest.Config) -> list[Any]:
    """conftest modules and -p plugins that implement medrobust hooks."""
    found = []
    for plugin in config.pluginmanager.get_plugins():
        if any(name.startswith("medrobust_register_") for name in dir(plugin)):
            if getattr(plugin, "__name__", "") not in ("medrobust.builtins",) and plugin is not sys.modules[__name__]:
                found.append(plugin)
    return found


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    from .manager import activate, load_plugins
    from .protocol import ProtocolError
    from .session import RunContext

    try:
        host = load_plugins(extra=_medrobust_plugins_in(config))
        ctx = RunContext(_options(config), host)
        ctx.validate_names()
    except (PluginError, ProtocolError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[run_key] = ctx
    activate(host)
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_XdistController(ctx), "medrobust-xdist-controller")
    else:
        from .worker_share import share_path

        ctx.evidence_share = share_path(config.workerinput["testrunuid"], "evidence")


def pytest_unconfigure(config: pytest.Config) -> None:
    from .manager import deactivate

    if run_key in config.stash:
        deactivate()


def pytest_report_header(config: pytest.Config) -> Optional[list[str]]:
    """The sealed protocol's hash, before any spec runs."""
    if run_key not in config.stash or run_context(config).protocol is None:
        return None
    protocol = run_context(config).protocol
    return [f"medrobust protocol: {protocol.path} v{protocol.version}, sha256 {protocol.sha256}"]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Deviations from the sealed protocol, and the verdict with uncertainty."""
    if run_key not in config.stash or hasattr(config, "workerinput"):
        return
    from .certificate.evidence import deviations, overall_verdict

    ctx = run_context(config)
    if not ctx.specs:
        return
    if ctx.protocol is None:
        terminalreporter.write_line("medrobust protocol: none; the thresholds are the specs' own placeholders, "
                                    "not clinical claims (--protocol PATH seals justified criteria)")
    found = deviations(ctx)
    if found:
        terminalreporter.write_sep("-", f"medrobust: {len(found)} deviation(s) from protocol "
                                        f"{ctx.protocol.sha256[:12]}", yellow=True)
        for d in found:
            terminalreporter.write_line(f"DEVIATION {d['spec']} [{d['composition_key']}]: {d['message']}")
    verdict, counts = overall_verdict(ctx)
    terminalreporter.write_line(f"medrobust verdict with 95% intervals: {verdict} ({counts['pass']} checks pass, "
                                f"{counts['fail']} fail, {counts['inconclusive']} inconclusive)")


def run_context(config: pytest.Config) -> Any:
    """The session's :class:`~medrobust.session.RunContext`."""
    return config.stash[run_key]


@pytest.fixture(scope="session")
def medrobust_run(pytestconfig: pytest.Config) -> Any:
    """The session's run context (options, plugins, records)."""
    return run_context(pytestconfig)


@pytest.fixture(scope="session")
def bench(medrobust_run: Any) -> Any:
    """Evaluate the model under a noise composition and assert thresholds: ``bench.expect(...)``."""
    from .bench import Bench

    return Bench(medrobust_run)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    if file_path.name.endswith(".robust.yaml"):
        from .yaml_items import RobustYamlFile

        return RobustYamlFile.from_parent(parent, path=file_path)
    return None


def _is_spec(item: pytest.Item) -> bool:
    return getattr(item, "medrobust_spec", False) or "bench" in getattr(item, "fixturenames", ())


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _is_spec(item):
        kind = "yaml" if getattr(item, "medrobust_spec", False) else "python"
        run_context(item.config).begin_spec(item.nodeid, item.name, kind)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if not _is_spec(item):
        return report
    record = run_context(item.config).specs.get(item.nodeid)
    if record is None:
        return report
    if report.when == "call" or (report.when == "setup" and not report.passed):
        exc = call.excinfo.value if call.excinfo else None
        if hasattr(report, "wasxfail") and report.skipped:
            record.outcome = "xfailed"
            record.message = str(exc) if exc is not None else ""
        elif report.passed:
            record.outcome = "passed"
        elif report.skipped:
            record.outcome = "skipped"
            record.message = str(call.excinfo.value) if call.excinfo else ""
        else:
            record.outcome = "failed" if report.when == "call" else "error"
            from .bench import RobustnessFailure

            if isinstance(exc, RobustnessFailure):
                record.message = str(exc)
            elif exc is not None:
                record.outcome = "error" if not isinstance(exc, AssertionError) else "failed"
                record.message = f"{type(exc).__name__}: {exc}"
        if hasattr(item.config, "workerinput"):  # under xdist: the controller writes the certificate
            report.user_properties.append((_SPEC_PROPERTY, record.to_json()))
    return report


_SPEC_PROPERTY = "medrobust_spec"
_FACTS_KEY = "medrobust_facts"


class _XdistController:
    """Registered on the controller of a run: gathers what xdist workers send."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect the spec records the workers attached to their reports."""
        from .session import SpecRecord

        for name, value in getattr(report, "user_properties", ()):
            if name == _SPEC_PROPERTY and isinstance(value, dict):
                self.ctx.specs[value["nodeid"]] = SpecRecord.from_json(value)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Receive what a worker learnt about the model and the data."""
        facts = getattr(node, "workeroutput", {}).get(_FACTS_KEY)
        if facts:
            self.ctx.remote_facts.append(facts)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if run_key not in config.stash:
        return
    ctx = run_context(config)
    if hasattr(config, "workerinput"):
        facts = ctx.facts()
        if ctx.evidence_share is not None:
            share = ctx.evidence_share
            facts["evidence_share"] = [str(share), str(share.with_suffix(".lock"))]
        config.workeroutput[_FACTS_KEY] = facts  # type: ignore[attr-defined]
        return
    for remote in ctx.remote_facts:  # the workers' shared evidence file has served its purpose
        for leftover in remote.get("evidence_share") or ():
            Path(leftover).unlink(missing_ok=True)
    if not ctx.specs or not ctx.options.certificate:
        return
    from .certificate import write_certificate

    paths = write_certificate(ctx, ctx.options.certificate)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("-", f"medrobust certificate: {paths[0]} and {paths[1]}")
