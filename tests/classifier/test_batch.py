"""`feedback-strike batch` on a LocalCluster of 2 workers: the bytes of `suggest`, crash and resume, changed input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.artifact import ModelIntegrityError, verify
from classifier.batch import DELAY_ENV, plan_chunks, run_batch, worker_model
from classifier.cli import main
from tests.helpers import shipped_model_dir

REPO = Path(__file__).resolve().parents[2]
GOOD = {"feedback_id": "fb-x", "rating": 1, "comment": "Paketet kom aldrig fram", "fulfillment_channel": "AFN"}
BAD_LINES = [
    b"{not json",
    b'{"feedback_id": "bad-utf8", "rating": 1, "comment": "\xff\xfe", "fulfillment_channel": "AFN"}',
    json.dumps(dict(GOOD, feedback_id="bad-rating", rating=0)).encode(),
    json.dumps(dict(GOOD, feedback_id="bad-channel", fulfillment_channel="XYZ")).encode(),
    b"",
    b"   ",
    json.dumps(dict(GOOD, feedback_id="crlf")).encode() + b"\r",
]


def make_input(path: Path, n_good: int, *, every: int = 23) -> Path:
    """Real dev-split records with a bad or blank line every ``every`` lines and no final newline."""
    good = (REPO / "data" / "dev.jsonl").read_bytes().splitlines()[:n_good]
    lines: list[bytes] = []
    for i, line in enumerate(good):
        lines.append(line)
        if i % every == every - 1:
            lines.append(BAD_LINES[(i // every) % len(BAD_LINES)])
    path.write_bytes(b"\n".join(lines))  # the last line has no "\n", as files often end
    return path


def suggest(src: Path, dst: Path, capsys) -> tuple[int, bytes, list[str]]:
    capsys.readouterr()
    code = main(["suggest", "--input", str(src), "--output", str(dst)])
    err = capsys.readouterr().err
    return code, dst.read_bytes(), [x for x in err.splitlines() if ": line " in x]


@pytest.fixture(scope="module")
def scheduler():
    """One LocalCluster (2 worker processes, 1 thread each) shared by the tests that pass --scheduler."""
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


# --- planning ----------------------------------------------------------------------------------
def naive_starts(data: bytes, chunk_size: int) -> list[int]:
    offsets, pos = [], 0
    for i, line in enumerate(data.split(b"\n")):
        if i % chunk_size == 0 and pos < len(data):
            offsets.append(pos)
        pos += len(line) + 1
    return offsets


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.binary(max_size=6).map(lambda b: b.replace(b"\n", b"")), max_size=40),
       trailing=st.booleans(), chunk_size=st.integers(1, 7), block=st.integers(1, 17))
def test_plan_finds_each_chunks_first_byte_across_block_edges(tmp_path_factory, lines, trailing, chunk_size, block):
    data = b"\n".join(lines) + (b"\n" if trailing and lines else b"")
    path = tmp_path_factory.mktemp("plan") / "in.jsonl"
    path.write_bytes(data)
    plan = plan_chunks(path, chunk_size, block_bytes=block)
    assert list(plan.starts) == naive_starts(data, chunk_size)
    assert plan.lines == (len(data.split(b"\n")) - (1 if data.endswith(b"\n") else 0) if data else 0)
    assert plan.sha256 == hashlib.sha256(data).hexdigest() and plan.size == len(data)
    pieces = [data[slice(*plan.byte_range(i))] for i in range(len(plan))]
    assert b"".join(pieces) == data
    for i, piece in enumerate(pieces):
        assert len(piece.split(b"\n")) - (1 if piece.endswith(b"\n") else 0) == plan.lines_in(i)


def test_planning_a_large_file_holds_one_block_not_the_file(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps(GOOD).encode() + b"\n"
    with open(path, "wb") as fh:
        for _ in range(40):
            fh.write(line * 10_000)  # 40 x 10,000 lines, about 31 MB
    tracemalloc.start()
    try:
        plan = plan_chunks(path, 1_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plan.lines == 400_000 and len(plan) == 400
    assert peak < 3 * (1 << 20), f"planning held {peak / 2**20:.1f} MiB for a {plan.size / 2**20:.0f} MiB file"


# --- the model on workers ----------------------------------------------------------------------
def test_a_worker_refuses_a_model_other_than_the_one_the_client_verified(tmp_path):
    files = verify(shipped_model_dir())["files"]
    with pytest.raises(ModelIntegrityError, match="other checksums"):
        worker_model(str(shipped_model_dir()), {**files, "model.joblib": "0" * 64})
    tampered = tmp_path / "model"
    shutil.copytree(shipped_model_dir(), tampered)
    with open(tampered / "model.joblib", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        worker_model(str(tampered), files)


def test_batch_refuses_a_tampered_model_before_scoring(tmp_path, capsys):
    tampered = tmp_path / "model"
    shutil.copytree(shipped_model_dir(), tampered)
    (tampered / "card.json").write_text("{}", encoding="utf-8")
    src = make_input(tmp_path / "in.jsonl", 10)
    code = main(["batch", "--input", str(src), "--output", str(tmp_path / "out.jsonl"), "--model", str(tampered),
                 "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 3 and "checksum mismatch" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out.jsonl.parts").exists()


# --- on the cluster ----------------------------------------------------------------------------
def test_batch_writes_exactly_what_suggest_writes(tmp_path, capsys, scheduler):
    src = make_input(tmp_path / "in.jsonl", 400)
    code_s, want, problems_s = suggest(src, tmp_path / "suggest.jsonl", capsys)
    assert code_s == 1 and len(problems_s) >= 10, "the input holds bad lines of several kinds"
    out = tmp_path / "batch.jsonl"
    code_b = main(["batch", "--input", str(src), "--output", str(out), "--scheduler", scheduler,
                   "--chunk-size", "37", "--batch-size", "16"])
    err = capsys.readouterr().err
    assert code_b == code_s
    assert out.read_bytes() == want
    assert [x for x in err.splitlines() if ": line " in x] == problems_s, "the same messages, in line order"
    assert "in 12 chunks (0 reused)" in err
    assert not (tmp_path / "batch.jsonl.parts").exists(), "the parts are removed once the output is whole"


def group_alive(pgid: int) -> list[int]:
    """Processes of the group that still run (zombies waiting for their parent do not count)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(entry.name))
    return alive


