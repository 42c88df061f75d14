"""The ``feedback-strike`` command line (INTERFACES.md: suggest, serve, train, evaluate; plus batch, data, keys)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_MODEL = 0, 1, 2, 3
EXIT_REFUSED = 4  # models promote/rollback: a refusal that --force would lift
EXIT_START = 4  # serve: the model passed, but the service could not start (e.g. no database)


def _err(msg: str) -> None:
    from tqdm import tqdm

    tqdm.write(f"feedback-strike: {msg}", file=sys.stderr)  # never tears a progress bar being drawn


def _open_in(path: str | None) -> AbstractContextManager[IO[str]]:
    """The file, or stdin, which leaving the ``with`` block must not close (main() runs in notebooks and tests)."""
    return open(path, encoding="utf-8", errors="strict") if path and path != "-" else nullcontext(sys.stdin)


def _open_out(path: str | None) -> AbstractContextManager[IO[str]]:
    return open(path, "w", encoding="utf-8") if path and path != "-" else nullcontext(sys.stdout)


def _load_model(model: str | None) -> Any:
    """``--model``: a model directory or a registry version; none: the registry's current model."""
    from classifier.artifact import ModelIntegrityError, load_model
    from classifier.registry import Registry, RegistryError, UnknownVersion

    try:
        if model is None or Path(model).is_dir():
            return load_model(model)
        return Registry().load(model)
    except UnknownVersion as exc:
        _err(f"--model {model}: not a model directory, and {exc}")
        sys.exit(EXIT_USAGE)
    except (ModelIntegrityError, RegistryError, FileNotFoundError) as exc:
        _err(f"cannot load model: {exc}")
        sys.exit(EXIT_MODEL)


# --- suggest ----------------------------------------------------------------------------
def score_lines(model: Any, lines: Iterable[tuple[int, bytes | str]], out: IO[str], *, batch_size: int,
                on_problem: Callable[[int, str, str], None], on_flush: Callable[[int], object] | None = None) -> int:
    """One verdict per non-blank line, same order; a bad line gets an error object in its place.

    ``lines`` are ``(line number, raw line)``, read by :func:`classifier.jsonl.parse_line` like every
    other reader.  Shared by ``suggest`` and each chunk of ``batch`` so both write the same bytes.
    Returns the number of bad lines; ``on_problem(line, field, message)`` hears about each problem and
    ``on_flush(bytes)`` about the input consumed by each batch written.
    """
    from classifier.jsonl import parse_line
    from classifier.records import RecordError, lone_surrogate, parse_record

    bad = 0
    batch: list[tuple[int, Any]] = []  # (line number, parsed record or error dict)
    batch_bytes = 0

    def flush() -> None:
        nonlocal batch_bytes
        records = [r for _, r in batch if not isinstance(r, dict)]
        verdicts = iter(model.suggest_many(records)) if records else iter(())
        for _, r in batch:
            obj = r if isinstance(r, dict) else next(verdicts).to_dict()
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        out.flush()
        batch.clear()
        if on_flush is not None:
            on_flush(batch_bytes)
        batch_bytes = 0

    for n, raw in lines:
        batch_bytes += len(raw)
        line = parse_line(n, raw)
        if line is None:
            continue
        problems: list[tuple[str, str]] = []
        fid = None
        if line.error:
            problems = [("line", line.error)]
        else:
            obj = line.value
            fid = obj.get("feedback_id") if isinstance(obj, dict) else None
            if isinstance(fid, str) and lone_surrogate(fid) is not None:
                fid = None
            try:
                batch.append((n, parse_record(obj)))
            except RecordError as exc:
                problems = exc.problems
        if problems:
            bad += 1
            for fld, msg in problems:
                on_problem(n, fld, msg)
            batch.append((n, {"feedback_id": fid if isinstance(fid, str) else None, "verdict": None,
                              "error": {"line": n, "problems": [{"field": f, "message": m}
                                                                for f, m in problems]}}))
        if len(batch) >= batch_size:
            flush()
    flush()
    return bad


def _report_problem(n: int, fld: str, msg: str) -> None:
    _err(f"line {n}: {fld}: {msg}")


