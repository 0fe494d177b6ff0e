"""The pure rules: what every validator must compute the same way, as functions over plain data.

- `protocol`: the on-chain commitment format (encode, decode, limits)
- `competitions`: competition definitions (base model, limits, tasks, scoring parameters)
- `scoring`: epsilon, clone filter, win rates, round weights, EMA, reward shares, u16 weights
- `data/`: seeded hidden rounds and public training samples, chat encoding
- `consensus/`: Yuma Consensus and the emission split as subtensor runs them

Nothing here imports torch, transformers, bittensor, a network client or a logger, and nothing
reads a file: callers bring the data (`tests/foundation/test_house_rules.py` checks it).
"""
