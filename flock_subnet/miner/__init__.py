"""The miner: fine-tune, self-evaluate with the validators' own evaluator, publish, commit.

- `training/`: supervised fine-tuning (full or LoRA), resumable, exported to safetensors
- `selfeval`: the validators' evaluator and admission check, run on the miner's own checkpoint
- `chain_models`: the committed models of a competition, and the best one to beat
- `submission`: check -> private upload -> commit -> read back -> public
- `status`: a miner's commitment, the validators' weights on it, its incentive
- `daemon`: the loop that does all of this round after round under pm2
"""
