"""``feedback-strike batch``: ``suggest`` for JSONL files larger than memory, on a Dask cluster, resumable.

One streaming pass over the input finds where every chunk of ``chunk_size`` lines starts (byte
offsets) and the file's SHA-256; nothing else of the input is held.  Each chunk is a Dask task: the
worker reads only its own byte range, scores it with the code ``suggest`` uses (so the bytes are
the same, error objects included) and writes the verdicts as a part file under ``OUTPUT.parts/``,
first under a temporary name, then renamed, so a part either exists whole or not at all.  The parts
directory's ``manifest.json`` names the input (size, SHA-256), the chunk size and the model: a rerun
after a crash skips the parts already written, and refuses parts of another input, chunk size or
model instead of mixing them.  When every part exists they are joined, in order, into ``OUTPUT``
(temporary name, then rename) and the parts are removed.

Workers load the model once (a worker plugin fills a per-process cache) and refuse one whose
checksums differ from what the client verified.  With a remote scheduler, the input, the output's
directory and the model path (if ``--model`` is given) must be at the same path on every worker.
"""

from __future__ import annotations

import array
import hashlib
import io
import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

from classifier.artifact import ModelIntegrityError, default_model_dir, load_model, verify

PARTS_FORMAT = 1
BLOCK_BYTES = 1 << 20
MANIFEST = "manifest.json"
# For tests of crash and resume only: seconds each chunk waits before it is scored.
DELAY_ENV = "FEEDBACK_STRIKE_BATCH_CHUNK_DELAY"

ProblemSink = Callable[[int, str, str], None]


class BatchError(RuntimeError):
    """The run cannot go on as asked (parts of another run, an input that changed, a path workers cannot see)."""


# --- planning: one streaming pass -------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Where each chunk starts in the input; chunk ``i`` holds lines ``i * chunk_size + 1`` onwards."""

    size: int
    sha256: str
    lines: int
    chunk_size: int
    starts: array.array[int]

    def __len__(self) -> int:
        return len(self.starts)

    def byte_range(self, i: int) -> tuple[int, int]:
        return self.starts[i], self.starts[i + 1] if i + 1 < len(self.starts) else self.size

    def first_line(self, i: int) -> int:
        return i * self.chunk_size + 1

    def lines_in(self, i: int) -> int:
        return min(self.chunk_size, self.lines - i * self.chunk_size)


