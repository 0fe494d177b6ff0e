"""The leaderboard: standings, history and payouts of the subnet as web pages.

`sources.py` reads the chain (through the `Chain` port) and a validator's state (a read-only
snapshot); `assemble.py` turns both into the dataclasses of `model.py`; `charts.py` draws the SVG
charts; `render.py` fills the Jinja2 templates; `export.py` writes a static site and `server.py`
serves the same pages live.
"""
