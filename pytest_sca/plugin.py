"""The pytest plugin: hooks only. The work is done in the modules they call.

Module-level hooks register options and markers and set the run up; the
per-run hooks live on :class:`RunHooks`, registered once the run exists.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from . import collection, options, outcome, reporting
from .catalog import CatalogError, load_catalog
from .cleanup import Cleanup, CleanupFailed
from .concurrency import CheckLock, runs_alone
from .fixtures import EVIDENCE_EXCERPT
from .outcome import PHASE_ATTRIBUTE, phase_verdict
from .runstate import ScaRun, new_run_id
from .scoring import GradingError, load_grading
from .stash import RUN_KEY, evidence_of, take_recorded
from .target import TargetFileError
from .verdicts import ItemResult, NotAssessed, Verdict, resolve_item

pytest_plugins = ["pytest_sca.fixtures"]

_WORKER_TARGET = "sca_target_path"
_WORKER_RUN_ID = "sca_run_id"
_WORKER_DISRUPTIVE = "sca_disruptive"  # the controller may allow it (a sandbox it started)
_WORKER_LOCK = "sca_check_lock"  # the directory of the run's check lock (concurrency)
#: One encoder for every phase record (``json.dumps`` with options builds one per call).
_encode_phase = json.JSONEncoder(ensure_ascii=False).encode
#: The undo scope of a running clause check, opened before its fixtures, run after them.
_SCOPE_KEY = pytest.StashKey[Cleanup]()
#: The phase records of the running check, so far (what its next report shows depends on them).
_PHASES_KEY = pytest.StashKey[list[dict[str, Any]]]()
#: The directory of the run's check lock, on an xdist controller.
_LOCK_DIR_KEY = pytest.StashKey[str]()
#: A setup that ended not_assessed on an item with an evaluator's verdict: the reason the
#: call ends with at once (see :func:`outcome.carries_to_call`).
_CARRY_KEY = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """A sandbox evaluation runs its checks side by side unless told otherwise (pytest's
    documented way to add command-line arguments early: the args, changed in place)."""
    args[:0] = options.default_workers(early_config.known_args_namespace,
                                       early_config.pluginmanager.has_plugin("xdist"))


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    opts = options.parse(config)
    if opts.target is not None or opts.listing:
        # Only for an evaluation: generic names (`security`, `shall`) must not pass
        # --strict-markers in every other project pytest-sca is installed next to.
        for name, doc in collection.MARKERS.items():
            config.addinivalue_line("markers", f"{name}: {doc}")
    try:
        catalog = load_catalog(opts.catalog_path)
        grading = load_grading(opts.grading_path)
    except (CatalogError, GradingError) as exc:
        raise pytest.UsageError(str(exc)) from None
    options.check_baseline(opts, catalog.edition.id)
    worker_input: dict[str, Any] = getattr(config, "workerinput", {})
    run_id = worker_input.get(_WORKER_RUN_ID) or opts.run_id or new_run_id()
    opts.disruptive = opts.disruptive or bool(worker_input.get(_WORKER_DISRUPTIVE))
    run = ScaRun(options=opts, catalog=catalog, grading=grading, run_id=run_id,
                 dry=options.is_dry(config))
    run.selection = collection.selection_of(config)
    config.stash[RUN_KEY] = run
    config.add_cleanup(lambda: _finish_run(run))
    if opts.target is not None:
        try:
            options.load_target_into(run, worker_input.get(_WORKER_TARGET))
        except TargetFileError as exc:
            raise pytest.UsageError(str(exc)) from None
        config.add_cleanup(_mask_log_records(run))
        if not _is_worker(config) and not run.dry:
            _interrupt_on_sigterm(config)
        _share_the_check_lock(config, run, worker_input.get(_WORKER_LOCK))
    if run.evaluating or opts.listing:
        _collect_suites_by_default(config)
    config.pluginmanager.register(RunHooks(run, config), "sca-run")


def _share_the_check_lock(config: pytest.Config, run: ScaRun, directory: str | None) -> None:
    """Under pytest-xdist the checks of a run run side by side, those that measure or
    disturb alone (:mod:`pytest_sca.concurrency`): the controller makes the lock's
    directory, each worker holds the lock around each check."""
    if directory is not None:
        lock = run.check_lock = CheckLock(Path(directory))
        config.add_cleanup(lock.close)
    elif _uses_xdist(config) and not _is_worker(config) and not run.dry:
        made = tempfile.mkdtemp(prefix="sca-check-lock-")
        config.stash[_LOCK_DIR_KEY] = made
        config.add_cleanup(lambda: shutil.rmtree(made, ignore_errors=True))


def _collect_suites_by_default(config: pytest.Config) -> None:
    """Without paths on the command line, an evaluation collects the shipped suites.

    xdist workers re-parse the controller's command line, so they come here too.
    """
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(collection.SUITES_ROOT)]


def _mask_log_records(run: ScaRun) -> Callable[[], None]:
    """Mask secrets in every log record, whoever logs it; returns the undo."""
    factory = logging.getLogRecordFactory()

    def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        message = record.getMessage()
        masked = run.redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return record

    logging.setLogRecordFactory(masking_factory)
    return lambda: logging.setLogRecordFactory(factory)


def _record_not_reached(run: ScaRun, reason: str) -> None:
    """Every selected check the run never started (interrupted, or a target with no usable
    adapter) is an ``error`` for ``reason``: the report lists the whole selection, and says
    what was not found out."""
    for nodeid, clause in run.selection.clauses.items():
        if nodeid not in run.phases:
            run.phases[nodeid].append({
                "phase": "call", "clause": clause, "verdict": Verdict.ERROR.value,
                "reason": reason, "duration": 0.0, "evidence": [], "measurements": []})


def _uses_xdist(config: pytest.Config) -> bool:
    """Whether pytest-xdist distributes this run (``-n`` with workers)."""
    return bool(getattr(config.option, "numprocesses", None)) and \
        getattr(config.option, "dist", "no") != "no"


def _quiet_after_interrupt(config: pytest.Config) -> None:
    """After the first Ctrl-C (or SIGTERM) the run undoes what it created and writes its
    report; a second signal must not cut that short with a traceback."""
    def ignore(signum: int, frame: Any) -> None:
        sys.stderr.write("\nsca: still undoing what the run created and writing the report; "
                         "wait a moment (kill -9 leaves leftovers for "
                         "`python -m pytest_sca cleanup --run-id`)\n")

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous = signal.signal(signum, ignore)
        except ValueError:  # not the main thread: nothing to protect
            return
        config.add_cleanup(functools.partial(_restore_signal, signum, previous))


def _restore_signal(signum: int, handler: Any) -> None:
    signal.signal(signum, handler)


def _interrupt_on_sigterm(config: pytest.Config) -> None:
    """SIGTERM (a cancelled CI job) ends the run like Ctrl-C, so cleanup still runs."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (pytest run inside a thread): leave it
        return
    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    config.add_cleanup(restore)


