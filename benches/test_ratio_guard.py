"""The CI ratio guard as a test (short mode), for test scripts that prefer pytest:

    .venv/bin/python -m pytest benches/test_ratio_guard.py -p no:cacheprovider

Same as ``.venv/bin/python benches/ratio_guard.py``; writes benches/results/ci-latest.json.
"""

from __future__ import annotations

import ratio_guard


def test_verify_batch_is_not_slower_than_pynacl_loop() -> None:
    report = ratio_guard.run(proofs=1_000, rounds=5)
    guard = report["guard"]
    assert guard["passed"], (
        f"verify_batch is slower than the PyNaCl loop measured in the same run: ratio {guard['ratio']} "
        f"< {guard['min_ratio']} ({report['medians_ns_per_proof']})"
    )
