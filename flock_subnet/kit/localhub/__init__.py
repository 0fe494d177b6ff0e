"""The local hub: a Hugging Face Hub-compatible HTTP server (`server`), its routes (`api`,
`api_upload`), the wire format (`wire`), and a content-addressed store of repos (`store`, `objects`).
"""
