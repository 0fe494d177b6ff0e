"""Serving the competition's model behind an OpenAI-compatible HTTP API.

`api` validates requests and shapes responses (pure), `text` turns tokens into streamed text
with stop strings, `sampling` picks tokens, `batch` and `engine` run continuous batching with a
KV cache per sequence, `vllm_engine` is the same contract on vllm, `loader` loads a checkpoint,
`slot` holds the served model and swaps it without dropping requests, `winner` and `watcher`
find the competition's winner on chain and follow it, and `server` is the HTTP front.
"""
