#!/usr/bin/env bash
# The recipe comparison of the model card: each candidate trained without HAM10000's vienna_dias site, then scored on
# HAM10000 validation, on that held-out site and on Derm7pt (external, used for model selection). About 20-30 minutes
# a candidate on 2 CPU cores; a killed candidate resumes when this script is run again.
#
#   bash training/candidates.sh ../shared/data runs/candidates
#   python -m training.compare runs/candidates/{B,C,D,E,F,G,H,J,K,L,M,N,O,P,Q,S}* --markdown runs/candidates/comparison.md --plot runs/candidates/comparison.png
set -euo pipefail
data=${1:?usage: training/candidates.sh DATA_DIR OUTPUT_DIR}
out=${2:?usage: training/candidates.sh DATA_DIR OUTPUT_DIR}
# every candidate was scored under the decision rule that was training's default until the melanoma alarm
common=(--dataset "$data/ham10000" --sources "$data/ham10000/sources.csv" --hold-out-site vienna_dias
        --external "$data/derm7pt" --quantizations int8 --head-epochs 2 --frozen-fraction 0.2 --no-train-batchnorm
        --min-accuracy 0.8 --min-melanoma-recall 0.7)
sog_strong=(--colour-constancy shades_of_gray --augmentation strong)
run() { name=$1; shift; python -m training.train "${common[@]}" --output-dir "$out/$name" "$@"; }

run B-sog-strong "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 6
run C-balanced-la-ema "${sog_strong[@]}" --sampling-power 0.5 --epoch-images 4000 --logit-adjustment 1 \
    --class-weight-power 0 --no-post-hoc-bias --ema --finetune-epochs 8
run D-lite1 --backbone efficientnet_lite1 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 6
run E-site-balanced "${sog_strong[@]}" --class-weight-power 0.5 --site-balance --finetune-epochs 6
# the close calls again with other seeds (which also draw other splits)
run B-seed7 --seed 7 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 6
run E-seed7 --seed 7 "${sog_strong[@]}" --class-weight-power 0.5 --site-balance --finetune-epochs 6
run F-frozen50 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 6 --frozen-fraction 0.5
run G-ema "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 6 --ema
run G-seed7 --seed 7 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 6 --ema
run G-seed3 --seed 3 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 6 --ema
# other sources' photos keep 1.3-1.8 times HAM10000's fine detail once downsized (python -m training.sharpness):
# H blurs every input inside the model (sigma 1.0 brings them down to HAM10000's sharpest site), J sharpens training images
run H-lowpass "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 6 --low-pass 1.0
run J-sharpen --colour-constancy shades_of_gray --augmentation strong_sharpen --class-weight-power 0.5 --finetune-epochs 6
# fitting HAM10000 for less long (the first experiment suggested it)
run K-ft3 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 3
# and for longer: B still gains on its training images at its sixth epoch; early stopping ends these
run L-ft14 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14
run M-ema-ft14 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema
run L-seed7 --seed 7 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14
run M-seed7 --seed 7 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema
run M-seed3 --seed 3 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema
# M's first seed gains from a blur of its inputs at test time (Derm7pt melanoma AUC 0.745 -> 0.792 at sigma 1.0);
# N trains M with H's low-pass, so that training and serving see the same blur
run N-lowpass-ema-ft14 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --low-pass 1.0
run N-seed7 --seed 7 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --low-pass 1.0
run N-seed3 --seed 3 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --low-pass 1.0
# on this split, averaging L's and M's probabilities ranks Derm7pt's melanomas better than either alone; O distils the pair into one
# model of M's size, their averaged and softened probabilities mixed into its training targets
run O-distil "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --teacher "$out/L-ft14" --teacher "$out/M-ema-ft14"
# other clinics' lesions fill more of the frame than HAM10000's: P zooms out further, to 1 / 1.5 of the lesion's size
run P-wide --colour-constancy shades_of_gray --augmentation strong_wide --class-weight-power 0.5 --finetune-epochs 14 --ema
run P-seed7 --seed 7 --colour-constancy shades_of_gray --augmentation strong_wide --class-weight-power 0.5 --finetune-epochs 14 --ema
# a camera shows in the mean and spread of early feature maps: Q mixes them between images in training (MixStyle)
run Q-mixstyle "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --mixstyle 0.5
run Q-seed7 --seed 7 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --mixstyle 0.5
run Q-seed3 --seed 3 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --mixstyle 0.5
# runs are deterministic from here on (--deterministic); before, Q-seed3 run again differed from its first run as much as
# two seeds do. S averages the fine-tuned weights of two of Q's runs on seed 3's split (training seeds 3 and 11) into
# one weight soup of the same size; it fits nothing itself
run Q-split3-seed11 --split-seed 3 --seed 11 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --mixstyle 0.5
run S-soup --seed 3 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --mixstyle 0.5 \
    --soup "$out/Q-seed3" --soup "$out/Q-split3-seed11"
