"""The model a service process serves, and switching it without a restart.

The model is one object on ``app.state.model``; a request reads it once (``get_model``) and keeps
that object to the end, so a switch never mixes two models in one answer, and every verdict names
the version that made it.  A switch loads and checks the new model completely (checksums, the
registry's smoke test) before one assignment replaces the reference; a refused model leaves the
old one serving.

Switches come from ``POST /v1/admin/model/reload`` (this process) and from a watcher that polls
the registry's pointer file every few seconds (``FEEDBACK_STRIKE_MODEL_POLL_SECONDS``), which is
how every worker process of ``serve --workers N`` follows a promotion or rollback.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI

from classifier.artifact import ModelIntegrityError, load_model
from classifier.registry import Registry, RegistryError, smoke_test

if TYPE_CHECKING:
    from classifier.pipeline import FeedbackModel
    from service.config import Settings

log = logging.getLogger("feedback_strike.model")


class ReloadRefused(RuntimeError):
    """The named model cannot serve; ``status`` is 409 (registry state) or 422 (the artifact itself)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ReloadResult:
    model_version: str
    previous: str | None
    changed: bool


class ModelHolder:
    """Loads, checks and swaps ``app.state.model``; one reload at a time per process."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self.pinned: Path | None = settings.model_dir
        self.registry: Registry | None = None if self.pinned else Registry(settings.registry_dir)
        self.poll_seconds = settings.model_poll_seconds
        self.watching = settings.watch_model_pointer and self.registry is not None
        self.pointer_seen: bytes | None = None
        self.last_error: str | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> FeedbackModel | None:
        return getattr(self.app.state, "model", None)

    def source(self) -> str:
        if self.registry is None:
            return f"pinned directory {self.pinned}"
        return f"registry {self.registry.root} ({self.registry.pointer.name})"

    def _target(self) -> tuple[Path, str | None]:
        """The directory to serve, and the version the pointer names (None when pinned)."""
        if self.registry is None:
            assert self.pinned is not None
            return self.pinned, None
        self.pointer_seen = self.registry.pointer_content()
        try:
            version = self.registry.current()
            return self.registry.path(version), version
        except RegistryError as exc:
            raise ReloadRefused(str(exc), 409) from None

    def _load_checked(self, directory: Path, version: str | None) -> FeedbackModel:
        try:
            model = load_model(directory)
        except ModelIntegrityError as exc:
            raise ReloadRefused(f"refused the model in {directory.name}: {exc}", 422) from None
        except Exception as exc:  # whatever an unpickling failure raises, the old model keeps serving
            raise ReloadRefused(f"refused the model in {directory.name}: it does not load "
                                f"({type(exc).__name__}: {exc})", 422) from None
        if version is not None and model.version != version:
            raise ReloadRefused(f"{directory.name} holds model version {model.version!r}, not {version!r}", 422)
        problems = smoke_test(model)
        if problems:
            raise ReloadRefused(f"refused model {model.version}: the smoke test failed: " + "; ".join(problems), 422)
        return model

    def _swap(self, model: FeedbackModel) -> None:
        old = self.model
        self.app.state.model = model  # one reference assignment: requests hold the object they started with
        gauge = self.app.state.metrics.model
        if old is not None and old.version != model.version:
            gauge.remove(old.version)
        gauge.labels(model.version).set(1)
        del old
        freeze_long_lived()

    def load_initial(self) -> FeedbackModel:
        """The model at start-up; a refused one stops the start (there is nothing older to keep serving)."""
        with self._lock:
            model = self._load_checked(*self._target())
            self._swap(model)
            log.info("model %s loaded from %s", model.version, self.source())
            return model

    def reload(self) -> ReloadResult:
        """Serve the model the pointer (or the pinned directory) names now; ReloadRefused keeps the old one."""
        metrics = self.app.state.metrics
        with self._lock:
            old = self.model
            previous = old.version if old is not None else None
            try:
                directory, version = self._target()
                if version is not None and version == previous:
                    self.last_error = None
                    metrics.model_reloads.labels("unchanged").inc()
                    return ReloadResult(version, previous, False)
                model = self._load_checked(directory, version)
            except ReloadRefused as exc:
                self.last_error = str(exc)
                metrics.model_reloads.labels("refused").inc()
                log.error("model reload refused; still serving %s", previous,
                          extra={"fields": {"serving": previous, "reason": str(exc)}})
                raise
            self._swap(model)
            self.last_error = None
            metrics.model_reloads.labels("switched" if model.version != previous else "unchanged").inc()
            log.info("model switched from %s to %s", previous, model.version,
                     extra={"fields": {"previous": previous, "serving": model.version}})
            return ReloadResult(model.version, previous, model.version != previous)

    async def watch(self) -> None:
        """Poll the pointer; on a change, reload in a thread (requests keep being served meanwhile)."""
        assert self.registry is not None
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                if self.registry.pointer_content() != self.pointer_seen:
                    await asyncio.to_thread(self.reload)
            except ReloadRefused:
                pass  # logged by reload; the pointer content is remembered, so it is logged once
            except Exception:  # the watcher must outlive any surprise
                log.exception("model pointer watcher failed; it keeps polling")


def freeze_long_lived() -> None:
    """Take what is alive now (the model, spaCy, the imported modules) out of the cyclic garbage
    collector's reach.  A full collection over a loaded model took ~85 ms here, a pause that every
    request in flight waits on (the p99 at concurrency 32).  Called after each model switch: what the
    last freeze kept is released first, so the old model's cycles are collected once, then the new
    state is frozen."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
