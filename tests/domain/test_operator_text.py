"""What vCenter shows carries no lab reason code.

Reason codes (``untrusted_base_image`` ...) are the lab's API: traces, scenario files,
``explain``. The Recent Tasks errors and the attestation messages an operator reads used
to carry them (``... trusted key provider (untrusted_base_image: host esx-01 is not
attested: untrusted_base_image: Host esx-01 booted ...)``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import vtalab
from vtalab.domain.reasons import Reason, operator_text

GOLDEN = Path(vtalab.__file__).parent / "data" / "scenarios"
CODES = re.compile(r"\b(?:" + "|".join(r.value for r in Reason) + r")\b")


@pytest.mark.parametrize("text,shown", [
    ("untrusted_base_image: Host esx-03 booted an ESXi version that is not a trusted base "
     "image.", "Host esx-03 booted an ESXi version that is not a trusted base image."),
    ("host esx-01 is not attested: untrusted_base_image: Host esx-01 booted X; "
     "token_expired: The token expired.",
     "host esx-01 is not attested: Host esx-01 booted X; The token expired."),
    ("host: esx-01 is down", "host: esx-01 is down"),  # not a reason code: kept
    ("the kms_unreachable_x: y", "the kms_unreachable_x: y"),  # only whole codes
    ("untrusted_base_image", "untrusted_base_image"),  # a bare code is not a prefix
])
def test_operator_text_drops_reason_code_prefixes(text: str, shown: str) -> None:
    assert operator_text(text) == shown


def test_no_recent_task_error_in_a_golden_transcript_names_a_reason_code() -> None:
    lines = [line for path in sorted(GOLDEN.glob("**/golden/*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines()
             if "Recent Tasks:" in line and "failed:" in line]
    assert lines, "no failed Recent Task in any golden transcript"
    leaks = [line for line in lines if CODES.search(line.split("failed:", 1)[1])]
    assert not leaks, leaks[:3]
