"""Task sources outside the pure rules: the `reasoning-gym` generator adapter and competition files.

- `gym.generate(name, seed, count, config)`: one allow-listed generator's samples (a `TaskSource`)
- `catalog.load_competition_file(path)`, `catalog.load_operator_competitions(paths)`
"""
