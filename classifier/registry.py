"""The model registry: versioned artifacts in ``models/<version>/`` and a pointer ``models/CURRENT``.

>>> from classifier.registry import Registry          # doctest: +SKIP
>>> reg = Registry()                                  # models/ (or $FEEDBACK_STRIKE_REGISTRY_DIR)
>>> reg.current(), [v.version for v in reg.list()]
>>> reg.add(model, card)                              # a new version; versions are never overwritten
>>> reg.promote("2026.12.01-1")                       # smoke test + false-strike check, then the pointer
>>> reg.rollback()                                    # back to the version promoted before

Each version directory holds what :mod:`classifier.artifact` writes (model, card, SHA-256
manifest) and is named after the model version it holds.  ``CURRENT`` holds one line, the version
every default load serves (``load_model()``, the CLI, the service); running services poll it and
switch without a restart.  ``HISTORY.json`` keeps the promotion stack (promote pushes, rollback
pops) and the last events.  Both are written atomically (a temporary file, then ``os.replace``),
pointer first, so a reader never sees half a pointer and a crash in between leaves a history
that the next write reconciles with the pointer.

Promotion refuses a candidate that fails its checksum, does not load, or fails :func:`smoke_test`
(:class:`CandidateRejected`; never overridable), or whose false-strike rate on the test split is
worse than the current model's (:class:`WorseThanCurrent`; ``force=True`` overrides this only).
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.artifact import CARD_FILE, MANIFEST_FILE, ModelIntegrityError, load_model, save_model, verify
from classifier.decision import BLOCKING_LABELS, LABELS

if TYPE_CHECKING:
    from classifier.pipeline import FeedbackModel

SHIPPED_ROOT = Path(__file__).resolve().parent.parent / "models"
ROOT_ENV = "FEEDBACK_STRIKE_REGISTRY_DIR"
POINTER_FILE, HISTORY_FILE, LOCK_FILE = "CURRENT", "HISTORY.json", ".lock"
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
MAX_EVENTS = 200


class RegistryError(RuntimeError):
    """The registry cannot do what was asked; nothing was changed."""


class UnknownVersion(RegistryError):
    """No such version directory in the registry (or an invalid version name)."""


class PromotionRefused(RegistryError):
    """The candidate may not become current; ``overridable`` says whether ``force`` would change that."""

    overridable = False


class CandidateRejected(PromotionRefused):
    """Checksum mismatch, unloadable artifact or failed smoke test: never promoted, even with force."""


class WorseThanCurrent(PromotionRefused):
    """More false strikes on the test split than the current model (``force=True`` overrides)."""

    overridable = True


# --- the smoke test ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmokeCase:
    """A canned record and what any sane model must (not) answer for it."""

    name: str
    record: dict[str, Any]
    allowed: frozenset[str]
    no_blocking_spans: bool = False


SMOKE_CASES: tuple[SmokeCase, ...] = (
    SmokeCase("pure delivery complaint (sv, AFN, 1 star)",
              {"rating": 1, "comment": "Paketet kom aldrig fram.", "fulfillment_channel": "AFN"},
              frozenset({"strike", "needs_review"}), no_blocking_spans=True),
    SmokeCase("pure delivery complaint (en, AFN, 1 star)",
              {"rating": 1, "comment": "Still waiting after three weeks.", "fulfillment_channel": "AFN"},
              frozenset({"strike", "needs_review"}), no_blocking_spans=True),
    SmokeCase("product condition complaint (sv)",
              {"rating": 1, "comment": "Skärmen var repad.", "fulfillment_channel": "AFN"},
              frozenset({"keep", "needs_review"})),
    SmokeCase("product condition complaint (en)",
              {"rating": 2, "comment": "Sold as new but clearly used.", "fulfillment_channel": "AFN"},
              frozenset({"keep", "needs_review"})),
    SmokeCase("seller-fulfilled order", {"rating": 1, "comment": "The package never arrived.",
                                         "fulfillment_channel": "MFN"}, frozenset({"keep"})),
    SmokeCase("positive rating", {"rating": 5, "comment": "Snabb leverans, toppen!", "fulfillment_channel": "AFN"},
              frozenset({"keep"})),
)


def _shape_problems(comment: str, out: dict[str, Any], version: str) -> list[str]:
    """What is malformed in one verdict (INTERFACES.md shape), whatever the model thinks."""
    problems = []
    if out.get("verdict") not in ("strike", "keep", "needs_review"):
        problems.append(f"verdict {out.get('verdict')!r} is not strike, keep or needs_review")
    if out.get("model_version") != version:
        problems.append(f"names model_version {out.get('model_version')!r}, not {version!r}")
    if out.get("language") not in ("sv", "en", "mixed"):
        problems.append(f"language {out.get('language')!r} is not sv, en or mixed")
    if not out.get("reasons"):
        problems.append("gives no reasons")
    if (out.get("verdict") == "strike") != bool(out.get("note")):
        problems.append("a strike must carry the note, and only a strike")
    spans = out.get("spans") or []
    if not spans:
        problems.append("has no spans")
    end = 0
    for s in spans:
        if not (end <= s["start"] < s["end"] <= len(comment)) or s["text"] != comment[s["start"]:s["end"]]:
            problems.append(f"span {s['start']}-{s['end']} does not index the comment in order")
        if s["label"] not in LABELS:
            problems.append(f"span label {s['label']!r} is not one of {', '.join(LABELS)}")
        if not (isinstance(s["confidence"], float) and math.isfinite(s["confidence"])
                and 0.0 <= s["confidence"] <= 1.0):
            problems.append(f"span confidence {s['confidence']!r} is not a probability")
        end = max(end, s["end"])
    return problems


def smoke_test(model: FeedbackModel, version: str | None = None) -> list[str]:
    """Answer :data:`SMOKE_CASES`; return what went wrong (an empty list: passed).

    Checks the shape of every verdict and a few answers that no usable model gets wrong: a pure
    delivery complaint on a 1-star AFN order is never kept and has no blocking span; a product
    complaint is never struck; seller-fulfilled orders and positive ratings are kept.
    """
    version = version or model.version
    try:
        verdicts = [v.to_dict() for v in model.suggest_many([c.record for c in SMOKE_CASES])]
    except Exception as exc:  # any crash is the answer: this model cannot serve
        return [f"scoring the canned records raised {type(exc).__name__}: {exc}"]
    problems = []
    for case, out in zip(SMOKE_CASES, verdicts, strict=True):
        found = _shape_problems(case.record["comment"], out, version)
        if not found and out["verdict"] not in case.allowed:
            reasons = "; ".join(r["message"] for r in out["reasons"])
            found.append(f"answered {out['verdict']} ({reasons}), expected {' or '.join(sorted(case.allowed))}")
        if not found and case.no_blocking_spans:
            blocking = [s for s in out["spans"] if s["label"] in BLOCKING_LABELS]
            found += [f"labels {s['text']!r} {s['label']}, a blocker it does not contain" for s in blocking]
        problems += [f"{case.name}: {p}" for p in found]
    return problems


# --- figures a promotion compares -------------------------------------------------------------------
@dataclass(frozen=True)
class FalseStrikes:
    """Gold-``keep`` comments a model would strike, on one data file."""

    false_strikes: int
    keeps: int

    @property
    def rate(self) -> float:
        return self.false_strikes / self.keeps if self.keeps else 0.0

    def __str__(self) -> str:
        return f"{self.rate:.2%} ({self.false_strikes} of {self.keeps} keeps)"


def false_strikes(model: FeedbackModel, lines: Sequence[dict[str, Any]]) -> FalseStrikes:
    verdicts = model.suggest_many(lines)
    keeps = [v.verdict for line, v in zip(lines, verdicts, strict=True) if line["verdict"] == "keep"]
    return FalseStrikes(sum(v == "strike" for v in keeps), len(keeps))


@dataclass(frozen=True)
class VersionInfo:
    """One registry entry as :meth:`Registry.list` shows it."""

    version: str
    path: Path
    current: bool
    problem: str | None = None  # why it would be refused (checksum, manifest), None when sound
    test_figures: dict[str, Any] = field(default_factory=dict)  # the card's test-split verdict figures


@dataclass(frozen=True)
class Change:
    """What a promotion or rollback did."""

    action: str  # "promote", "rollback" or "none" (already current)
    version: str
    previous: str | None
    forced: bool = False
    data: str | None = None  # the file the false-strike rates were measured on
    candidate_false_strikes: FalseStrikes | None = None
    current_false_strikes: FalseStrikes | None = None
    smoke_cases: int = 0

    def describe(self) -> str:
        if self.action == "none":
            return f"{self.version} is already the current model; nothing changed"
        lines = [f"{self.action}d {self.version} (was {self.previous or 'none'})"
                 if self.action == "promote" else f"rolled back to {self.version} (was {self.previous})"]
        lines.append(f"smoke test passed ({self.smoke_cases} canned records)")
        if self.candidate_false_strikes is not None:
            cur = f", current {self.current_false_strikes}" if self.current_false_strikes is not None else ""
            lines.append(f"false-strike rate on {self.data}: {self.candidate_false_strikes}{cur}")
        if self.forced:
            lines.append("forced: the false-strike check was overridden")
        return "\n".join(lines)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a reader sees the old or the new content, never a mix."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Registry:
    """A registry root: ``<root>/<version>/`` directories, ``CURRENT`` and ``HISTORY.json``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root or os.environ.get(ROOT_ENV) or SHIPPED_ROOT)

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    # -- reading -------------------------------------------------------------------------------------
    @property
    def pointer(self) -> Path:
        return self.root / POINTER_FILE

    def pointer_content(self) -> bytes | None:
        """The pointer's raw bytes (what watchers compare), None when there is none."""
        try:
            return self.pointer.read_bytes()
        except FileNotFoundError:
            return None

    def current(self) -> str:
        """The version ``CURRENT`` names; RegistryError when there is no valid pointer."""
        raw = self.pointer_content()
        if raw is None:
            raise RegistryError(f"no {self.pointer}: the registry has no current model (promote one)")
        version = raw.decode("utf-8", errors="replace").strip()
        if not VERSION_RE.fullmatch(version):
            raise RegistryError(f"{self.pointer} does not name a version: {version[:80]!r}")
        return version

    def versions(self) -> list[str]:
        """Version directories (those with a manifest), sorted by name."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and VERSION_RE.fullmatch(p.name) and (p / MANIFEST_FILE).is_file())

    def path(self, version: str) -> Path:
        """The directory of ``version``; UnknownVersion if the name is invalid or absent."""
        if not VERSION_RE.fullmatch(version):
            raise UnknownVersion(f"{version!r} is not a valid version name (letters, digits, '.', '_', '+', '-')")
        d = self.root / version
        if not d.is_dir():
            known = ", ".join(self.versions()) or "none"
            raise UnknownVersion(f"no version {version!r} in {self.root} (known: {known})")
        return d

    def current_dir(self) -> Path:
        return self.path(self.current())

    def _check(self, version: str) -> dict[str, Any]:
        """Verify the checksums and that the directory holds the version it is named after."""
        manifest = verify(self.path(version))
        if manifest.get("model_version") != version:
            raise ModelIntegrityError(f"{self.root / version} holds model version {manifest.get('model_version')!r}, "
                                      f"not the {version!r} its directory is named after")
        return manifest

    def load(self, version: str | None = None) -> FeedbackModel:
        """The verified model of ``version`` (default: the current one)."""
        version = version or self.current()
        model = load_model(self.path(version))  # checksums first, then unpickling
        if model.version != version:
            raise ModelIntegrityError(f"{self.root / version} holds model version {model.version!r}, "
                                      f"not the {version!r} its directory is named after")
        return model

    def card(self, version: str | None = None) -> dict[str, Any]:
        return json.loads((self.path(version or self.current()) / CARD_FILE).read_text(encoding="utf-8"))

    def list(self) -> list[VersionInfo]:
        """Every version with its integrity and the test-split figures of its card."""
        try:
            current: str | None = self.current()
        except RegistryError:
            current = None
        out = []
        for version in self.versions():
            problem, figures = None, {}
            try:
                self._check(version)
                figures = self.card(version).get("figures", {}).get("test", {}).get("verdicts", {})
            except (ModelIntegrityError, ValueError, OSError) as exc:
                problem = str(exc)
            out.append(VersionInfo(version, self.root / version, version == current, problem, figures))
        return out

    def history(self) -> dict[str, Any]:
        """``{"stack": [...versions, current last], "events": [...]}`` as stored."""
        try:
            data = json.loads((self.root / HISTORY_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"stack": [], "events": []}
        except ValueError as exc:
            raise RegistryError(f"{self.root / HISTORY_FILE} is not valid JSON: {exc}") from None
        if not isinstance(data.get("stack"), list) or not isinstance(data.get("events"), list):
            raise RegistryError(f"{self.root / HISTORY_FILE} has no 'stack' and 'events' lists")
        return data

    # -- writing -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (promotions from two shells must not interleave)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILE, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _reconciled_history(self) -> dict[str, Any]:
        """The stored history, with the pointer pushed if it was set outside the registry (or by a crash)."""
        history = self.history()
        try:
            current: str | None = self.current()
        except RegistryError:
            current = None
        if current is not None and (not history["stack"] or history["stack"][-1] != current):
            history["stack"].append(current)
            history["events"].append({"at": _now(), "action": "adopt", "version": current,
                                      "note": "the pointer named a version the history did not end with"})
        return history

    def _write(self, version: str, history: dict[str, Any]) -> None:
        write_atomic(self.pointer, (version + "\n").encode("utf-8"))
        history["events"] = history["events"][-MAX_EVENTS:]
        write_atomic(self.root / HISTORY_FILE, (json.dumps(history, indent=2) + "\n").encode("utf-8"))

    def add(self, model: FeedbackModel, card: dict[str, Any]) -> Path:
        """Store ``model`` as a new version (named ``model.version``); existing versions are never replaced."""
        version = model.version
        if not VERSION_RE.fullmatch(version):
            raise UnknownVersion(f"{version!r} is not a valid version name (letters, digits, '.', '_', '+', '-')")
        if card.get("model_version", version) != version:
            raise RegistryError(f"the card names version {card.get('model_version')!r}, the model {version!r}")
        final = self.root / version
        with self._locked():
            if final.exists():
                raise RegistryError(f"version {version} already exists in {self.root}; versions are immutable, "
                                    "choose a new version name")
            tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".tmp-{version}."))
            try:
                save_model(model, tmp, card)
                os.replace(tmp, final)  # the version appears whole or not at all
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return final

    def _loaded_candidate(self, version: str, verb: str) -> tuple[FeedbackModel, int]:
        try:
            model = self.load(version)
        except ModelIntegrityError as exc:
            raise CandidateRejected(f"cannot {verb} {version}: {exc}") from None
        except Exception as exc:  # an artifact that does not unpickle is refused, whatever the reason
            raise CandidateRejected(f"cannot {verb} {version}: it does not load ({type(exc).__name__}: {exc})") \
                from None
        problems = smoke_test(model, version)
        if problems:
            raise CandidateRejected(f"cannot {verb} {version}: the smoke test failed:\n  " + "\n  ".join(problems))
        return model, len(SMOKE_CASES)

    def promote(self, version: str, *, force: bool = False,
                test_path: str | os.PathLike[str] | None = None) -> Change:
        """Make ``version`` current after its checks (see the module docstring); raise PromotionRefused."""
        from training.corpus import DATA_DIR, load_corpus

        self.path(version)
        with self._locked():
            history = self._reconciled_history()
            previous = history["stack"][-1] if history["stack"] else None
            if previous == version:
                return Change("none", version, previous)
            candidate, smoke_cases = self._loaded_candidate(version, "promote")
            data = Path(test_path or DATA_DIR / "test.jsonl")
            lines = load_corpus(data)
            cand_fs = false_strikes(candidate, lines)
            cur_fs = None
            if previous is not None:
                try:
                    cur_fs = false_strikes(self.load(previous), lines)
                except Exception as exc:  # the current model may be the broken one being replaced
                    if not force:
                        raise WorseThanCurrent(
                            f"cannot compare {version} with the current model {previous}, which does not load "
                            f"({exc}); promote with force to replace it without the comparison") from None
                if cur_fs is not None and cand_fs.false_strikes > cur_fs.false_strikes and not force:
                    raise WorseThanCurrent(
                        f"{version} strikes more gold keeps on {data} than the current model {previous}: "
                        f"{cand_fs} against {cur_fs}; promote with force to override")
            change = Change("promote", version, previous, forced=force, data=str(data),
                            candidate_false_strikes=cand_fs, current_false_strikes=cur_fs, smoke_cases=smoke_cases)
            history["stack"].append(version)
            history["events"].append({"at": _now(), "action": "promote", "version": version, "previous": previous,
                                      "forced": force, "by": _user(), "data": str(data),
                                      "false_strikes": asdict(cand_fs),
                                      "current_false_strikes": asdict(cur_fs) if cur_fs else None})
            self._write(version, history)
            return change

    def rollback(self) -> Change:
        """Make the version promoted before the current one current again (after its smoke test)."""
        with self._locked():
            history = self._reconciled_history()
            if len(history["stack"]) < 2:
                raise RegistryError("nothing to roll back to: the promotion history holds no earlier version")
            current, target = history["stack"][-1], history["stack"][-2]
            _, smoke_cases = self._loaded_candidate(target, "roll back to")
            history["stack"].pop()
            history["events"].append({"at": _now(), "action": "rollback", "version": target, "previous": current,
                                      "by": _user()})
            self._write(target, history)
            return Change("rollback", target, current, smoke_cases=smoke_cases)


# --- module-level shortcuts on the default registry (notebooks) --------------------------------------
def list_versions(root: str | os.PathLike[str] | None = None) -> list[VersionInfo]:
    return Registry(root).list()


def current(root: str | os.PathLike[str] | None = None) -> str:
    return Registry(root).current()


def promote(version: str, force: bool = False, *, root: str | os.PathLike[str] | None = None,
            test_path: str | os.PathLike[str] | None = None) -> Change:
    return Registry(root).promote(version, force=force, test_path=test_path)


def rollback(root: str | os.PathLike[str] | None = None) -> Change:
    return Registry(root).rollback()
