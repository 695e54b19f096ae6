"""The product path (training/*.py) imports only itself, never training/experiments/, and the studies that were not
served are gone from it (they are kept at the git tag studies-2026-12; training/EXPERIMENTS.md)."""

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

TRAINING = ROOT / "training"
PRODUCT = sorted(path.stem for path in TRAINING.glob("*.py") if path.stem != "__init__")
STUDIES = ("head_probe", "scale_probe", "rule_sweep", "sharpness", "compare", "distill", "soup", "wise_ft", "mixstyle",
           "low_pass", "decision", "calibrate", "melanoma_alarm", "report")
"""Modules of training/ at studies-2026-12 that were studies, or were merged into rule.py and renamed bundle.py."""


def training_imports(path: Path) -> set[str]:
    """Every `training.X...` module that a file imports, anywhere in it (inside functions too), as "X..."."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "training" else [f"training.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name.removeprefix("training.") for name in names if name.startswith("training."))
    return found


@pytest.mark.parametrize("module", PRODUCT)
def test_product_module_imports_only_the_product_path(module):
    imported = training_imports(TRAINING / f"{module}.py")
    assert not {name for name in imported if name.split(".")[0] == "experiments"}, f"training/{module}.py imports a study"
    assert {name.split(".")[0] for name in imported} <= set(PRODUCT), f"training/{module}.py imports {imported - set(PRODUCT)}"


def test_the_walk_sees_every_form_of_import(tmp_path):
    """The check above can fail: each way of writing an import of a study is found."""
    source = tmp_path / "module.py"
    source.write_text("import training.experiments.compare\nfrom training.experiments import compare\n"
                      "from training import experiments, rule\n\ndef f():\n    from training.experiments.compare import load_run\n")
    assert training_imports(source) == {"experiments.compare", "experiments", "rule", "experiments.compare"}


def test_studies_are_out_of_the_product_path():
    assert not [name for name in STUDIES if (TRAINING / f"{name}.py").exists()]
    assert not (TRAINING / "candidates.sh").exists()
