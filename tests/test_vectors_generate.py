"""tests/vectors/generate.py reproduces the committed vectors byte for byte.

The generator is run into a temporary directory (``--out``) and every file it
writes is compared with the file of the same name in tests/vectors/: a vector
edited by hand, or a generator changed without regenerating, fails here.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

VECTORS = Path(__file__).resolve().parent / "vectors"
GENERATED = ["canonical_v1.json", "ed25519_edge.json", "proof_v1.json", "rfc8032.json"]


def test_generator_reproduces_the_committed_vectors(tmp_path: Path) -> None:
    out = tmp_path / "vectors"
    run = subprocess.run(
        [sys.executable, str(VECTORS / "generate.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == GENERATED  # a new output file must be listed (and committed)
    for name in written:
        ours, committed = (out / name).read_bytes(), (VECTORS / name).read_bytes()
        if ours != committed:
            diff = difflib.unified_diff(
                committed.decode().splitlines(),
                ours.decode().splitlines(),
                f"tests/vectors/{name}",
                f"generated/{name}",
                lineterm="",
                n=1,
            )
            raise AssertionError(
                f"{name} differs from the generator's output:\n" + "\n".join(list(diff)[:40])
            )
