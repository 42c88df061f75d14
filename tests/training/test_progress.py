"""Progress bars: on in a terminal or notebook, off when stderr is not a terminal or CI is set; flags win."""

import io
import json
import sys
import types
from unittest import mock

import pytest

from classifier import cli
from training import progress
from training.corpus import DATA_DIR


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Closed(io.StringIO):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


@pytest.mark.parametrize(
    "explicit,env,stream,expected",
    [
        (None, {}, Terminal(), True),
        (None, {}, io.StringIO(), False),  # redirected: a log file, a pipe, pytest
        (None, {}, Closed(), False),
        (None, {}, object(), False),  # no isatty at all
        (None, {"CI": "true"}, Terminal(), False),
        (None, {"CI": "1"}, Terminal(), False),
        (None, {"CI": "false"}, Terminal(), True),
        (None, {"CI": "0"}, Terminal(), True),
        (None, {"CI": ""}, Terminal(), True),
        (True, {"CI": "true"}, io.StringIO(), True),  # --progress wins
        (False, {}, Terminal(), False),  # --quiet wins
    ],
)
def test_progress_enabled(explicit, env, stream, expected):
    assert progress.progress_enabled(explicit, environ=env, stream=stream) is expected


def fake_ipython(config):
    shell = types.SimpleNamespace(config=config)
    return types.SimpleNamespace(get_ipython=lambda: shell)


def test_a_notebook_kernel_gets_bars_although_its_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython({"IPKernelApp": {}}))
    assert progress.in_notebook()
    assert progress.progress_enabled(environ={}, stream=io.StringIO())
    assert not progress.progress_enabled(environ={"CI": "true"}, stream=io.StringIO())


def test_a_terminal_ipython_or_a_broken_one_is_not_a_notebook(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython({}))
    assert not progress.in_notebook()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert not progress.in_notebook()

    def boom():
        raise RuntimeError("half initialised")

    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=boom))
    assert not progress.in_notebook()


def test_the_environment_decides_when_nothing_is_passed(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.delenv("CI", raising=False)
    assert progress.progress_enabled()
    monkeypatch.setenv("CI", "true")
    assert not progress.progress_enabled()


def test_a_disabled_bar_is_a_silent_no_op(capsys):
    with progress.progress_bar(total=3, desc="work", enabled=False) as bar:
        bar.update(3)
    assert list(progress.progress_bar(range(3), enabled=False)) == [0, 1, 2]
    progress.message("hello", enabled=False)
    assert capsys.readouterr().err == ""


@pytest.fixture()
def pool(tmp_path):
    path = tmp_path / "pool.jsonl"
    lines = (DATA_DIR / "dev.jsonl").read_text(encoding="utf-8").splitlines()[:30]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("flags,shown", [(["--progress"], True), (["--quiet"], False), ([], False)])
def test_data_validate_draws_a_bar_only_when_asked_or_on_a_terminal(pool, capsys, monkeypatch, flags, shown):
    monkeypatch.delenv("CI", raising=False)
    assert cli.main(["data", "validate", str(pool), *flags]) == 0
    out = capsys.readouterr()
    assert ("checking pool.jsonl" in out.err) is shown, out.err  # pytest's stderr is not a terminal
    assert out.out == f"{pool}: 30 lines, 0 problem(s)\n", "bars never mix with the output"


def test_suggest_and_evaluate_draw_bars_on_a_terminal_but_not_under_ci(shipped_model, pool, monkeypatch, tmp_path):
    monkeypatch.delenv("CI", raising=False)
    for ci, shown in ((None, True), ("true", False)):
        if ci:
            monkeypatch.setenv("CI", ci)
        err = Terminal()
        monkeypatch.setattr(sys, "stderr", err)
        with mock.patch.object(cli, "_load_model", return_value=shipped_model):
            assert cli.main(["suggest", "--input", str(pool), "--output", str(tmp_path / "v.jsonl")]) == 0
            assert cli.main(["evaluate", "--data", str(pool), "--json", str(tmp_path / "e.json")]) == 0
        assert ("suggest" in err.getvalue()) is shown and ("evaluating" in err.getvalue()) is shown, err.getvalue()
    assert json.loads((tmp_path / "e.json").read_text())


def test_progress_and_quiet_together_are_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        cli.main(["suggest", "--progress", "--quiet"])
    assert exc.value.code == 2