def _same_file(a: str | None, b: str | None) -> bool:
    return bool(a and b and a != "-" and b != "-" and Path(a).exists() and Path(b).exists() and os.path.samefile(a, b))


def cmd_suggest(args: argparse.Namespace) -> int:
    """One verdict per input line, same order.  A bad line gets an error object in its place."""
    from training.progress import progress_bar

    if _same_file(args.input, args.output):
        _err("--input and --output are the same file; writing would destroy the input")
        return EXIT_USAGE
    model = _load_model(args.model)
    with _open_in(args.input) as fin, _open_out(args.output) as fout:
        source = getattr(fin, "buffer", fin)  # bytes: each line is decoded (and may fail) on its own
        size = os.fstat(fin.fileno()).st_size if args.input and args.input != "-" else None
        with progress_bar(total=size, desc="suggest", unit="B", unit_scale=True, enabled=args.progress) as bar:
            bad = score_lines(model, enumerate(source, 1), fout, batch_size=args.batch_size,
                              on_problem=_report_problem, on_flush=bar.update)
    if bad:
        _err(f"{bad} line(s) could not be scored (see above); their output lines carry an 'error' object")
        return EXIT_BAD_INPUT
    return EXIT_OK


# --- batch --------------------------------------------------------------------------------
def cmd_batch(args: argparse.Namespace) -> int:
    """``suggest`` for files larger than memory, in chunks on a Dask cluster, resumable."""
    from classifier.artifact import ModelIntegrityError
    from classifier.batch import BatchError, run_batch

    if _same_file(args.input, args.output):
        _err("--input and --output are the same file; writing would destroy the input")
        return EXIT_USAGE
    try:
        result = run_batch(args.input, args.output, scheduler=args.scheduler, chunk_size=args.chunk_size,
                           workers=args.workers, model_dir=args.model, restart=args.restart,
                           batch_size=args.batch_size, on_problem=_report_problem, log=_err)
    except ModelIntegrityError as exc:
        _err(f"cannot load model: {exc}")
        return EXIT_MODEL
    except BatchError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted; the chunks written so far are kept: run the same command again to resume")
        return 130
    if result.bad:
        _err(f"{result.bad} line(s) could not be scored (see above); their output lines carry an 'error' object")
        return EXIT_BAD_INPUT
    return EXIT_OK


# --- data ---------------------------------------------------------------------------------
def cmd_data_validate(args: argparse.Namespace) -> int:
    from training.corpus import validate_file

    status = EXIT_OK
    for path in args.files:
        try:
            count, problems = validate_file(path, progress=args.progress)
        except (OSError, UnicodeDecodeError) as exc:
            _err(f"{path}: {exc}")
            status = EXIT_BAD_INPUT
            continue
        for n, msg in problems:
            print(f"{path}:{n}: {msg}")
        print(f"{path}: {count} lines, {len(problems)} problem(s)")
        if problems:
            status = EXIT_BAD_INPUT
    return status


def cmd_data_build(args: argparse.Namespace) -> int:
    from training.build import build

    counts = build(Path(args.raw), Path(args.out), seed=args.seed, progress=args.progress)
    print(json.dumps(counts))
    return EXIT_OK


def cmd_data_stats(args: argparse.Namespace) -> int:
    from training.corpus import corpus_stats, load_corpus

    for path in args.files:
        print(path, json.dumps(corpus_stats(load_corpus(path)), default=dict, ensure_ascii=False))
    return EXIT_OK


