import json

import pytest

from lesion.bundle import BUNDLED_DIR
from lesion.labels import BY_CODE, CODES, DIAGNOSES, DISPLAY_NAMES, check_codes


def test_the_seven_ham10000_codes_in_alphabetical_order():
    assert CODES == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    assert len(DIAGNOSES) == len(DISPLAY_NAMES) == len(BY_CODE) == 7


def test_display_names_show_the_code():
    assert BY_CODE["mel"].display_name == "Melanoma (mel)"
    assert all(name.endswith(f"({code})") for code, name in zip(CODES, DISPLAY_NAMES))


def test_bundled_model_carries_the_same_labels():
    config = json.loads((BUNDLED_DIR / "config.json").read_text())
    assert tuple(config["labels"]) == CODES
    assert tuple(config["display_names"]) == DISPLAY_NAMES


def test_examples_use_the_same_codes():
    from app import load_examples

    assert {dx for _, dx in load_examples()} == set(CODES)


def test_check_codes_rejects_another_order():
    with pytest.raises(ValueError, match="differs"):
        check_codes(reversed(CODES))
