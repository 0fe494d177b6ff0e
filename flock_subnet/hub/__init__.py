"""Publishing and fetching checkpoints: the `ModelHub` port (`base.py`) and its Hugging Face adapter.

The local Hub-compatible server that rehearsals use lives in `flock_subnet.kit.localhub`.
"""
