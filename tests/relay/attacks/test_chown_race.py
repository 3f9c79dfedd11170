"""The privilege drop's chown followed intermediate symlinks (issue 13, low).

A relay started as root chowns its data directory to the service user before switching
to it. The directory's contents belong to that user, who can swap a subdirectory for a
symlink to a root-owned place while root walks the tree. Before: the walk listed paths
and chowned them by path, so ``data/sub/file`` resolved through the swapped-in symlink
and root handed the service user a file outside the data directory. Now every entry is
changed relative to its opened, verified parent directory (``cli.chown_tree``).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from proof_messenger.relay.cli import chown_tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")

UID = GID = 54321  # any account but root's


def _racer(data: Path, outside: Path, stop: threading.Event) -> None:
    """Swaps data/sub between the real directory and a symlink to ``outside``."""
    sub, real = data / "sub", data / "sub.real"
    while not stop.is_set():
        try:
            os.rename(sub, real)
            os.symlink(outside, sub)
            os.unlink(sub)
            os.rename(real, sub)
        except OSError:
            pass


def test_a_symlink_swapped_in_during_the_walk_changes_nothing_outside(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "sub").mkdir(parents=True)
    outside.mkdir()
    for i in range(50):  # the names the walk lists inside sub, and that outside has too
        (data / "sub" / f"f{i}").write_text("x")
        (outside / f"f{i}").write_text("root's")
    (data / "link").symlink_to(outside)  # a plain symlink: the link changes, not its target
    stop = threading.Event()
    racer = threading.Thread(target=_racer, args=(data, outside, stop), daemon=True)
    racer.start()
    try:
        deadline = time.monotonic() + 3
        walks = 0
        while time.monotonic() < deadline:
            chown_tree(data, UID, GID)
            walks += 1
    finally:
        stop.set()
        racer.join()
    assert walks > 10
    stolen = [p.name for p in outside.iterdir() if p.stat().st_uid != 0]
    assert stolen == [], f"chowned outside the data directory: {stolen}"
    assert outside.stat().st_uid == 0
    # and the walk did its job inside
    chown_tree(data, UID, GID)
    inside = [data, *data.rglob("*")]
    assert all(os.lstat(p).st_uid == UID for p in inside)