# WiSE-FT (--wise-ft): the fine-tuned weights moved part of the way back to where fine-tuning began (the head fitted on
# the ImageNet backbone), as far as validation balanced accuracy gains. Q-seed3-wise finalises Q-seed3's run again
# with it and refits nothing, and so does Q-split3-seed11-wise; Q-wise-seed42 is Q's recipe with it, from scratch
for finished in Q-seed3 Q-split3-seed11; do
  mkdir -p "$out/$finished-wise"
  cp -rn "$out/$finished/checkpoints" "$out/$finished/split.json" "$out/$finished/training_seconds.json" "$out/$finished-wise/"
done
run Q-seed3-wise --seed 3 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --mixstyle 0.5 --wise-ft
run Q-split3-seed11-wise --split-seed 3 --seed 11 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema \
    --mixstyle 0.5 --wise-ft
run Q-wise-seed42 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --mixstyle 0.5 --wise-ft
run Q-wise-seed7 --seed 7 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --mixstyle 0.5 --wise-ft
# soups of runs that share their head's start (S's two runs had heads of their own). sibling RUN NEW: NEW starts
# fine-tuning anew from RUN's head, on RUN's split (its phase-1 checkpoint and split.json copied)
sibling() {
  mkdir -p "$out/$2/checkpoints"
  cp -rn "$out/$1/checkpoints/1-head" "$out/$2/checkpoints/"
  cp -n "$out/$1/split.json" "$out/$2/"
}
q_recipe=("${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --mixstyle 0.5)
# Q-wise-seed42's head fine-tuned again with training seeds 11 and 13; the uniform soups of the first two (S2) and of
# all three (S3)
sibling Q-wise-seed42 Q-h42-s11
sibling Q-wise-seed42 Q-h42-s13
run Q-h42-s11 --split-seed 42 --seed 11 "${q_recipe[@]}" --wise-ft
run S2-h42 "${q_recipe[@]}" --soup "$out/Q-wise-seed42" --soup "$out/Q-h42-s11"
run Q-h42-s13 --split-seed 42 --seed 13 "${q_recipe[@]}" --wise-ft
run S3-h42 "${q_recipe[@]}" --soup "$out/Q-wise-seed42" --soup "$out/Q-h42-s11" --soup "$out/Q-h42-s13"
# the same on seed 7's split: Q-wise-seed7's head fine-tuned again with training seed 11, and the soup of the two
sibling Q-wise-seed7 Q-h7-s11
run Q-h7-s11 --split-seed 7 --seed 11 "${q_recipe[@]}" --wise-ft
run S2-h7 --seed 7 "${q_recipe[@]}" --soup "$out/Q-wise-seed7" --soup "$out/Q-h7-s11"
# batch mixing (--batch-mix): Q-wise-seed42's head fine-tuned again with MixUp, and with CutMix, after each image's
# augmentation
sibling Q-wise-seed42 X-mixup
sibling Q-wise-seed42 X-cutmix
run X-mixup "${q_recipe[@]}" --wise-ft --batch-mix mixup
run X-cutmix "${q_recipe[@]}" --wise-ft --batch-mix cutmix
# CutMix again on seed 7's split: Q-wise-seed7's head fine-tuned again with it
sibling Q-wise-seed7 X-cutmix-h7
run X-cutmix-h7 --seed 7 "${q_recipe[@]}" --wise-ft --batch-mix cutmix
# no class weights (the bars' balance is set after training, for balanced accuracy alone, and the melanoma alarm
# carries melanoma): Q-wise-seed42's head fine-tuned again without them, under training's default rule now
sibling Q-wise-seed42 X-cw0
run X-cw0 "${q_recipe[@]}" --wise-ft --class-weight-power 0 --min-accuracy 0 --min-melanoma-recall 0
sibling Q-wise-seed7 X-cw0-h7
run X-cw0-h7 --seed 7 "${q_recipe[@]}" --wise-ft --class-weight-power 0 --min-accuracy 0 --min-melanoma-recall 0
# CutMix and no class weights together, on both splits
sibling Q-wise-seed42 X-cutmix-cw0
run X-cutmix-cw0 "${q_recipe[@]}" --wise-ft --batch-mix cutmix --class-weight-power 0 --min-accuracy 0 --min-melanoma-recall 0
sibling Q-wise-seed7 X-cutmix-cw0-h7
run X-cutmix-cw0-h7 --seed 7 "${q_recipe[@]}" --wise-ft --batch-mix cutmix --class-weight-power 0 --min-accuracy 0 \
    --min-melanoma-recall 0
# ImageNet's frozen filters serve better on HAM10000's 200x150 images enlarged inside the network (--upsample): with a
# linear probe on seed 42's split, Derm7pt melanoma-against-nevus AUC 0.642 at 1x, 0.689 at 1.25x, 0.716 at 1.5x
# (python -m training.scale_probe). U fine-tunes at 1.5x without class weights (X-cw0's choice), 10 epochs to keep the
# run near an hour
run U-up15-cw0 "${sog_strong[@]}" --class-weight-power 0 --finetune-epochs 10 --ema --mixstyle 0.5 --wise-ft --upsample 1.5 \
    --min-accuracy 0 --min-melanoma-recall 0
# V: U with CutMix (which raised the melanoma ranking outside HAM10000 on seed 42's split twice), up to 14 epochs (U was
# still gaining at its tenth)
run V-up15-cw0-cutmix "${sog_strong[@]}" --class-weight-power 0 --finetune-epochs 14 --ema --mixstyle 0.5 --wise-ft \
    --upsample 1.5 --batch-mix cutmix --min-accuracy 0 --min-melanoma-recall 0
# W: M's own recipe (class weights 0.5, EMA, up to 14 epochs; no MixStyle, no WiSE-FT) with the input enlarged 1.5x
run W-up15-M "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 14 --ema --upsample 1.5 \
    --min-accuracy 0 --min-melanoma-recall 0
# Y: M's own recipe without class weights, head included (X-cw0 started from Q's class-weighted head)
run Y-M-cw0 "${sog_strong[@]}" --class-weight-power 0 --finetune-epochs 14 --ema --min-accuracy 0 --min-melanoma-recall 0
# AA: M's class-weighted head (M's recipe with no fine-tuning: the head alone) fine-tuned as M but without class
# weights, as X-cw0 fine-tuned Q's head; on splits 42 and 7
run AA-M-head "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 0 --ema
sibling AA-M-head AA-M-head-cw0
run AA-M-head-cw0 "${sog_strong[@]}" --class-weight-power 0 --finetune-epochs 14 --ema --min-accuracy 0 --min-melanoma-recall 0
run AA-M-head-h7 --seed 7 "${sog_strong[@]}" --class-weight-power 0.5 --finetune-epochs 0 --ema
sibling AA-M-head-h7 AA-M-head-cw0-h7
run AA-M-head-cw0-h7 --seed 7 "${sog_strong[@]}" --class-weight-power 0 --finetune-epochs 14 --ema --min-accuracy 0 \
    --min-melanoma-recall 0