# --- train / evaluate ---------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from classifier.registry import Registry, RegistryError
    from training.evaluate import format_report
    from training.train import train

    registry = Registry()
    if args.out is None and (registry.root / args.version).exists():  # say so before minutes of training
        _err(f"version {args.version} already exists in {registry.root}; versions are immutable")
        return EXIT_USAGE
    model, card = train(train_path=Path(args.train), dev_path=Path(args.dev),
                        test_path=Path(args.test) if args.test else None,
                        out_dir=Path(args.out) if args.out else None,
                        version=args.version, seed=args.seed, progress=args.progress)
    for split, rep in card["figures"].items():
        print(format_report(f"{args.version} on {split}", rep))
    if args.out:
        out = Path(args.out)
    else:
        try:
            out = registry.add(model, card)
        except RegistryError as exc:
            _err(str(exc))
            return EXIT_USAGE
    print(f"saved to {out} (thresholds {card['thresholds']}, {card['training_seconds']} s)")
    if not args.out:
        print(f"not current yet: feedback-strike models promote {args.version}")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from training.baseline import KeywordBaseline
    from training.corpus import CorpusError, load_corpus
    from training.evaluate import evaluate, format_report

    try:
        lines = load_corpus(args.data, progress=args.progress)
    except CorpusError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    model = _load_model(args.model)
    models: list[tuple[str, Any]] = [("model " + model.version, model)]
    if args.baseline:
        models.append(("keyword baseline", KeywordBaseline()))
    reports = {}
    for name, scorer in models:  # not `model`: the report below is the model's, never the baseline's
        reports[name] = evaluate(scorer, lines, progress=args.progress)
        print(format_report(f"{name} on {args.data}", reports[name]))
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2) + "\n", encoding="utf-8")
    if args.report:
        from training.report import write_report

        path = write_report(model, lines, args.report, name=str(args.data), progress=args.progress)
        print(f"report written to {path}")
    return EXIT_OK


# --- select -------------------------------------------------------------------------------
def cmd_select(args: argparse.Namespace) -> int:
    """The comments the model is least sure about, as corpus lines for a person to correct."""
    from training.select import read_pool, select

    if _same_file(args.pool, args.output):
        _err("--pool and --output are the same file; writing would destroy the pool")
        return EXIT_USAGE
    pool = read_pool(args.pool)
    for n, msg in pool.problems:
        _err(f"{args.pool}:{n}: {msg}")
    model = _load_model(args.model)
    lines = select(model, pool, n=args.n, strategy=args.strategy, progress=args.progress)
    with _open_out(args.output) as fout:
        for line in lines:
            fout.write(json.dumps(line, ensure_ascii=False) + "\n")
    bad_lines = len({n for n, _ in pool.problems})
    summary = f"picked {len(lines)} of {len(pool.records)} comments by {args.strategy}"
    if pool.repeats:
        summary += f"; {len(pool.repeats)} line(s) repeating an earlier comment left out"
    if bad_lines:
        summary += f"; {bad_lines} invalid line(s) skipped (see above)"
    _err(summary)
    return EXIT_BAD_INPUT if bad_lines else EXIT_OK


# --- models (the registry) -------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    """list / promote / rollback; exit 3 for a refused artifact, 4 for a refusal that --force would lift."""
    from classifier.registry import PromotionRefused, Registry, RegistryError, UnknownVersion

    registry = Registry(args.root)
    try:
        if args.models_command == "list":
            infos = registry.list()
            if not infos:
                print(f"no versions in {registry.root}")
            for info in infos:
                v = info.test_figures
                figures = (f"test: false strikes {v['false_strike_rate']:.2%} ({v['false_strikes']}), "
                           f"recall {v['strike_recall']:.3f}, review {v['needs_review_rate']:.2%}"
                           if v else "no test figures on its card")
                state = f"REFUSED: {info.problem}" if info.problem else figures
                print(f"{'*' if info.current else ' '} {info.version:<24} {state}")
            return EXIT_OK
        change = registry.rollback() if args.models_command == "rollback" else \
            registry.promote(args.version, force=args.force, test_path=args.test)
    except UnknownVersion as exc:
        _err(str(exc))
        return EXIT_USAGE
    except PromotionRefused as exc:
        _err(f"refused: {exc}")
        return EXIT_REFUSED if exc.overridable else EXIT_MODEL
    except RegistryError as exc:
        _err(str(exc))
        return EXIT_REFUSED
    print(change.describe())
    if change.action != "none":
        print(f"{registry.pointer} now names {change.version}; running services switch at their next pointer poll "
              "(or POST /v1/admin/model/reload)")
    return EXIT_OK


