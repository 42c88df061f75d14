"""Progress bars for long work (training, evaluation, selection, data tools), with tqdm.

``tqdm.auto`` draws a widget in a Jupyter notebook and a text bar on a terminal.  Bars are on
when the work runs in a notebook or stderr is a terminal, and off when stderr is redirected
(logs, pipes, pytest) or the ``CI`` environment variable is set; an explicit ``True``/``False``
(the CLI's ``--progress`` / ``--quiet``) always wins.

>>> from training.progress import progress_bar
>>> for chunk in progress_bar(range(3), desc="work", enabled=False):
...     pass
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import IO, Any

from tqdm.auto import tqdm

FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def in_notebook() -> bool:
    """True inside a Jupyter kernel (the test tqdm.auto uses too); never imports IPython itself."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
        return shell is not None and "IPKernelApp" in getattr(shell, "config", {})
    except Exception:  # a half-initialised IPython must never break the work itself
        return False


def _is_tty(stream: IO[str] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_enabled(explicit: bool | None = None, *, environ: Mapping[str, str] | None = None,
                     stream: IO[str] | None = None) -> bool:
    """Whether to draw bars: ``explicit`` if given, else off under CI, else on in a notebook or a terminal."""
    if explicit is not None:
        return bool(explicit)
    env = os.environ if environ is None else environ
    if env.get("CI", "").strip().lower() not in FALSE_WORDS:
        return False
    return in_notebook() or _is_tty(sys.stderr if stream is None else stream)


def progress_bar(iterable: Iterable[Any] | None = None, *, total: float | None = None, desc: str | None = None,
                 unit: str = "it", enabled: bool | None = None, **kwargs: Any) -> Any:
    """A ``tqdm.auto`` bar on stderr, disabled unless :func:`progress_enabled` says otherwise.

    A disabled bar still iterates, updates and closes as a no-op, so callers never branch on it."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not progress_enabled(enabled),
                file=sys.stderr, leave=False, dynamic_ncols=True, **kwargs)


def message(text: str, *, enabled: bool | None = None) -> None:
    """A line on stderr that does not tear a bar that is being drawn (shown only when bars are on)."""
    if progress_enabled(enabled):
        tqdm.write(text, file=sys.stderr)
