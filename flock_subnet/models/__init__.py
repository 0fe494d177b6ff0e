"""Checkpoints as files: which files make a checkpoint and their hashes (`checkpoint`), and the
competitions' base models (`tiny`: the deterministic tiny tokenizer and Llama presets that the
`local` competition is built on, and the base-model folder for any competition).
"""