def plan_chunks(path: str | os.PathLike[str], chunk_size: int, *, block_bytes: int = BLOCK_BYTES,
                on_bytes: Callable[[int], None] | None = None) -> Plan:
    """Read ``path`` once, a block at a time: its SHA-256, its line count and each chunk's first byte.

    Lines end at ``\\n`` only, as when ``suggest`` reads a file; a last line without one counts.
    Memory is one block plus eight bytes per chunk, whatever the file's size.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    digest = hashlib.sha256()
    boundaries = array.array("q")  # offsets just after every chunk_size-th newline
    pos = newlines = 0
    next_boundary = chunk_size
    last = b""
    with open(path, "rb") as fh:
        while block := fh.read(block_bytes):
            digest.update(block)
            remaining = block.count(b"\n")
            at = -1
            while newlines + remaining >= next_boundary:
                need = next_boundary - newlines
                for _ in range(need):
                    at = block.find(b"\n", at + 1)
                remaining -= need
                newlines = next_boundary
                boundaries.append(pos + at + 1)
                next_boundary += chunk_size
            newlines += remaining
            pos += len(block)
            last = block[-1:]
            if on_bytes is not None:
                on_bytes(len(block))
    starts = array.array("q", [0] if pos else [])
    starts.extend(b for b in boundaries if b < pos)
    lines = newlines + (1 if pos and last != b"\n" else 0)
    return Plan(size=pos, sha256=digest.hexdigest(), lines=lines, chunk_size=chunk_size, starts=starts)


# --- the model on workers ---------------------------------------------------------------------
_MODELS: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
_MODELS_LOCK = threading.Lock()


def model_path(model_dir: str | None) -> Path:
    """The directory to score with: ``model_dir`` (a directory or a registry version), else the default
    (``FEEDBACK_STRIKE_MODEL_DIR`` or the registry's current model), resolved once on the client so every
    worker loads the same directory even if the pointer moves during the run."""
    if model_dir and not Path(model_dir).is_dir():
        from classifier.registry import Registry

        return Registry().path(model_dir)
    return Path(model_dir) if model_dir else default_model_dir()


def worker_model(model_dir: str | None, expected_files: dict[str, str]) -> Any:
    """This process's model, loaded (checksum-verified) on first use and kept.

    ``expected_files`` are the checksums the client verified: a worker whose model at that path is
    another one (another machine, another release) refuses to score rather than mix verdicts.
    """
    key = (str(model_path(model_dir)), tuple(sorted(expected_files.items())))
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            here = verify(model_path(model_dir))["files"]
            if here != expected_files:
                raise ModelIntegrityError(
                    f"the model at {model_path(model_dir)} on worker {socket.gethostname()} has other checksums "
                    "than the one the client verified; install the same model on every worker")
            model = load_model(model_dir)
            _MODELS.clear()  # one model per process: a new run with another model replaces it
            _MODELS[key] = model
        return model


class ModelPlugin(WorkerPlugin):
    """Load the model when a worker starts (or joins), not in its first task."""

    def __init__(self, model_dir: str | None, expected_files: dict[str, str]) -> None:
        self.model_dir = model_dir
        self.expected_files = expected_files

    def setup(self, worker: Any) -> None:
        worker_model(self.model_dir, self.expected_files)


# --- one chunk, on a worker -------------------------------------------------------------------
@dataclass(frozen=True)
class ChunkJob:
    input: str
    parts: str
    index: int
    start: int
    end: int
    first_line: int
    input_size: int
    model_dir: str | None
    model_files: dict[str, str]
    batch_size: int


def part_paths(parts: Path, index: int) -> tuple[Path, Path]:
    """The chunk's verdicts and its record (line problems, size); the record is written last."""
    return parts / f"{index:08d}.jsonl", parts / f"{index:08d}.json"


def _write_atomically(path: Path, write: Callable[[Any], None], *, binary: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def score_chunk(job: ChunkJob) -> int:
    """Score one byte range into its part file; returns the number of bad lines."""
    from classifier.cli import score_lines

    model = worker_model(job.model_dir, job.model_files)
    delay = float(os.environ.get(DELAY_ENV) or 0)
    if delay:
        time.sleep(delay)
    parts = Path(job.parts)
    try:
        size = os.stat(job.input).st_size
        if not parts.is_dir():
            raise FileNotFoundError(job.parts)
    except FileNotFoundError as exc:
        raise BatchError(f"{exc.filename} is not visible on worker {socket.gethostname()}: the input and the "
                         "output's directory must be on a filesystem every worker shares, at the same path") from None
    if size != job.input_size:
        raise BatchError(f"{job.input} changed size while it was being scored ({job.input_size} -> {size} bytes)")
    with open(job.input, "rb") as fh:
        fh.seek(job.start)
        data = fh.read(job.end - job.start)
    problems: list[tuple[int, str, str]] = []
    data_path, record_path = part_paths(parts, job.index)
    bad = 0

    def write_verdicts(out: Any) -> None:
        nonlocal bad
        bad = score_lines(model, enumerate(io.BytesIO(data), job.first_line), out,
                          batch_size=job.batch_size, on_problem=lambda n, f, m: problems.append((n, f, m)))

    _write_atomically(data_path, write_verdicts)
    record = {"index": job.index, "bytes": data_path.stat().st_size, "bad": bad, "problems": problems}
    _write_atomically(record_path, lambda fh: fh.write(json.dumps(record, ensure_ascii=False)))
    return bad


def part_done(parts: Path, index: int) -> bool:
    """The chunk's verdicts and record are both there and agree (a crash between the two renames redoes it)."""
    data_path, record_path = part_paths(parts, index)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        return bool(record["bytes"] == data_path.stat().st_size)
    except (OSError, ValueError, KeyError, TypeError):
        return False


# --- the run, on the client -------------------------------------------------------------------
@dataclass(frozen=True)
class BatchResult:
    lines: int
    chunks: int
    reused: int
    bad: int
    seconds: float


def _fingerprint(plan: Plan, model_manifest: dict[str, Any]) -> dict[str, Any]:
    return {"format": PARTS_FORMAT,
            "input": {"size": plan.size, "sha256": plan.sha256, "lines": plan.lines},
            "chunk_size": plan.chunk_size, "chunks": len(plan),
            "model": {"version": model_manifest.get("model_version"), "files": model_manifest["files"]}}


def _differences(stored: dict[str, Any], now: dict[str, Any]) -> list[str]:
    out = []
    if stored.get("format") != now["format"]:
        out.append(f"parts format {stored.get('format')} (this code writes {now['format']})")
    if stored.get("input") != now["input"]:
        was = stored.get("input") or {}
        out.append(f"the input changed (was {was.get('size')} bytes, sha256 {str(was.get('sha256'))[:12]}...; "
                    f"is {now['input']['size']} bytes, sha256 {now['input']['sha256'][:12]}...)")
    if stored.get("chunk_size") != now["chunk_size"]:
        out.append(f"chunk size {stored.get('chunk_size')} there, {now['chunk_size']} now")
    if stored.get("model") != now["model"]:
        out.append(f"model {(stored.get('model') or {}).get('version')} there, {now['model']['version']} now "
                   "(or the same version with other checksums)")
    return out


def _open_parts(parts: Path, fingerprint: dict[str, Any], restart: bool) -> None:
    """Create the parts directory, or check that the one there belongs to this input, chunking and model."""
    manifest = parts / MANIFEST
    if parts.exists() and restart:
        shutil.rmtree(parts)
    if parts.exists():
        try:
            stored = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BatchError(f"{parts} exists but its {MANIFEST} cannot be read ({exc}); remove the directory "
                             "or pass --restart") from None
        diff = _differences(stored, fingerprint)
        if diff:
            raise BatchError(f"{parts} holds chunks of another run: {'; '.join(diff)}. Nothing was written; pass "
                             "--restart to discard those chunks, or choose another --output")
        return
    parts.mkdir()
    _write_atomically(manifest, lambda fh: fh.write(json.dumps(fingerprint, indent=2) + "\n"))


@contextmanager
def _dask_client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


def run_batch(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str], *,
              scheduler: str | None = None, chunk_size: int = 10_000, workers: int | None = None,
              model_dir: str | None = None, restart: bool = False, batch_size: int = 1024,
              progress: bool | None = None, on_problem: ProblemSink | None = None,
              log: Callable[[str], None] | None = None) -> BatchResult:
    """Score ``input_path`` into ``output_path`` on Dask; rerun the same call to resume after a crash.

    ``progress=None`` shows tqdm bars only when stderr is a terminal.  ``on_problem(line, field,
    message)`` hears about every bad line, in line order, as the output is assembled.
    """
    from tqdm import tqdm

    started = time.monotonic()
    say = log or (lambda msg: None)
    src = Path(input_path).resolve()
    out = Path(output_path).resolve()
    parts = out.with_name(out.name + ".parts")
    if not src.is_file():
        raise FileNotFoundError(2, "no such file", str(input_path))
    if not out.parent.is_dir():
        raise FileNotFoundError(2, "no such directory", str(out.parent))
    if chunk_size < 1 or batch_size < 1:
        raise BatchError("--chunk-size and --batch-size must be at least 1")
    # Resolved once here (a version name or the registry's pointer), so every worker loads this directory;
    # the client verifies it too: workers must then hold one with exactly these checksums.
    from classifier.registry import RegistryError

    try:
        model_dir = str(model_path(model_dir))
    except RegistryError as exc:
        raise BatchError(f"--model: {exc}") from None
    model_files_manifest = verify(model_dir)
    disable = None if progress is None else not progress
    before = src.stat()
    with tqdm(total=before.st_size, unit="B", unit_scale=True, desc="reading input", disable=disable,
              file=sys.stderr, leave=False) as bar:
        plan = plan_chunks(src, chunk_size, on_bytes=bar.update)
    _open_parts(parts, _fingerprint(plan, model_files_manifest), restart)
    todo = [i for i in range(len(plan)) if not part_done(parts, i)]
    reused = len(plan) - len(todo)
    if reused:
        say(f"resuming: {reused} of {len(plan)} chunks already written in {parts}")
    if todo:
        model_arg = str(Path(model_dir).resolve()) if model_dir else None
        jobs = (ChunkJob(input=str(src), parts=str(parts), index=i, start=plan.byte_range(i)[0],
                         end=plan.byte_range(i)[1], first_line=plan.first_line(i), input_size=plan.size,
                         model_dir=model_arg, model_files=model_files_manifest["files"], batch_size=batch_size)
                for i in todo)
        with tqdm(total=plan.lines, initial=plan.lines - sum(plan.lines_in(i) for i in todo), unit="line",
                  desc="scoring", disable=disable, file=sys.stderr) as bar, \
                _dask_client(scheduler, workers) as client:
            _run_jobs(client, jobs, model_arg, model_files_manifest["files"],
                      lambda i: bar.update(plan.lines_in(i)))
    after = src.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise BatchError(f"{src} changed while it was being scored; its chunks may disagree. Rerun with --restart")
    bad = _assemble(plan, parts, out, on_problem or (lambda n, f, m: None))
    shutil.rmtree(parts)
    result = BatchResult(lines=plan.lines, chunks=len(plan), reused=reused, bad=bad,
                         seconds=round(time.monotonic() - started, 3))
    say(f"scored {result.lines} lines in {result.chunks} chunks ({result.reused} reused) in {result.seconds} s "
        f"-> {out}")
    return result


def _run_jobs(client: Any, jobs: Iterator[ChunkJob], model_dir: str | None, model_files: dict[str, str],
              done: Callable[[int], None]) -> None:
    """Keep a few tasks per worker thread in flight (not one per chunk: the scheduler's memory stays flat)."""
    from distributed import as_completed

    client.register_plugin(ModelPlugin(model_dir, model_files), name="feedback-strike-model")
    threads = sum(client.nthreads().values()) or 1
    run = uuid.uuid4().hex[:8]
    pending = as_completed()
    for job in jobs:
        pending.add(client.submit(score_chunk, job, key=f"feedback-strike-chunk-{run}-{job.index}", pure=False))
        if pending.count() >= 2 * threads:
            break
    for future in pending:
        index = int(future.key.rsplit("-", 1)[1])
        future.result()  # a worker's error (a bad model, an unreadable path) ends the run here
        future.release()
        done(index)
        following = next(jobs, None)
        if following is not None:
            pending.add(client.submit(score_chunk, following, key=f"feedback-strike-chunk-{run}-{following.index}",
                                      pure=False))


def _assemble(plan: Plan, parts: Path, out: Path, on_problem: ProblemSink) -> int:
    """Join the parts in order into ``out`` (temporary name, then rename); report their problems in order."""
    bad = 0

    def join(fh: Any) -> None:
        nonlocal bad
        for i in range(len(plan)):
            data_path, record_path = part_paths(parts, i)
            record = json.loads(record_path.read_text(encoding="utf-8"))
            for n, fld, msg in record["problems"]:
                on_problem(n, fld, msg)
            bad += int(record["bad"])
            with open(data_path, "rb") as src:
                shutil.copyfileobj(src, fh, BLOCK_BYTES)

    for i in range(len(plan)):
        if not part_done(parts, i):
            raise BatchError(f"chunk {i} is missing from {parts} after the run; rerun to score it")
    _write_atomically(out, join, binary=True)
    return bad
