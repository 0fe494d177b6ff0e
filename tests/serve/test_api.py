"""Request validation and response shapes of the OpenAI wire format (pure)."""

from __future__ import annotations

import json

import pytest

from flock_subnet.serve import api
from flock_subnet.serve.api import ApiError, ChatRequest, Usage, parse_chat_request


def body(**fields) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}).encode()


def test_a_full_request_is_read_field_by_field():
    request = parse_chat_request(body(
        temperature=0.5, top_p=0.9, max_tokens=12, stop=["\n", "END", "\n"], seed=7, stream=True,
        stream_options={"include_usage": True}, ignore_eos=True, user="u1", presence_penalty=0,
    ))
    assert request == ChatRequest(
        messages=({"role": "user", "content": "hi"},), model="m", temperature=0.5, top_p=0.9, max_tokens=12,
        stop=("\n", "END"), seed=7, stream=True, include_usage=True, ignore_eos=True, user="u1",
    )


def test_defaults_and_message_forms():
    raw = json.dumps({"messages": [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": None},
    ], "max_completion_tokens": 3, "max_tokens": 99, "stop": "x"}).encode()
    request = parse_chat_request(raw)
    assert request.messages == (
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "ab"}, {"role": "assistant", "content": ""},
    )
    assert (request.model, request.temperature, request.top_p, request.max_tokens, request.stop) == (None, 1.0, 1.0, 3, ("x",))
    assert not request.stream and request.seed is None


@pytest.mark.parametrize(
    ("raw", "param", "code"),
    [
        (b"{not json", None, "invalid_json"),
        (b"[1, 2]", None, "invalid_json"),
        (b"\xff\xfe", None, "invalid_json"),
        (json.dumps({"model": "m"}).encode(), "messages", None),
        (body(messages=[]), "messages", None),
        (body(messages=["hi"]), "messages[0]", None),
        (body(messages=[{"role": "wizard", "content": "hi"}]), "messages[0].role", None),
        (body(messages=[{"role": "user", "content": [{"type": "image_url"}]}]), "messages[0].content", None),
        (body(messages=[{"role": "user", "content": 5}]), "messages[0].content", None),
        (body(model=""), "model", None),
        (body(temperature=2.5), "temperature", None),
        (body(temperature=-0.1), "temperature", None),
        (body(temperature=True), "temperature", None),
        (body(temperature="hot"), "temperature", None),
        (body(top_p=0), "top_p", None),
        (body(top_p=1.5), "top_p", None),
        (body(max_tokens=0), "max_tokens", None),
        (body(max_tokens=1.5), "max_tokens", None),
        (body(stop=["a", "b", "c", "d", "e"]), "stop", None),
        (body(stop=[""]), "stop", None),
        (body(stop=5), "stop", None),
        (body(seed="7"), "seed", None),
        (body(seed=False), "seed", None),
        (body(n=2), "n", None),
        (body(stream="yes"), "stream", None),
        (body(stream_options={"include_usage": True}), "stream_options", None),
        (body(logprobs=True), "logprobs", None),
    ],
)
def test_bad_requests_are_400_with_the_parameter_named(raw, param, code):
    with pytest.raises(ApiError) as caught:
        parse_chat_request(raw)
    error = caught.value
    assert error.status == 400
    assert error.body() == {"error": {"message": error.message, "type": "invalid_request_error", "param": param, "code": code}}
    assert error.message


def test_response_shapes():
    usage = Usage(prompt_tokens=5, completion_tokens=3)
    done = api.completion_body("chatcmpl-1", 10, "m", "hello", "stop", usage, "fp")
    assert done["object"] == "chat.completion" and done["model"] == "m"
    assert done["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "logprobs": None, "finish_reason": "stop"}]
    assert done["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}

    chunk = api.chunk_body("chatcmpl-1", 10, "m", "fp", delta={"content": "he"})
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["choices"] == [{"index": 0, "delta": {"content": "he"}, "logprobs": None, "finish_reason": None}]
    last = api.chunk_body("chatcmpl-1", 10, "m", "fp", usage=usage)
    assert last["choices"] == [] and last["usage"]["total_tokens"] == 8

    assert api.sse("[DONE]") == b"data: [DONE]\n\n"
    assert api.sse({"a": 1}) == b'data: {"a":1}\n\n'
    card = api.ModelCard("local/uid3@abc1234", 1, details={"uid": 3})
    assert api.models_body([card]) == {
        "object": "list", "data": [{"id": "local/uid3@abc1234", "object": "model", "created": 1, "owned_by": "flock-subnet", "uid": 3}],
    }
    assert api.completion_id().startswith("chatcmpl-")
