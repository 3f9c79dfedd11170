"""A decision: the relay's verdict on one proof, as the event, audit and HTTP
layers see it. Built by the pipeline; never carries secrets (no signature, no
credentials).

:class:`Decision` is native (``proof_messenger._core``): a request group's
decisions are built from the core's results in one call
(``Decision.from_results``) and the group writers (audit entries, decision-log
lines, verdicts) read their fields in place, so no Python object is made per
field on the hot path. From Python it reads and writes like a dataclass.

>>> d = Decision(valid=False, code="bad_signature", detail="signature does not verify",
...              audience="bank", decided_at_ms=1, client_id="cli_1")
>>> d.verdict()["code"]
'bad_signature'
>>> d.receipt_id = "rcpt_1"; d.verdict()["receiptId"], d.valid
('rcpt_1', False)
"""

from __future__ import annotations

from proof_messenger._core import Decision

__all__ = ["Decision"]
