"""The recipe comparison (training/experiments/compare.py): one row per finished run, the served figures beside the network's own ranking."""

import json

import pytest

from training import config, train
from training.experiments import compare


def _scores(ba: float, auc: float, own: float | None) -> dict:
    scores = {"balanced_accuracy": ba, "melanoma_auc": auc, "melanoma_sensitivity": 0.7, "melanoma_specificity": 0.6,
              "melanoma_sensitivity_at_specificity_80": 0.5}
    if own is not None:
        scores["uncalibrated"] = {"melanoma_auc": own}
    return scores


def _run(tmp_path, name: str, own: float | None) -> dict:
    run = tmp_path / name
    (run / "bundle").mkdir(parents=True)
    results = {"validation": _scores(0.6, 0.9, own), "site_out": _scores(0.5, 0.8, own),
               "external": {"derm7pt": _scores(0.4, 0.75, own)}, "run": {"training_minutes": 10.0}}
    (run / "bundle" / "eval_results.json").write_text(json.dumps(results))
    return compare.load_run(run)


def test_table_sets_the_rule_free_auc_beside_the_served_one(tmp_path):
    table = compare.markdown([_run(tmp_path, "new", 0.71), _run(tmp_path, "old", None)], "vienna_dias")
    new, old = (line for line in table.splitlines() if line.startswith(("| new", "| old")))
    assert new.split(" | ")[3] == "0.800 (0.710)" and "0.750 (0.710)" in new and new.endswith("| 10 |")
    assert "0.750 (-)" in old  # a run exported before the network's own AUC was recorded
    assert "derm7pt melanoma AUC served (network's own)" in table.splitlines()[0]


def test_plot_draws_every_run(tmp_path):
    runs = [_run(tmp_path, "a", 0.7), _run(tmp_path, "b", None)]
    compare.plot(runs, tmp_path / "comparison.png")
    assert (tmp_path / "comparison.png").stat().st_size > 10_000


def test_unfinished_run_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="finish the run first"):
        compare.load_run(tmp_path)


def test_training_refuses_a_comparison_not_yet_written_before_it_loads_anything(tmp_path):
    missing = str(tmp_path / "comparison.md")
    with pytest.raises(ValueError, match="write it with training.experiments.compare first"):
        train.main(["--dataset", str(tmp_path / "no-such-dataset"), "--comparison", missing])
    assert config.parse_args(["--dataset", "x", "--comparison", missing]).comparison  # a finished run's options load
