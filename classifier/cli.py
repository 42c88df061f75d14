"""The ``feedback-strike`` command line (INTERFACES.md: suggest, serve, train, evaluate; plus data)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_MODEL, EXIT_START = 0, 1, 2, 3, 4


def _err(msg: str) -> None:
    print(f"feedback-strike: {msg}", file=sys.stderr)


def _open_in(path: str | None) -> IO[str]:
    return open(path, encoding="utf-8", errors="strict") if path and path != "-" else sys.stdin


def _open_out(path: str | None) -> IO[str]:
    return open(path, "w", encoding="utf-8") if path and path != "-" else sys.stdout


def _lines(fh: IO[str]) -> Iterator[tuple[int, str | None, str | None]]:
    """``(line_number, text, decode_error)``; undecodable bytes are reported, never crash."""
    buffer = getattr(fh, "buffer", None)
    source = buffer if buffer is not None else fh
    for n, raw in enumerate(source, 1):
        if isinstance(raw, bytes):
            try:
                yield n, raw.decode("utf-8"), None
            except UnicodeDecodeError as exc:
                yield n, None, f"not valid UTF-8 at byte {exc.start}"
        else:
            yield n, raw, None


def _load_model(model_dir: str | None) -> Any:
    from classifier.artifact import ModelIntegrityError, load_model

    try:
        return load_model(model_dir)
    except (ModelIntegrityError, FileNotFoundError) as exc:
        _err(f"cannot load model: {exc}")
        sys.exit(EXIT_MODEL)


# --- suggest ----------------------------------------------------------------------------
def cmd_suggest(args: argparse.Namespace) -> int:
    """One verdict per input line, same order.  A bad line gets an error object in its place."""
    from classifier.records import RecordError, lone_surrogate, parse_record

    if args.input and args.output and Path(args.output).exists() and Path(args.input).exists() \
            and os.path.samefile(args.input, args.output):
        _err("--input and --output are the same file; writing would destroy the input")
        return EXIT_USAGE
    model = _load_model(args.model)
    bad = 0
    batch: list[tuple[int, Any]] = []  # (line number, parsed record or error dict)

    def flush(out: IO[str]) -> None:
        records = [r for _, r in batch if not isinstance(r, dict)]
        verdicts = iter(model.suggest_many(records)) if records else iter(())
        for _, r in batch:
            obj = r if isinstance(r, dict) else next(verdicts).to_dict()
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        out.flush()
        batch.clear()

    with _open_in(args.input) as fin, _open_out(args.output) as fout:
        for n, text, decode_error in _lines(fin):
            problems: list[tuple[str, str]] = []
            fid = None
            if decode_error:
                problems = [("line", decode_error)]
            elif text is not None and not text.strip():
                continue
            else:
                try:
                    obj = json.loads(text or "")
                except json.JSONDecodeError as exc:
                    problems = [("line", f"invalid JSON: {exc.msg} at column {exc.colno}")]
                except (ValueError, RecursionError) as exc:  # e.g. 5,000-digit numbers, 200,000 nested [
                    problems = [("line", f"unreadable JSON: {type(exc).__name__}")]
                else:
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
                    _err(f"line {n}: {fld}: {msg}")
                batch.append((n, {"feedback_id": fid if isinstance(fid, str) else None, "verdict": None,
                                  "error": {"line": n, "problems": [{"field": f, "message": m}
                                                                    for f, m in problems]}}))
            if len(batch) >= args.batch_size:
                flush(fout)
        flush(fout)
    if bad:
        _err(f"{bad} line(s) could not be scored (see above); their output lines carry an 'error' object")
        return EXIT_BAD_INPUT
    return EXIT_OK


# --- data ---------------------------------------------------------------------------------
def cmd_data_validate(args: argparse.Namespace) -> int:
    from training.corpus import validate_file

    status = EXIT_OK
    for path in args.files:
        try:
            count, problems = validate_file(path)
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

    counts = build(Path(args.raw), Path(args.out), seed=args.seed)
    print(json.dumps(counts))
    return EXIT_OK


def cmd_data_stats(args: argparse.Namespace) -> int:
    from training.corpus import corpus_stats, load_corpus

    for path in args.files:
        print(path, json.dumps(corpus_stats(load_corpus(path)), default=dict, ensure_ascii=False))
    return EXIT_OK


# --- train / evaluate ---------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from training.evaluate import format_report
    from training.train import train

    _, card = train(train_path=Path(args.train), dev_path=Path(args.dev),
                    test_path=Path(args.test) if args.test else None, out_dir=Path(args.out),
                    version=args.version, seed=args.seed, progress=True)
    for split, rep in card["figures"].items():
        print(format_report(f"{args.version} on {split}", rep))
    print(f"saved to {args.out} (thresholds {card['thresholds']}, {card['training_seconds']} s)")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from training.baseline import KeywordBaseline
    from training.corpus import CorpusError, load_corpus
    from training.evaluate import evaluate, format_report

    try:
        lines = load_corpus(args.data)
    except CorpusError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    model = _load_model(args.model)
    models: list[tuple[str, Any]] = [("model " + model.version, model)]
    if args.baseline:
        models.append(("keyword baseline", KeywordBaseline()))
    reports = {}
    for name, model in models:
        reports[name] = evaluate(model, lines)
        print(format_report(f"{name} on {args.data}", reports[name]))
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2) + "\n", encoding="utf-8")
    if args.report:
        from training.report import write_report

        path = write_report(model, lines, args.report, name=str(args.data))
        print(f"report written to {path}")
    return EXIT_OK


# --- serve --------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.observability import configure_logging

    # Refuse a bad model here, with one clear line and exit code 3, before any worker or database starts.
    _load_model(None)
    configure_logging()
    # uvicorn's access log prints raw paths and query strings; ours (JSON, with a request id) does not.
    try:
        uvicorn.run("service.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                    loop="uvloop", http="httptools", log_level="info", access_log=False)
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="feedback-strike", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("suggest", help="suggest verdicts for JSONL records (stdin -> stdout by default)")
    s.add_argument("--input", help="JSONL file of feedback records (default: stdin)")
    s.add_argument("--output", help="JSONL file for verdicts (default: stdout)")
    s.add_argument("--model", help="model directory (default: the shipped model)")
    s.add_argument("--batch-size", type=int, default=1024, help="records scored per batch (default 1024)")
    s.set_defaults(func=cmd_suggest)

    d = sub.add_parser("data", help="corpus tools").add_subparsers(dest="data_command", required=True)
    v = d.add_parser("validate", help="check corpus lines: offsets, overlaps, labels, gold verdicts")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=cmd_data_validate)
    b = d.add_parser("build", help="rebuild data/{train,dev,test}.jsonl from data/raw")
    b.add_argument("--raw", default="data/raw")
    b.add_argument("--out", default="data")
    b.add_argument("--seed", type=int, default=13)
    b.set_defaults(func=cmd_data_build)
    st = d.add_parser("stats", help="counts of comments, spans, labels, languages, verdicts")
    st.add_argument("files", nargs="+")
    st.set_defaults(func=cmd_data_stats)

    t = sub.add_parser("train", help="train, tune thresholds on dev, report on test, save the artifact")
    t.add_argument("--train", default="data/train.jsonl")
    t.add_argument("--dev", default="data/dev.jsonl")
    t.add_argument("--test", default="data/test.jsonl", help="reported only, never tuned on ('' to skip)")
    t.add_argument("--out", required=True, help="model directory to write")
    t.add_argument("--version", required=True, help="model version, e.g. 2026.11.26-1")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="figures of the model against a gold corpus file")
    e.add_argument("--data", required=True)
    e.add_argument("--model", help="model directory (default: the shipped model)")
    e.add_argument("--baseline", action="store_true", help="also evaluate the keyword baseline")
    e.add_argument("--json", help="also write the figures as JSON to this file")
    e.add_argument("--report", metavar="DIR", help="also write report.md with plots and the worst errors to DIR")
    e.set_defaults(func=cmd_evaluate)

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

    sv = sub.add_parser("serve", help="run the HTTP service on the shipped model")
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
