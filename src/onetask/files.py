"""The embedded mode's files are readable by the server's user alone, whatever the umask:
the data directory it creates is 0700; the SQLite database, its WAL and shared-memory
files and the generated secret are 0600."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("onetask")

_OTHERS = stat.S_IRWXG | stat.S_IRWXO
_warned: set[Path] = set()


def ensure_private_dir(path: Path) -> None:
    """Create `path` 0700; an existing one is left as it is (it may be the user's own
    directory, `ONETASK_DATA_DIR=.` say), with a warning if others may read it."""
    if path.is_dir():
        _warn_if_shared(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:  # another process made it meanwhile: its choice stands
        _warn_if_shared(path)
        return
    path.chmod(0o700)  # in case the umask took owner bits away


def create_private(path: Path) -> None:
    """Create an empty file 0600 unless it exists (SQLite then gives its WAL, shared-memory
    and journal files the database file's mode); an existing one is `tighten`ed."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        tighten(path)


def write_private(path: Path, text: str) -> None:
    """Write a new file that is 0600 from its creation, never readable by others."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def tighten(path: Path) -> None:
    """Make a file the server made (earlier versions left them 0644) 0600, saying so."""
    try:
        mode = path.stat().st_mode
        if mode & _OTHERS:
            path.chmod(0o600)
            log.warning("%s was readable by other users; it is now 0600", path)
    except FileNotFoundError:
        pass
    except OSError as exc:  # not ours to change (another owner, a read-only mount)
        log.warning("%s is readable by other users and could not be made 0600: %s", path, exc)


def _warn_if_shared(path: Path) -> None:
    if path in _warned or not path.stat().st_mode & _OTHERS:
        return
    _warned.add(path)
    log.warning(
        "the data directory %s can be read by other users; the database is 0600, but "
        "consider `chmod 700 %s`",
        path,
        path,
    )
