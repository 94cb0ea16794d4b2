"""One call of run_dataframe: resolve the client and app, plan and validate rows, run, build the frame.

Async methods run on whichever loop drives the job (the caller's for arun_dataframe, a worker
thread's for run_dataframe); `frame()` and the dry-run report are pure.
"""

from __future__ import annotations

import math
import statistics
import warnings
from pathlib import Path
from typing import Any

from ..core.drivers import POOL_SIZE
from ..core.errors import LaminaWarning
from ..core.flows import APP_CACHE_SECONDS
from ..core.models import App
from .budget import check_limit, plan_budget
from .engine import REUSED_STATUSES, Engine
from .ledger import DEFAULT_PATH, TERMINAL, Attempt, Journal
from .lineage import check_drift
from .mapping import ColumnMap, map_columns, plan_rows, problems_error, records, server_columns
from .outcome import Report, assign_keys, origin_of
from .outcome_store import Outcomes
from .progress import Tracker
from .report import DryRunReport
from .results import result_frame

ASSUMED_RUN_SECONDS = 30.0  # Lamina docs: 10-30 s for a typical fast image app


def _session_client() -> Any:
    """The kernel-wide client the notebook layer set (lamina_jupyter.notebook.session), if any."""
    try:
        from ..notebook import session  # type: ignore[attr-defined]
    except ImportError:
        return None
    for name in ("current_client", "get_client", "current"):
        getter = getattr(session, name, None)
        if callable(getter):
            try:
                found = getter()
            except Exception:  # no session client set: fall back to the environment
                return None
            if found is not None:
                return found
    return getattr(session, "client", None)


def reusable(attempt: Attempt | None) -> bool:
    """A ledger entry whose result a re-run reuses instead of starting the row again."""
    return attempt is not None and attempt.state == TERMINAL and attempt.status in REUSED_STATUSES


def journal_path(journal: Any) -> Path | None:
    if journal is False or journal is None:
        return None
    return Path(DEFAULT_PATH if journal is True else journal).absolute()