def _finish_run(run: ScaRun) -> None:
    """Last thing of a run: undo what is still pending, close adapters, stop the sandbox."""
    try:
        for failure in run.ledger.sweep():
            print(f"sca: cleanup failed: {run.redact(failure.description)}: "
                  f"{run.redact(failure.error)}")
        run.close_adapters()
    finally:
        if run.sandbox is not None:
            run.sandbox.stop()
            run.sandbox = None


def _record_created(item: pytest.Item, scope: Cleanup, run: ScaRun) -> None:
    """Evidence of what the check created (by kind, e.g. ``platform:jobs``) and undid: an
    evaluator sees the check's footprint, and the tests prove the sweep covers each kind."""
    created = [{"kind": action.kind, "undo": action.description}
               for action in scope.actions if action.kind]
    if created:
        text = run.redact(json.dumps(created, indent=2, ensure_ascii=False))
        evidence_of(item).append({"name": "created by the check (undone after it)",
                                  "mime": "application/json", "content": text[:EVIDENCE_EXCERPT],
                                  "truncated": len(text) > EVIDENCE_EXCERPT})


class RunHooks:
    """The hooks of one run; ``run`` is the state they share."""

    def __init__(self, run: ScaRun, config: pytest.Config) -> None:
        self.run = run
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: workers evaluate the same target under the same run id."""
        node.workerinput[_WORKER_RUN_ID] = self.run.run_id
        node.workerinput[_WORKER_DISRUPTIVE] = self.run.options.disruptive
        if self.run.target is not None and self.run.target.path is not None:
            node.workerinput[_WORKER_TARGET] = str(self.run.target.path)
        lock = self.config.stash.get(_LOCK_DIR_KEY, None)
        if lock is not None:
            node.workerinput[_WORKER_LOCK] = lock
            self.run.workers += 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """The preflight (before xdist starts its workers): when the target configures
        adapters and none is usable, the run ends here, exit 6, before the first check."""
        run = self.run
        if (not run.evaluating or run.dry or _is_worker(session.config)
                or not run.options.preflight or run.target is None or not run.target.adapters):
            return
        # Imported here: the doctor loads every adapter's configuration model (the mapping
        # engine's among them), which a run without adapters never needs (issue 18).
        from . import doctor

        diagnosis = doctor.diagnose(run.target, run.run_id)
        run.preflight = diagnosis.to_dict()["adapters"]
        if not diagnosis.usable:
            origin = run.options.target or run.target.name
            message = doctor.unusable_message(diagnosis, origin)
            if _uses_xdist(session.config):
                # The controller collects nothing, so it cannot list the selection: stop.
                run.aborted = True
                pytest.exit(message, returncode=options.EXIT_UNUSABLE)
            # No check runs; the report still lists every selected item (error, and why).
            run.unusable = message

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return reporting.header_lines(self.run) if self.run.evaluating else []

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """Plain pytest never runs the shipped suites: only an evaluation or --sca-list."""
        if self.run.evaluating or self.run.options.listing:
            return None
        root = collection.SUITES_ROOT
        if collection_path == root or root in collection_path.parents:
            return True
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        """Expand clause markers and add uncovered catalogue items, before -m/-k deselect."""
        run = self.run
        covered: set[str] = set()
        for item in items:
            try:
                clause = collection.expand_markers(item, run.catalog)
            except KeyError:
                raise pytest.UsageError(
                    f"{item.nodeid}: clause {collection.clause_id_of(item)!r} is not an item "
                    f"of {run.catalog.edition.id}: fix the id in @pytest.mark.clause "
                    "(pytest --sca-list lists them)") from None
            except collection.UnknownRoute as unknown:
                raise pytest.UsageError(
                    f"{item.nodeid}: route {str(unknown)} of its clause marker is not a route "
                    "of pytest_sca.collection.ROUTES: fix route= or add the route there"
                    ) from None
            if clause is not None:
                covered.add(clause.id)
        if not (run.evaluating or run.options.listing):
            return
        scope = collection.scope_of_args(config.args, run.catalog)
        wanted = [c for c in run.catalog
                  if c.id not in covered and (scope is None or c.id in scope)]
        uncovered = collection.make_uncovered(session, wanted)
        for item in uncovered:
            collection.expand_markers(item, run.catalog)
        items.extend(uncovered)
        if _is_worker(config):
            # Side by side, the checks that run alone go last, one after another: spread
            # through the run, each would first drain the other workers' checks and leave
            # them idle while it runs. (Every worker sorts alike: xdist needs one order.)
            items.sort(key=runs_alone)
        # Allure's markers only where allure-pytest writes results (--alluredir): labelling
        # every item costs, and an installed but idle allure-pytest reads none of them.
        if getattr(config.option, "allure_report_dir", None):
            reporting.allure.label_items(items, run.catalog)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C or SIGTERM: from now on, further signals wait for cleanup and the report."""
        if self.run.evaluating:
            _quiet_after_interrupt(self.config)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.run.selection.selected = {item.nodeid for item in session.items}
        self.run.selection.clauses = {
            item.nodeid: clause for item in session.items
            if (clause := collection.clause_id_of(item)) is not None}
        if self.run.options.listing and not _is_worker(session.config):
            reporting.listing.print_catalog(session, self.run)
        if self.run.evaluating:
            # What start-up made (modules, the target, the collected checks) lives as long as
            # the run: keep it out of every later full collection (the client's gen-2
            # collections, chapters 8 and 10 on the sandbox: 0.70 s -> 0.35 s).
            gc.freeze()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """pytest-xdist: the controller collects nothing; the workers say what they selected."""
        self.run.selection.selected = set(self.run.selection.selected or ()) | set(ids)

    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """--sca-list only lists, and a target with no usable adapter is not evaluated: no
        check runs."""
        return True if self.run.options.listing or self.run.unusable else None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Open the check's undo scope (what adapters create is registered in it), then gate
        mutating and disruptive checks: read-only runs, and runs without consent."""
        if collection.clause_id_of(item) is None or not self.run.evaluating:
            return
        if self.run.check_lock is not None:
            self.run.check_lock.acquire(runs_alone(item))
        scope = item.stash[_SCOPE_KEY] = Cleanup(self.run.ledger)
        self.run.ledger.scope = scope
        opts = self.run.options
        disruptive = item.get_closest_marker("disruptive") is not None
        if opts.readonly and (disruptive or item.get_closest_marker("mutating")):
            raise NotAssessed("read-only run (--sca-readonly): this check changes the target")
        if disruptive and not opts.disruptive:
            raise NotAssessed("disruptive check: run with --sca-disruptive to allow it")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        """A setup carried to the call (an evaluator's verdict shows there) ends it at once."""
        reason = item.stash.get(_CARRY_KEY, None)
        if reason is not None:
            del item.stash[_CARRY_KEY]
            raise NotAssessed(reason)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        """After the check's fixtures are torn down, undo what it created (newest first);
        a failed undo makes the check ``error`` (:class:`CleanupFailed`)."""
        try:
            yield
        finally:
            scope = item.stash.get(_SCOPE_KEY, None)
            try:
                if scope is not None:
                    del item.stash[_SCOPE_KEY]
                    self.run.ledger.scope = None
                    try:
                        scope.run()
                    finally:
                        _record_created(item, scope, self.run)
            finally:
                if self.run.check_lock is not None:
                    self.run.check_lock.release()

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Turn how a clause check ended into its verdict; mask secrets in the report.

        ``trylast`` makes this wrapper the innermost, so that other plugins
        (Allure, JUnit) see the redacted report with the verdict's outcome.
        """
        report = yield
        clause_id = collection.clause_id_of(item)
        if clause_id is not None and self.run.evaluating:
            self._show_verdict(item, call, report, clause_id)
        if self.run.redact:
            reporting.redact_exception(call.excinfo, self.run.redact)
            reporting.redact_report(report, self.run.redact)
        return report

    def _show_verdict(self, item: pytest.Item, call: pytest.CallInfo[None],
                      report: pytest.TestReport, clause_id: str) -> None:
        """Record this phase's verdict and make the report show the test's verdict so far
        (:data:`outcome.PRESENTATION`); the teardown report carries JUnit's properties."""
        run = self.run
        verdict, reason = phase_verdict(call.excinfo)
        if call.excinfo is not None and call.excinfo.errisinstance(CleanupFailed):
            verdict, reason = Verdict.ERROR, str(call.excinfo.value)
        reason = run.redact(reason)
        phase = {"phase": report.when, "clause": clause_id, "verdict": verdict.value,
                 "reason": reason, "duration": round(report.duration, 6),
                 **take_recorded(item)}
        if route := collection.route_of(item):
            phase["route"] = route
        if _is_worker(item.config) and runs_alone(item):
            phase["alone"] = True  # the controller lists it among the checks that ran alone
        # A worker's report crosses to the controller as JSON; in one process the record
        # itself travels on the report (encoding it 3 times per test was most of the cost).
        setattr(report, PHASE_ATTRIBUTE,
                _encode_phase(phase) if _is_worker(item.config) else phase)
        phases: list[dict[str, Any]] = item.stash.setdefault(_PHASES_KEY, [])
        phases.append(phase)
        # What the test shows so far is resolved only for a report that shows it: a passed
        # setup or teardown shows nothing of its own.
        def so_far() -> ItemResult:
            return resolve_item(clause_id, [outcome.test_so_far(item.nodeid, phases)],
                                *run.recorded_for(clause_id))

        if (report.when == "call" and all(p["verdict"] == "pass" for p in phases)
                and not run.has_records(clause_id)):
            # Every phase so far passed and the file records nothing for the item: it shows
            # pass (resolve_item's result, without resolving: most tests of a run end so).
            reporting.present_passed(report, clause_id)
        elif report.when != "teardown" and outcome.bears_verdict(report.when, verdict):
            shown = so_far()
            if outcome.carries_to_call(report.when, verdict, shown):
                item.stash[_CARRY_KEY] = reason
                report.outcome, report.longrepr = "passed", None
            else:
                reporting.present(report, shown, clause_id)
        elif report.when == "teardown" and verdict is not Verdict.PASS:
            if so_far().verdict is Verdict.WAIVED:  # its cleanup failure is listed apart
                report.outcome, report.longrepr = "passed", None
            else:
                reporting.present(report, resolve_item(
                    clause_id, [outcome.test_so_far(item.nodeid, [phase])]), clause_id)
        if report.when == "teardown":
            del item.stash[_PHASES_KEY]
            if item.config.option.xmlpath:  # the properties are JUnit's: only for its file
                final = resolve_item(clause_id, [outcome.combine_phases(item.nodeid, phases)],
                                     *run.recorded_for(clause_id))
                report.user_properties.extend(reporting.junit.test_properties(final))

    def pytest_report_teststatus(self, report: pytest.TestReport
                                 ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        return reporting.teststatus(report)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect phase verdicts (on the controller, xdist hands the workers' reports here)."""
        self.run.reported.add(report.nodeid)
        phase = getattr(report, PHASE_ATTRIBUTE, None)
        if phase is not None:
            record = json.loads(phase) if isinstance(phase, str) else phase
            if self.run.workers and record.pop("alone", False):
                self.run.ran_alone.add(report.nodeid)
            self.run.phases[report.nodeid].append(record)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Aggregate verdicts, write the reports, and set the exit status from conformance.

        ``trylast``: pytest's own sessionfinish tears down the fixtures of an
        interrupted test first, so that their cleanup is part of the report.
        """
        config = session.config
        run = self.run
        # What an interrupted check left is undone now: its failures belong in the report.
        run.close_adapters()
        if _is_worker(config):
            return
        if run.options.listing:
            if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
                session.exitstatus = pytest.ExitCode.OK
            return
        if not run.evaluating or run.dry or run.aborted:
            return
        stopped = session.shouldfail or session.shouldstop
        if stopped:
            run.selection.stopped = str(stopped) if isinstance(stopped, str) else "stopped"
        elif exitstatus == pytest.ExitCode.INTERRUPTED:
            run.selection.stopped = "interrupted"
            _record_not_reached(run, "interrupted: the run ended before this check ran")
        if run.unusable:
            run.selection.stopped = "no usable adapter"
            _record_not_reached(run, "not evaluated: the preflight found no usable adapter "
                                     "(`python -m pytest_sca doctor` details each)")
        evaluation = reporting.build_evaluation(run)
        config.stash[reporting.EVALUATION_KEY] = evaluation
        reporting.write_outputs(run, config, evaluation)
        if run.unusable:
            session.exitstatus = options.EXIT_UNUSABLE
            return
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                          pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = (pytest.ExitCode.TESTS_FAILED if evaluation.fails_run
                                  else pytest.ExitCode.OK)

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        evaluation = config.stash.get(reporting.EVALUATION_KEY, None)
        if evaluation is not None:
            reporting.terminal.write_summary(terminalreporter, evaluation)
        if self.run.unusable:
            terminalreporter.write_line(self.run.unusable, red=True, bold=True)