def test_a_run_killed_midway_resumes_to_the_complete_ordered_output(tmp_path, capsys, scheduler):
    src = make_input(tmp_path / "in.jsonl", 300)
    _, want, _ = suggest(src, tmp_path / "suggest.jsonl", capsys)
    out, parts = tmp_path / "out.jsonl", tmp_path / "out.jsonl.parts"
    env = {**os.environ, DELAY_ENV: "0.4"}  # each chunk waits, so the kill lands midway
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "classifier.cli", "batch", "--input", str(src), "--output",
                                 str(out), "--chunk-size", "10", "--workers", "2"], env=env, stdout=err, stderr=err,
                                start_new_session=True)  # its own process group: the cluster's workers die with it
        try:
            deadline = time.monotonic() + 180
            while len(list(parts.glob("*.json"))) < 5 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    for _ in range(100):
        if not group_alive(proc.pid):
            break
        time.sleep(0.1)
    assert not group_alive(proc.pid), "every worker of the killed run is gone"
    total = len(plan_chunks(src, 10))
    written = len([p for p in parts.glob("*.json") if p.name != "manifest.json"])
    assert 4 <= written < total, f"the kill came midway ({written} of {total} chunks written)"
    assert not out.exists()
    assert b"%|" not in (tmp_path / "stderr.txt").read_bytes(), "no progress bar when stderr is not a terminal"

    code = main(["batch", "--input", str(src), "--output", str(out), "--chunk-size", "10", "--scheduler", scheduler])
    err = capsys.readouterr().err
    assert code == 1  # the input holds bad lines
    assert f"resuming: {written} of {total} chunks already written" in err
    assert out.read_bytes() == want, "every input line exactly once, in order"
    assert not parts.exists()


class Crash(Exception):
    pass


def crash(*_: object) -> None:
    raise Crash


def test_a_changed_input_is_refused_on_resume_instead_of_mixing_outputs(tmp_path, capsys, scheduler):
    src = make_input(tmp_path / "in.jsonl", 120)
    out, parts = tmp_path / "out.jsonl", tmp_path / "out.jsonl.parts"
    # Crash while joining the parts (the first bad line's report raises): every part is written, no output.
    with pytest.raises(Crash):
        run_batch(src, out, scheduler=scheduler, chunk_size=25, on_problem=crash)
    assert not out.exists() and len(list(parts.glob("*.jsonl"))) == 5
    snapshot = {p.name: p.read_bytes() for p in parts.iterdir()}

    # The same input resumes with nothing left to score: no cluster is even reached.
    result = run_batch(src, out, scheduler="tcp://127.0.0.1:9", chunk_size=25)
    assert (result.reused, result.chunks) == (5, 5)
    _, want, _ = suggest(src, tmp_path / "suggest.jsonl", capsys)
    assert out.read_bytes() == want
    out.unlink()

    with pytest.raises(Crash):
        run_batch(src, out, scheduler=scheduler, chunk_size=25, on_problem=crash)
    data = src.read_bytes()
    i = data.index(b'"comment": "') + len(b'"comment": "')
    assert data[i:i + 1].isalpha()
    src.write_bytes(data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:])  # one letter's case, same size
    code = main(["batch", "--input", str(src), "--output", str(out), "--chunk-size", "25", "--scheduler", scheduler])
    err = capsys.readouterr().err
    assert code == 2 and "the input changed" in err and "--restart" in err
    assert not out.exists()
    assert {p.name: p.read_bytes() for p in parts.iterdir()} == snapshot, "the old parts are left untouched"

    src.write_bytes(data)  # the original again, but another chunk size
    code = main(["batch", "--input", str(src), "--output", str(out), "--chunk-size", "30", "--scheduler", scheduler])
    assert code == 2 and "chunk size 25 there, 30 now" in capsys.readouterr().err
    assert not out.exists()

    src.write_bytes(data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:])
    code = main(["batch", "--input", str(src), "--output", str(out), "--chunk-size", "25", "--scheduler", scheduler,
                 "--restart"])
    assert code == 1
    _, want_changed, _ = suggest(src, tmp_path / "suggest.jsonl", capsys)
    assert out.read_bytes() == want_changed != want
