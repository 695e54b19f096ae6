"""Shared fixtures. Nothing here needs ../shared or the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
TINY_DATASET = FIXTURES / "ham10000_tiny"
EXAMPLES = ROOT / "examples"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete, tiny training run on the committed fixture: 1 head epoch, 1 fine-tuning epoch, every stage."""
    from training import train

    output = tmp_path_factory.mktemp("run")
    train.main([
        "--dataset", str(TINY_DATASET), "--output-dir", str(output), "--head-epochs", "1", "--finetune-epochs", "1",
        "--batch-size", "8", "--validation-fraction", "0.25", "--test-fraction", "0.25", "--cache-dir", "none",
    ])
    return output
