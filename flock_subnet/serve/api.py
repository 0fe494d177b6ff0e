"""The OpenAI chat-completions wire format: request validation and response shapes (pure, no I/O).

`parse_chat_request` turns a request body into a `ChatRequest` or raises `ApiError`, which
carries the HTTP status and the OpenAI error object `{"error": {"message", "type", "param",
"code"}}`. The `*_body` functions build the JSON objects the server sends: a completion, a
streamed chunk, the model list, an error.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flock_subnet.errors import FlockError

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
MAX_STOP_STRINGS = 4
MAX_STOP_CHARS = 256
INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
RATE_LIMIT = "rate_limit_error"
SERVER_ERROR = "server_error"


class ApiError(FlockError):
    """A request the server answers with an OpenAI-shaped error and this HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.param, self.code)


@dataclass(frozen=True)
class ChatRequest:
    """A validated `POST /v1/chat/completions` request (one choice, text messages)."""

    messages: tuple[Mapping[str, str], ...]
    model: str | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False
    ignore_eos: bool = False
    user: str | None = None


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    def body(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass(frozen=True)
class ModelCard:
    """One entry of `GET /v1/models`; `details` are extra fields (competition, uid, revision...)."""

    id: str
    created: int
    owned_by: str = "flock-subnet"
    details: Mapping[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "object": "model", "created": self.created, "owned_by": self.owned_by, **self.details}


def error_body(message: str, error_type: str = INVALID_REQUEST, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _bad(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, INVALID_REQUEST, param, code)


def _number(body: Mapping[str, Any], name: str, default: float, low: float, high: float, low_open: bool = False) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(f"'{name}' must be a number, got {json.dumps(value)[:60]}", name)
    if value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise _bad(f"'{name}' must be in {bracket}{low:g}, {high:g}], got {value}", name)
    return float(value)


def _integer(body: Mapping[str, Any], name: str, low: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"'{name}' must be an integer, got {json.dumps(value)[:60]}", name)
    if low is not None and value < low:
        raise _bad(f"'{name}' must be at least {low}, got {value}", name)
    return value


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(f"'{name}' must be true or false, got {json.dumps(value)[:60]}", name)
    return value


def _content(value: Any, index: int) -> str:
    """A message's text: a string, null, or a list of `{"type": "text", "text": ...}` parts."""
    param = f"messages[{index}].content"
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for part in value:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _bad(f"{param} parts must be {{'type': 'text', 'text': ...}}; this model reads text only", param)
            texts.append(part["text"])
        return "".join(texts)
    raise _bad(f"{param} must be a string or a list of text parts", param)


def _messages(value: Any) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise _bad("'messages' must be a non-empty list of {'role': ..., 'content': ...} objects", "messages")
    out = []
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            raise _bad(f"messages[{index}] must be an object with 'role' and 'content'", f"messages[{index}]")
        role = message.get("role")
        if role not in ROLES:
            raise _bad(f"messages[{index}].role must be one of {', '.join(sorted(ROLES))}, got {json.dumps(role)[:40]}",
                       f"messages[{index}].role")
        # Chat templates know "system"; "developer" is OpenAI's newer name for the same turn.
        out.append({"role": "system" if role == "developer" else role, "content": _content(message.get("content"), index)})
    return tuple(out)


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise _bad("'stop' must be a non-empty string or a list of non-empty strings", "stop")
    if len(stops) > MAX_STOP_STRINGS or any(len(s) > MAX_STOP_CHARS for s in stops):
        raise _bad(f"'stop' takes at most {MAX_STOP_STRINGS} strings of at most {MAX_STOP_CHARS} characters", "stop")
    return tuple(dict.fromkeys(stops))


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"the request body is not valid JSON ({exc}); send a JSON object", code="invalid_json") from None
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", code="invalid_json")
    return body


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate a chat-completions body; unknown fields are ignored, known ones are checked."""
    body = parse_json_object(raw)
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise _bad("'model' must be a model id from GET /v1/models", "model")
    n = _integer(body, "n", low=1)
    if n not in (None, 1):
        raise _bad("only n=1 is supported; send several requests for several answers", "n")
    if body.get("logprobs"):
        raise _bad("logprobs are not supported by this server", "logprobs")
    max_tokens = _integer(body, "max_completion_tokens", low=1)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", low=1)
    stream = _flag(body, "stream")
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or not stream):
        raise _bad("'stream_options' must be an object and needs 'stream': true", "stream_options")
    include_usage = _flag(options or {}, "include_usage")
    user = body.get("user")
    return ChatRequest(
        messages=_messages(body.get("messages")),
        model=model,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0, low_open=True),
        max_tokens=max_tokens,
        stop=_stop(body.get("stop")),
        seed=_integer(body, "seed"),
        stream=stream,
        include_usage=include_usage,
        ignore_eos=_flag(body, "ignore_eos"),
        user=user if isinstance(user, str) else None,
    )


def completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


def completion_body(
    cid: str, created: int, model: str, text: str, finish_reason: str, usage: Usage, fingerprint: str
) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage.body(),
    }


def chunk_body(
    cid: str,
    created: int,
    model: str,
    fingerprint: str,
    delta: Mapping[str, str] | None = None,
    finish_reason: str | None = None,
    usage: Usage | None = None,
) -> dict[str, Any]:
    """One `chat.completion.chunk`; with `usage` it is the final usage-only chunk (no choices)."""
    body: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [] if usage is not None else [
            {"index": 0, "delta": dict(delta or {}), "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        body["usage"] = usage.body()
    return body


def models_body(cards: Sequence[ModelCard]) -> dict[str, Any]:
    return {"object": "list", "data": [card.body() for card in cards]}


def sse(payload: Mapping[str, Any] | str) -> bytes:
    """One server-sent event: `data: <json>` (or a literal like `[DONE]`) and a blank line."""
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {text}\n\n".encode()
