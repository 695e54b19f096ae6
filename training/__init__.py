"""The training pipeline that makes the served bundle. python -m training.train runs its stages in order:

1. data.py: HAM10000 loaded, split by lesion, decoded;
2. model.py: the pretrained backbone (efficientnet_lite.py) with a new head;
3. train.py: fitting, on batches.py's augmented batches (augment.py), resumable (checkpoints.py, distribute.py);
4. finalise.py: the guard (guard.py), the exported variant (export.py) and the decision rule (rule.py), chosen on
   validation;
5. bundle.py: the bundle, scored through the app's path (evaluate.py, metrics/), its plots (plots.py) and model card
   (card.py);
6. publish.py, run by hand: the bundle uploaded to the Hub.

config.py holds the options and training_args.json; refit.py refits a finished bundle's rule; benchmark.py measures
the app. experiments/ holds tools for comparing runs, which nothing here imports; the studies that were not served are
kept at the git tag studies-2026-12 (EXPERIMENTS.md).
"""
