"""The shipped word forms are what the lemmatiser gives for the shipped term lists today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_word_forms_file_is_up_to_date() -> None:
    pytest.importorskip("simplemma")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_word_forms.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
