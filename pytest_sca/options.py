"""The ``--sca-…`` command-line options: one group, typed parsers, clear usage errors."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from . import providers
from .reporting import baseline
from .runstate import Options, ScaRun
from .settings import Capabilities
from .target import Target, TargetFileError, load_target

DEFAULT_JSON = Path("reports") / "sca-report.json"
SANDBOX = "sandbox"
FAIL_ON = ("nonconformance", "regression")
#: Exit status of a run whose preflight found no usable adapter (pytest's own codes are 0–5).
EXIT_UNUSABLE = 6


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("sca", "pytest-sca: conformance evaluation of AI cloud platforms")
    group.addoption("--sca-target", metavar="FILE|sandbox", default=None,
                    help="evaluate the platform a target file describes, or `sandbox` for the "
                    "embedded reference platform; runs the shipped suites unless paths are given")
    group.addoption("--sca-json", metavar="PATH", default=None,
                    help=f"write the JSON report here (default {DEFAULT_JSON})")
    group.addoption("--sca-html", metavar="PATH", default=None,
                    help="also write a self-contained HTML report here")
    group.addoption("--sca-baseline", metavar="PATH", default=None,
                    help="compare with the JSON report of an earlier run of the same target "
                    "and edition: changed verdicts (regressions first), measurement drift, "
                    "items missing from this run")
    group.addoption("--sca-fail-on", metavar="WHAT", default="nonconformance",
                    choices=FAIL_ON,
                    help="exit 1 on `nonconformance` (default: an in-scope shall item does "
                    "not conform) or only on a `regression` since --sca-baseline (an item that "
                    "conformed there and does not now, or a new item that does not conform)")
    group.addoption("--sca-preflight", metavar="on|off", default="on", choices=("on", "off"),
                    help="check every adapter (reachability, TLS, credentials) before the "
                    f"first check; when none is usable the run ends with exit {EXIT_UNUSABLE} "
                    "(default on; `python -m pytest_sca doctor` runs it alone)")
    group.addoption("--sca-list", action="store_true", default=False,
                    help="list the catalogue: level, source and the checks that cover each item")
    group.addoption("--sca-readonly", action="store_true", default=False,
                    help="run only checks that change nothing; mutating ones are not_assessed")
    group.addoption("--sca-disruptive", action="store_true", default=False,
                    help="also run disruptive checks (kill workers, take links down, scale)")
    group.addoption("--sca-sandbox-fault", metavar="NAME", action="append", default=[],
                    help="start the sandbox with this behavioural fault (repeatable); "
                    "`python -m pytest_sca.sandbox faults` lists them")
    group.addoption("--sca-catalog", metavar="PATH", default=None,
                    help="use another catalogue file of the standard (e.g. the final text)")
    group.addoption("--sca-grading", metavar="PATH", default=None,
                    help="use another grading scheme file")
    group.addoption("--sca-run-id", metavar="ID", default=None,
                    help="label what the run creates with this id (default: generated)")


def _existing_file(config: pytest.Config, option: str) -> Path | None:
    value = config.getoption(option.lstrip("-").replace("-", "_"))
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise pytest.UsageError(f"{option}={value}: no such file: give the path of a YAML file")
    return path


def parse(config: pytest.Config) -> Options:
    """Read and check the options; a wrong value is a one-line ``UsageError``."""
    run_id = config.getoption("sca_run_id")
    if run_id is not None and not run_id.replace("-", "").isalnum():
        raise pytest.UsageError(f"--sca-run-id={run_id}: use letters, digits and '-' only "
                                "(it becomes part of resource names)")
    json_option = config.getoption("sca_json")
    faults = tuple(config.getoption("sca_sandbox_fault") or ())
    target = config.getoption("sca_target")
    baseline_path = _existing_file(config, "--sca-baseline")
    if baseline_path is not None:
        try:
            baseline.load(baseline_path)
        except baseline.BaselineError as exc:
            raise pytest.UsageError(f"--sca-baseline: {exc}") from None
    if faults and target != SANDBOX:
        raise pytest.UsageError("--sca-sandbox-fault needs --sca-target=sandbox")
    fail_on = config.getoption("sca_fail_on")
    if fail_on == "regression" and baseline_path is None:
        raise pytest.UsageError("--sca-fail-on=regression needs --sca-baseline=EARLIER.json: "
                                "new failures are counted against an earlier run's report")
    return Options(
        target=target,
        json_path=Path(json_option) if json_option else DEFAULT_JSON,
        readonly=config.getoption("sca_readonly"),
        disruptive=config.getoption("sca_disruptive"),
        listing=config.getoption("sca_list"),
        sandbox_faults=faults,
        catalog_path=_existing_file(config, "--sca-catalog"),
        grading_path=_existing_file(config, "--sca-grading"),
        run_id=run_id,
        html_path=Path(config.getoption("sca_html")) if config.getoption("sca_html") else None,
        baseline_path=baseline_path,
        fail_on=fail_on,
        preflight=config.getoption("sca_preflight") == "on",
    )


def check_baseline(opts: Options, edition: str) -> None:
    """A baseline of another edition of the standard is refused (its ids mean other things)."""
    if opts.baseline_path is None:
        return
    try:
        baseline.check_edition(baseline.load(opts.baseline_path), opts.baseline_path, edition)
    except baseline.BaselineError as exc:
        raise pytest.UsageError(f"--sca-baseline: {exc}") from None


#: Options under which pytest only inspects: nothing is started and no report is written.
_INSPECTING = ("collectonly", "markers", "showfixtures", "show_fixtures_per_test", "setupplan",
               "help")
#: Workers a sandbox evaluation's checks run on when the command line does not say (``-n``).
#: On 2 cores in a ``.[sandbox]`` venv, 2026-11-30: one after another 64-66 s, ``-n 4``
#: 38-40 s (``-n 2`` 58 s and ``-n 3`` 55 s the night before, on a busier machine, against
#: 52-54 s for ``-n 4``). Only the sandbox gets a default: it exists for the run, while a
#: real platform's evaluator chooses the load the run puts on it.
SANDBOX_WORKERS = 4


def is_dry(config: pytest.Config) -> bool:
    """Whether pytest only inspects (``--collect-only``, ``--markers``, ``--fixtures``,
    ``--fixtures-per-test``, ``--setup-plan``, ``--help``): then nothing is started and no
    report is written."""
    return any(bool(getattr(config.option, name, False)) for name in _INSPECTING)


def default_workers(namespace: argparse.Namespace, xdist: bool) -> list[str]:
    """The arguments that put a run's checks side by side when its command line leaves it
    open: ``-n SANDBOX_WORKERS`` for an evaluation of the sandbox with pytest-xdist
    installed, unless the command line names workers or a distribution itself (``-n 0`` runs
    the checks one after another), only inspects, debugs (``--pdb``, ``--trace``), steps
    through failures (``--sw``, which needs one process) or lists the catalogue.
    ``namespace`` is the command line as pytest parsed it so far."""
    option = vars(namespace)
    if not xdist or option.get("sca_target") != SANDBOX:
        return []
    if option.get("numprocesses") is not None or option.get("dist", "no") != "no" \
            or option.get("tx") or option.get("distload"):
        return []
    if any(option.get(name) for name in (*_INSPECTING, "version", "usepdb", "trace",
                                         "stepwise", "stepwise_skip", "sca_list")):
        return []
    return ["-n", str(SANDBOX_WORKERS)]


def load_target_into(run: ScaRun, worker_target: str | None) -> None:
    """Load the run's target; start the sandbox first when the target asks for it.

    On an xdist worker the controller has already started the sandbox and
    hands over the path of the target file it wrote. A dry run starts nothing.
    """
    spec = worker_target or run.options.target
    assert spec is not None
    if run.dry and spec == SANDBOX:
        run.target = _not_started(run, SANDBOX)
        return
    if spec == SANDBOX:
        run.target = _start_sandbox(run, run.options.sandbox_faults, None)
        run.redact = run.target.redact
        return
    target = load_target(spec, run.catalog)
    if target.sandbox is not None and worker_target is None and not run.dry:
        state = Path(target.sandbox.state) if target.sandbox.state else None
        started = _start_sandbox(run, tuple(target.sandbox.faults), state, spec)
        # The file's own evidence and waivers apply to the sandbox it describes.
        started.evidence.update(target.evidence)
        started.waivers.update(target.waivers)
        started.name = target.name
        started.evaluation, started.drift = target.evaluation, target.drift
        target = started
    run.target = target
    run.redact = target.redact


def _not_started(run: ScaRun, name: str) -> Target:
    """What a dry run knows of a target it does not start: its name, nothing to reach."""
    return Target(name=name, standard=run.catalog.edition.id, path=None, adapters={},
                  settings=Capabilities(), evidence={}, waivers={}, sandbox=None)


def _start_sandbox(run: ScaRun, faults: tuple[str, ...], state: Path | None,
                   origin: str = SANDBOX) -> Target:
    """Start the sandbox through its target provider (entry point ``pytest_sca.targets``)."""
    try:
        provider = providers.load_provider(SANDBOX)
    except providers.ProviderUnavailable as exc:
        raise TargetFileError(f"{origin}: {exc}") from None
    try:
        started = provider.start(faults=faults, state_dir=state)
    except ValueError as exc:
        raise TargetFileError(f"{origin}: sandbox.faults: {exc}") from None
    except providers.TargetStartError as exc:
        raise TargetFileError(f"{origin}: the sandbox did not start: {exc}") from None
    run.sandbox = started
    # The sandbox exists for this evaluation only: checks that disturb a platform (kill a
    # worker, take a link down) may run on it without asking.
    run.options.disruptive = True
    # The sandbox's target file names its secrets as ${VAR}; workers inherit them.
    os.environ.update(started.env)
    return load_target(started.target_path, run.catalog)