class Job:
    def __init__(
        self,
        df: Any,
        app: Any,
        *,
        client: Any = None,
        columns: Any = None,
        constants: Any = None,
        concurrency: int = 8,
        journal: Any = True,
        progress: bool = True,
        dry_run: bool = False,
        cancel_in_flight: bool = False,
        only_positions: set[int] | None = None,
        warn_unmatched: bool = True,
        adopt: dict[int, str] | None = None,
        max_credits: float | None = None,
    ) -> None:
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"run_dataframe() takes a pandas DataFrame, not {type(df).__name__}")
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive integer, not {concurrency!r}")
        self.df, self.app_ref, self.user_client = df, app, client
        self.columns, self.constants, self.progress, self.dry_run = columns, constants, progress, dry_run
        self.cancel_in_flight, self.only, self.warn_unmatched = (
            cancel_in_flight,
            only_positions,
            warn_unmatched,
        )
        self.adopt = adopt  # retry_failed(adopt=True): position -> the uncertain row's candidate run
        self.journal_path = journal_path(journal)
        self.max_credits = check_limit(max_credits)
        self.concurrency = min(concurrency, POOL_SIZE)
        self.notes: list[str] = []
        if concurrency > POOL_SIZE:
            self.notes.append(f"concurrency {concurrency} capped at the connection pool size {POOL_SIZE}")
        self.tracker = Tracker(len(df) if only_positions is None else len(only_positions))
        self.report = Report()
        self.outcomes = Outcomes()
        self.aclient: Any = None
        self._owns_client = False
        self.journal: Journal | None = None

    # -- loop side ------------------------------------------------------------------------------
    def _async_client(self, in_caller_loop: bool) -> Any:
        from ..core.client import AsyncClient

        source = self.user_client if self.user_client is not None else _session_client()
        if isinstance(source, AsyncClient) and in_caller_loop:
            return source, False
        if source is None:
            return AsyncClient(interactive=False), True
        s = source.settings
        made = AsyncClient(
            api_key=s.api_key,
            base_url=s.base_url,
            api=s.api,
            timeout=s.timeout,
            max_retries=s.max_retries,
            governor=source.governor,
            interactive=False,
        )
        made._ctx.app_cache = source._ctx.app_cache  # same server and key: a re-run refetches nothing
        return made, True

    async def prepare(self, in_caller_loop: bool) -> None:
        """Client, app details, column mapping and the validation of every row (before any spend).

        The app may come from the source client's cache (fetched < 60 s ago in this process): enough
        when the ledger holds every row's result, since nothing is sent. Otherwise the app is fetched
        again, so rows about to be sent or followed are checked against its parameters as they are now."""
        self.aclient, self._owns_client = self._async_client(in_caller_loop)
        self.tracker.rate_wait = self.aclient.governor.waiting_seconds
        self.tracker.request_interval = lambda: self.aclient.governor.state()["interval"] or 0.0
        cache = self.aclient._ctx.app_cache
        hit = cache.get(self.app_ref) if isinstance(self.app_ref, str) else None
        cached = hit is not None and self.aclient._ctx.clock() - hit[0] < APP_CACHE_SECONDS
        first = await self.aclient.get_app(self.app_ref)
        app: App | None = first
        try:
            self._plan(first)
        except ValueError:
            if not cached:
                raise
            app = None  # planned against a cached app: try the app as it is now before saying so
        # a result frame carries the schema it ran with: the drift guard needs the app as it is now
        result_frame = isinstance(self.df.attrs.get("lamina"), dict)
        if hit is not None and cached and (app is None or result_frame or not self._ledger_has_every_row()):
            for name in (hit[1].id, hit[1].name):
                cache.pop(name, None)
            fresh = await self.aclient.get_app(self.app_ref)
            if fresh != app:
                self._plan(fresh)

    def _ledger_has_every_row(self) -> bool:
        if self.only is not None or self.journal_path is None or not self.journal_path.exists():
            return False
        self.journal = Journal(self.journal_path)  # kept open for execute(); close() closes it
        ledger = self.journal.latest(self.keys)
        return all(reusable(ledger.get(k)) for k in self.keys)

    def _plan(self, app: App) -> None:
        self.app: App = app
        self.cmap: ColumnMap = map_columns(
            self.app, self.df.columns, self.columns, self.constants, warn=False
        )
        self.planned, self.problems = plan_rows(
            self.app, records(self.df, list(self.cmap.columns)), self.cmap, self.aclient.api,
            server_data=server_columns(self.df)
        )
        self.keys = assign_keys(origin_of(self.aclient.base_url), self.app.id, self.planned)

    def emit_warnings(self) -> None:
        """Called on the caller's thread so warnings point at the caller and pytest.warns sees them."""
        check_drift(self.df.attrs.get("lamina"), self.app)  # before anything is sent
        if self.cmap.unmatched and self.warn_unmatched:
            names = ", ".join(p.name for p in self.app.parameters)
            warnings.warn(
                f"Column(s) {', '.join(map(repr, self.cmap.unmatched))} match no parameter of "
                f"{self.app.name!r} and are not sent (they stay in the result). Parameters: {names}. "
                "Map one with columns={'col': 'Param'} if that was meant.",
                LaminaWarning,
                stacklevel=4,
            )
        if self.problems and not self.dry_run:
            raise problems_error(self.problems, self.app, len(self.df))

    async def dry_run_report(self) -> DryRunReport:
        ledger: dict[str, Any] = {}
        if self.journal_path and self.journal_path.exists():
            with Journal(self.journal_path) as j:
                ledger = j.latest(self.keys)
        reuse = sum(1 for k in self.keys if reusable(ledger.get(k)))
        attach = sum(1 for k in self.keys if k in ledger and ledger[k].state in ("SUBMITTED", "SUBMITTING"))
        held = sum(1 for k in self.keys if k in ledger and ledger[k].status == "uncertain")
        to_submit = len(self.planned) - reuse - attach - held
        credits, credit_note, balance = None, "", None
        try:
            est = await self.aclient.estimate(self.app)
            credits, balance = est.expected, est.current_balance
        except Exception as exc:  # the estimate is advisory: report why it is missing
            credit_note = f"no credit estimate ({type(exc).__name__}: {str(exc)[:120]})"
        durations = [a.seconds for a in ledger.values() if a.seconds]
        per_run = statistics.median(durations) if durations else ASSUMED_RUN_SECONDS
        requests = 2 * to_submit + attach
        by_work = math.ceil(to_submit / self.concurrency) * per_run if to_submit else 0.0
        by_rate = requests / 100 * 60
        return DryRunReport(
            app=self.app,
            cmap=self.cmap,
            planned=self.planned,
            problems=self.problems,
            rows=len(self.df),
            reuse=reuse,
            attach=attach,
            to_submit=to_submit,
            credits_per_run=credits,
            credit_note=credit_note,
            per_run=per_run,
            per_run_measured=bool(durations),
            balance=balance,
            max_credits=self.max_credits,
            wall_seconds=max(by_work, by_rate),
            requests=requests,
            concurrency=self.concurrency,
            uncertain=held,
        )

    async def execute(self, thumbnails: bool) -> None:
        budget = await plan_budget(self.aclient, self.app, self.max_credits)
        self.tracker.credits = budget.line
        if self.journal is None and self.journal_path:
            self.journal = Journal(self.journal_path)
        planned, keys = self.planned, self.keys
        if self.only is not None:  # retry_failed: those rows only
            chosen = [i for i, r in enumerate(planned) if r.position in self.only]
            planned, keys = [planned[i] for i in chosen], [keys[i] for i in chosen]
        engine = Engine(
            self.aclient,
            self.app,
            planned,
            keys,
            journal=self.journal,
            concurrency=self.concurrency,
            tracker=self.tracker,
            force_new=self.only is not None,
            cancel_in_flight=self.cancel_in_flight,
            thumbnails=thumbnails,
            adopt=self.adopt,
            budget=budget,
        )
        # the engine frees each planned row once dispatched, and the frame needs only the outcomes
        self.planned, self.keys = [], []
        try:
            self.report = await engine.run()
        finally:
            self.outcomes = engine.outcomes
        self.report.notes.extend(self.notes)

    async def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self._owns_client and self.aclient is not None:
            self._owns_client = False  # closed once, whichever path closes it
            await self.aclient.aclose()

    # -- the result -------------------------------------------------------------------------------
    def frame(self, base: Any = None) -> Any:
        """The input frame plus one column per output and the lamina_* columns (index and order kept)."""
        return result_frame(self, base)
