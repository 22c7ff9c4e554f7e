"""An OpenAI-compatible streaming Chat Completions endpoint, served to the real `openai` SDK through
its HTTP client's mock transport (the SDK speaks `httpx2`), that splits its output at every byte.

Each scripted `Turn` becomes the real protocol: `text/event-stream` of `chat.completion.chunk`
objects, one character of content (or of tool-call arguments) per chunk, a chunk with the
`finish_reason`, a usage chunk when `stream_options.include_usage` asks for it, then `[DONE]`;
the body is handed to the client one byte at a time, so every SSE line, JSON object and UTF-8
character is split. Requests are checked like the real endpoint would (model, streaming options,
every tool call answered by a tool message); violations are recorded. `closed_early` counts
response bodies the client closed before their end (the generation stopped).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2


@dataclass(frozen=True)
class Turn:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    prompt_tokens: int = 1000
    cached_tokens: int = 0
    completion_tokens: int = 50
    hang_after_chars: int | None = None  # stop sending (without ending) after this many text characters
    fail_after_chars: int | None = None  # break the connection after this many text characters
    failure: type[httpx2.TransportError] = httpx2.ReadError  # how it breaks (ReadTimeout: the read timed out)
    refuse: bool = False  # the connection fails before any response


class _Hang(Exception):
    pass


class _Body(httpx2.AsyncByteStream):
    def __init__(
        self, server: StreamingStandIn, frames: Iterator[bytes | type[_Hang]], fail: type[httpx2.TransportError] | None
    ) -> None:
        self.server = server
        self.frames = frames
        self.fail = fail
        self.finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for frame in self.frames:
            if frame is _Hang:
                self.server.hanging.set()
                if self.fail is not None:
                    raise self.fail("the connection broke mid-answer")
                await asyncio.Event().wait()  # until the client closes the response
            assert isinstance(frame, bytes)
            for i in range(len(frame)):
                yield frame[i : i + 1]
        self.finished = True

    async def aclose(self) -> None:
        if not self.finished:
            self.server.closed_early += 1


class StreamingStandIn:
    def __init__(self, *, model: str = "gpt-test") -> None:
        self.model = model
        self.script: deque[Turn] = deque()
        self.seen: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.closed_early = 0
        self.hanging = asyncio.Event()

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self._handle), base_url="http://llm.test/v1")

    def _check(self, body: dict[str, Any]) -> None:
        if body.get("model") != self.model:
            self.violations.append(f"model {body.get('model')!r}")
        if body.get("stream") is not True or body.get("stream_options") != {"include_usage": True}:
            self.violations.append("not a streaming request with usage")
        pending: set[str] = set()
        for message in body["messages"]:
            if message["role"] == "tool":
                pending.discard(message["tool_call_id"])
            elif pending:
                self.violations.append(f"tool calls left unanswered: {sorted(pending)}")
                pending = set()
            for call in message.get("tool_calls") or []:
                pending.add(call["id"])
        names = {t["function"]["name"] for t in body.get("tools") or []}
        for message in body["messages"]:
            for call in message.get("tool_calls") or []:
                if call["function"]["name"] not in names and call["function"]["name"] != "citer_passages":
                    self.violations.append(f"tool {call['function']['name']} not offered")

    async def _handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(await request.aread())
        self.seen.append(body)
        self._check(body)
        turn = self.script.popleft()
        if turn.refuse:
            raise httpx2.ConnectError("connection refused", request=request)
        stop = turn.hang_after_chars if turn.hang_after_chars is not None else turn.fail_after_chars
        frames = self._frames(turn, len(self.seen), stop)
        return httpx2.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=_Body(self, frames, fail=turn.failure if turn.fail_after_chars is not None else None),
        )

    def _chunk(self, n: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()

    def _frames(self, turn: Turn, n: int, stop: int | None) -> Iterator[bytes | type[_Hang]]:
        yield self._chunk(n, {"role": "assistant", "content": ""})
        for i, char in enumerate(turn.text):
            if stop is not None and i == stop:
                yield _Hang
            yield self._chunk(n, {"content": char})
        for index, (name, arguments) in enumerate(turn.tool_calls):
            call_id = f"call_{n}_{index}"
            head = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
            yield self._chunk(n, {"tool_calls": [head]})
            for char in json.dumps(arguments, ensure_ascii=False):
                yield self._chunk(n, {"tool_calls": [{"index": index, "function": {"arguments": char}}]})
        yield self._chunk(n, {}, "tool_calls" if turn.tool_calls else "stop")
        usage = {
            "prompt_tokens": turn.prompt_tokens,
            "completion_tokens": turn.completion_tokens,
            "total_tokens": turn.prompt_tokens + turn.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": turn.cached_tokens},
        }
        final = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk", "created": 1_700_000_000}
        final |= {"model": self.model, "choices": [], "usage": usage}
        yield f"data: {json.dumps(final)}\n\n".encode()
        yield b"data: [DONE]\n\n"
