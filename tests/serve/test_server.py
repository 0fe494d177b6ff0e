"""The HTTP API driven by the real `openai` client: chat (plain and streamed), models, errors, swaps."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from urllib.parse import urlsplit

import openai
import pytest

from flock_subnet.serve.slot import ModelSlot
from tests.serve.conftest import openai_client, running, served

MESSAGES = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Sort the digits: 3 1 2"}]


def raw(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), data


def assert_error_shape(data: bytes, code: str | None = None) -> dict:
    error = json.loads(data)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def test_chat_plain_and_streamed_with_the_openai_client(micro):
    with running(ModelSlot(micro)) as server:
        client = openai_client(server)
        assert [m.id for m in client.models.list().data] == ["micro"]
        assert client.models.retrieve("micro").id == "micro"

        settings = {"model": "micro", "messages": MESSAGES, "max_tokens": 20, "temperature": 0.7, "top_p": 0.9,
                    "seed": 11, "extra_body": {"ignore_eos": True}}
        reply = client.chat.completions.create(**settings)
        choice = reply.choices[0]
        assert reply.model == "micro" and reply.object == "chat.completion" and reply.id.startswith("chatcmpl-")
        assert choice.message.role == "assistant" and choice.message.content and choice.finish_reason == "length"
        prompt_tokens = len(micro.encode_chat(MESSAGES))
        assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (
            prompt_tokens, 20, prompt_tokens + 20)

        chunks = list(client.chat.completions.create(**settings, stream=True, stream_options={"include_usage": True}))
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == choice.message.content  # same seed, same answer, streamed
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 20
        assert {c.model for c in chunks} == {"micro"} and len({c.id for c in chunks}) == 1

        stopped = client.chat.completions.create(**{**settings, "stop": [choice.message.content[4:7]]})
        assert stopped.choices[0].finish_reason == "stop"
        assert stopped.choices[0].message.content == choice.message.content[: choice.message.content.index(choice.message.content[4:7])]


def test_the_stream_is_server_sent_events_ending_with_done(micro):
    with running(ModelSlot(micro)) as server:
        body = json.dumps({"messages": MESSAGES, "max_tokens": 5, "stream": True}).encode()
        status, headers, data = raw(server, "POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = [line for line in data.decode().split("\n\n") if line]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
    assert json.loads(events[0][6:])["object"] == "chat.completion.chunk"


def test_errors_have_the_openai_shape_and_status(micro):
    with running(ModelSlot(micro), max_request_bytes=4096) as server:
        client = openai_client(server, max_retries=0)
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="micro", messages=MESSAGES, temperature=3)
        assert bad.value.status_code == 400 and bad.value.body["param"] == "temperature"
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="micro", messages=[])
        with pytest.raises(openai.BadRequestError) as long:
            client.chat.completions.create(model="micro", messages=[{"role": "user", "content": "word " * 600}])
        assert long.value.body["code"] == "context_length_exceeded"
        with pytest.raises(openai.NotFoundError) as missing:
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert missing.value.body["code"] == "model_not_found" and "micro" in missing.value.body["message"]
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("gpt-4o")

        status, _, data = raw(server, "POST", "/v1/chat/completions", b"{oops", {"Content-Type": "application/json"})
        assert status == 400 and assert_error_shape(data, "invalid_json")["type"] == "invalid_request_error"
        status, _, data = raw(server, "GET", "/v1/engines")
        assert status == 404 and assert_error_shape(data, "unknown_url")
        status, headers, data = raw(server, "GET", "/v1/chat/completions")
        assert status == 405 and headers["Allow"] == "POST" and assert_error_shape(data)
        status, _, data = raw(server, "POST", "/v1/chat/completions", b"x" * 5000)
        assert status == 413 and assert_error_shape(data, "request_too_large")
        with pytest.raises(openai.APIStatusError) as too_big:
            client.chat.completions.create(model="micro", messages=[{"role": "user", "content": "x" * 5000}])
        assert too_big.value.status_code == 413
        # The server keeps answering after all that.
        assert client.chat.completions.create(model="micro", messages=MESSAGES, max_tokens=2).usage.completion_tokens >= 1


def test_api_key_is_required_except_for_health(micro):
    with running(ModelSlot(micro), api_key="sk-test") as server:
        with pytest.raises(openai.AuthenticationError) as denied:
            openai_client(server, key="wrong", max_retries=0).models.list()
        assert denied.value.status_code == 401 and denied.value.body["code"] == "invalid_api_key"
        status, headers, data = raw(server, "POST", "/v1/chat/completions", json.dumps({"messages": MESSAGES}).encode())
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer" and assert_error_shape(data)
        status, _, data = raw(server, "GET", "/health")
        assert status == 200 and json.loads(data)["model"] == "micro"
        reply = openai_client(server, key="sk-test").chat.completions.create(model="micro", messages=MESSAGES, max_tokens=3)
        assert reply.choices[0].message.content is not None


def test_no_model_yet_is_503_and_overload_is_429(tiny_model_dir):
    with running(ModelSlot(waiting_reason="looking for the winner")) as server:
        status, _, data = raw(server, "GET", "/health")
        assert status == 503 and json.loads(data)["status"] == "waiting"
        with pytest.raises(openai.InternalServerError) as unavailable:
            openai_client(server, max_retries=0).chat.completions.create(model="x", messages=MESSAGES)
        assert unavailable.value.status_code == 503 and unavailable.value.body["code"] == "model_not_ready"
        assert openai_client(server).models.list().data == []

    busy = served(tiny_model_dir, "micro", max_batch=1, max_waiting=0)
    with running(ModelSlot(busy)) as server:
        client = openai_client(server, max_retries=0)
        stream = client.chat.completions.create(model="micro", messages=MESSAGES, max_tokens=200, stream=True,
                                                extra_body={"ignore_eos": True})
        next(iter(stream))  # the only place in the batch is taken
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model="micro", messages=MESSAGES, max_tokens=2)
        assert limited.value.status_code == 429 and limited.value.response.headers["Retry-After"] == "1"
        stream.close()  # the client goes away: its request is cancelled and the place frees up
        deadline = time.monotonic() + 20
        while busy.engine.pending() != (0, 0):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert client.chat.completions.create(model="micro", messages=MESSAGES, max_tokens=2).choices


def test_eight_concurrent_clients_all_get_their_answers(micro):
    with running(ModelSlot(micro)) as server:
        client = openai_client(server)
        results: dict[int, object] = {}

        def ask(i: int) -> None:
            results[i] = client.chat.completions.create(
                model="micro", messages=[{"role": "user", "content": f"question {i}"}], max_tokens=10 + i, temperature=0,
                extra_body={"ignore_eos": True})

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert sorted(results) == list(range(8))
    assert [results[i].usage.completion_tokens for i in range(8)] == [10 + i for i in range(8)]


def test_a_swap_lets_the_request_in_flight_finish_on_the_old_model(micro, second_model_dir):
    slot = ModelSlot(micro)
    newer = served(second_model_dir, "newer")
    with running(slot) as server:
        client = openai_client(server)
        stream = client.chat.completions.create(model="micro", messages=MESSAGES, max_tokens=150, stream=True,
                                                stream_options={"include_usage": True}, extra_body={"ignore_eos": True})
        chunks = iter(stream)
        first = next(chunks)
        slot.swap(newer)  # the new model is loaded and running; the old one retires
        rest = list(chunks)
        assert {c.model for c in [first, *rest]} == {"micro"}
        assert rest[-1].usage.completion_tokens == 150
        assert [c.choices[0].finish_reason for c in rest if c.choices][-1] == "length"
        assert micro.engine.join(20)  # the old engine let go once its request was done

        assert [m.id for m in client.models.list().data] == ["newer"]
        assert client.chat.completions.create(model="newer", messages=MESSAGES, max_tokens=3).model == "newer"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="micro", messages=MESSAGES, max_tokens=3)
        status, _, data = raw(server, "GET", "/health")
        assert status == 200 and json.loads(data)["swaps"] == 1


def test_a_streaming_client_that_disconnects_is_cancelled(micro):
    with running(ModelSlot(micro)) as server:
        host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
        body = json.dumps({"messages": MESSAGES, "max_tokens": 240, "stream": True, "ignore_eos": True}).encode()
        with socket.create_connection((host, port), timeout=30) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            assert b"200 OK" in sock.recv(4096)
        deadline = time.monotonic() + 20
        while micro.engine.pending() != (0, 0):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert micro.engine.tokens_generated < 240