# --- serve --------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.observability import configure_logging

    # Refuse a bad model here, with one clear line and exit code 3, before any worker or database starts.
    _load_model(None)
    configure_logging()
    # uvicorn's access log prints raw paths and query strings; ours (JSON, with a request id) does not.
    # A worker spends seconds importing spaCy and scikit-learn and loading the model; uvicorn's default
    # 5 s health check killed and restarted workers in a loop on a busy 2-core machine, hence 30 s.
    try:
        uvicorn.run("service.app:serve_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                    loop="uvloop", http="httptools", log_level="info", access_log=False,
                    timeout_worker_healthcheck=30)
    except SystemExit as exc:
        if exc.code != 3:  # uvicorn's "startup failed"; the model passed above, so something else did
            raise
        _err("the service could not start (see the log above; e.g. the database cannot be reached)")
        return EXIT_START
    return EXIT_OK


# --- keys ---------------------------------------------------------------------------------
def cmd_keys(args: argparse.Namespace) -> int:
    from service import crud
    from service.config import Settings
    from service.db import make_engine, migrate, session_factory, transaction

    engine = make_engine(Settings().database_url)
    migrate(engine)
    sessions = session_factory(engine)
    try:
        with transaction(sessions) as session:
            if args.keys_command == "create":
                row, key = crud.create_key(session=session, role=args.role, name=args.name, seller_id=args.seller_id)
                print(f"created key {row.id} ({row.role}{', seller ' + row.seller_id if row.seller_id else ''}); "
                      "it is shown only now:")
                print(key)
            elif args.keys_command == "revoke":
                row = crud.revoke_key(session=session, key_id=args.id)
                print(f"revoked key {row.id} ({row.name})")
            else:
                for row in crud.list_keys(session=session):
                    state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                    print(f"{row.id:>4}  {row.role:<8}  {row.seller_id or '-':<12}  {state:<18}  {row.name}")
    except (crud.Invalid, crud.NotFound) as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    finally:
        engine.dispose()
    return EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _progress_flags(parser: argparse.ArgumentParser) -> None:
    """``--progress`` / ``--quiet``; neither: bars only on a terminal or in a notebook, never under CI."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_const", const=True, default=None,
                       help="always draw progress bars on stderr")
    group.add_argument("--quiet", dest="progress", action="store_const", const=False,
                       help="never draw progress bars (default: only when stderr is a terminal and CI is unset)")


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="feedback-strike", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("suggest", help="suggest verdicts for JSONL records (stdin -> stdout by default)")
    s.add_argument("--input", help="JSONL file of feedback records (default: stdin)")
    s.add_argument("--output", help="JSONL file for verdicts (default: stdout)")
    s.add_argument("--model", help="model directory or registry version (default: the one models/CURRENT names)")
    s.add_argument("--batch-size", type=int, default=1024, help="records scored per batch (default 1024)")
    _progress_flags(s)
    s.set_defaults(func=cmd_suggest)

    ba = sub.add_parser("batch", help="suggest for files larger than memory on a Dask cluster (resumable)")
    ba.add_argument("--input", required=True, help="JSONL file of feedback records (a file: it is read by ranges)")
    ba.add_argument("--output", required=True, help="JSONL file for verdicts; chunks go to OUTPUT.parts/ meanwhile")
    ba.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local "
                                        "cluster on this machine)")
    ba.add_argument("--workers", type=_positive, help="local cluster only: worker processes (default: one per core)")
    ba.add_argument("--chunk-size", type=_positive, default=10_000, help="input lines per chunk (default 10,000)")
    ba.add_argument("--restart", action="store_true",
                    help="discard chunks left by an earlier run of another input, chunk size or model")
    ba.add_argument("--model", help="model directory (default: the shipped model); the same path on every worker")
    ba.add_argument("--batch-size", type=_positive, default=1024, help="records scored per batch (default 1024)")
    ba.set_defaults(func=cmd_batch)

    d = sub.add_parser("data", help="corpus tools").add_subparsers(dest="data_command", required=True)
    v = d.add_parser("validate", help="check corpus lines: offsets, overlaps, labels, gold verdicts")
    v.add_argument("files", nargs="+")
    _progress_flags(v)
    v.set_defaults(func=cmd_data_validate)
    b = d.add_parser("build", help="rebuild data/{train,dev,test}.jsonl from data/raw")
    b.add_argument("--raw", default="data/raw")
    b.add_argument("--out", default="data")
    b.add_argument("--seed", type=int, default=13)
    _progress_flags(b)
    b.set_defaults(func=cmd_data_build)
    st = d.add_parser("stats", help="counts of comments, spans, labels, languages, verdicts")
    st.add_argument("files", nargs="+")
    st.set_defaults(func=cmd_data_stats)

    t = sub.add_parser("train", help="train, tune thresholds on dev, report on test, save the artifact")
    t.add_argument("--train", default="data/train.jsonl")
    t.add_argument("--dev", default="data/dev.jsonl")
    t.add_argument("--test", default="data/test.jsonl", help="reported only, never tuned on ('' to skip)")
    t.add_argument("--out", help="model directory to write (default: a new version in the registry, models/VERSION)")
    t.add_argument("--version", required=True, help="model version, e.g. 2026.11.26-1")
    t.add_argument("--seed", type=int, default=0)
    _progress_flags(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="figures of the model against a gold corpus file")
    e.add_argument("--data", required=True)
    e.add_argument("--model", help="model directory or registry version (default: the one models/CURRENT names)")
    e.add_argument("--baseline", action="store_true", help="also evaluate the keyword baseline")
    e.add_argument("--json", help="also write the figures as JSON to this file")
    e.add_argument("--report", metavar="DIR", help="also write report.md with plots and the worst errors to DIR")
    _progress_flags(e)
    e.set_defaults(func=cmd_evaluate)

    se = sub.add_parser("select", help="pick the pool comments the model is least sure about, as corpus lines to label")
    se.add_argument("--pool", required=True, help="JSONL of feedback records (or corpus lines) to choose from")
    se.add_argument("--n", type=_positive_int, default=100, help="how many comments to pick (default 100)")
    se.add_argument("--output", help="JSONL file for the picked corpus lines (default: stdout)")
    se.add_argument("--model", help="model directory (default: the shipped model)")
    se.add_argument("--strategy", choices=["margin", "verdict", "disagreement"], default="margin",
                    help="margin: smallest gap between a span's two likeliest labels (default); verdict: strike "
                         "and keep closest to equally likely; disagreement: one span about the marketplace, "
                         "another about the product or the seller")
    _progress_flags(se)
    se.set_defaults(func=cmd_select)

    k = sub.add_parser("keys", help="API keys (stored hashed in the database of DATABASE_URL)")
    ks = k.add_subparsers(dest="keys_command", required=True)
    kc = ks.add_parser("create", help="create a key and print it once")
    kc.add_argument("--role", required=True, choices=["seller", "reviewer", "admin"])
    kc.add_argument("--seller-id", help="the seller a seller key is bound to")
    kc.add_argument("--name", default="unnamed", help="who or what the key is for")
    kr = ks.add_parser("revoke", help="revoke a key by id")
    kr.add_argument("id", type=int)
    ks.add_parser("list", help="list keys (never the keys themselves)")
    k.set_defaults(func=cmd_keys)

    m = sub.add_parser("models", help="the model registry: list versions, promote one, roll back")
    m.add_argument("--root", help="registry directory (default: $FEEDBACK_STRIKE_REGISTRY_DIR or models/)")
    ms = m.add_subparsers(dest="models_command", required=True)
    ms.add_parser("list", help="versions, the current one starred, with their test-split figures")
    mp = ms.add_parser("promote", help="make VERSION current after a smoke test and a false-strike comparison")
    mp.add_argument("version")
    mp.add_argument("--force", action="store_true",
                    help="promote even if its false-strike rate is worse than the current model's")
    mp.add_argument("--test", help="gold file for the false-strike comparison (default: data/test.jsonl)")
    ms.add_parser("rollback", help="make the previously promoted version current again")
    m.set_defaults(func=cmd_models)

    sv = sub.add_parser("serve", help="run the HTTP service on the current model (it follows models/CURRENT)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--workers", type=int, default=1)
    sv.set_defaults(func=cmd_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except FileNotFoundError as exc:
        _err(f"{exc.filename}: no such file")
        return EXIT_USAGE
    except (IsADirectoryError, PermissionError) as exc:
        _err(f"{exc.filename}: {exc.strerror}")
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
