"""A local OpenAI-compatible Chat Completions server that checks what it receives like the real one.

`with OpenAiStandIn(model=..., key=...) as server:` serves `POST /v1/chat/completions` on
`server.base_url` (uvicorn in a thread). Every request is checked (bearer key, model, strict
`json_schema` response format carrying exactly our step schema, temperature, tools and
`tool_choice` per mode, tool results answering the previous tool calls); a violation is recorded in
`server.violations` and answered 400 with OpenAI's error shape, so a test both fails loudly and sees
the client's handling of a 400.

Answers have the real response shape: `choices[0].message` with `content`, `tool_calls` or
`refusal`, `finish_reason`, and `usage` with `prompt_tokens_details.cached_tokens`. Prompt caching
is simulated as OpenAI documents it (`tests.llm.prompt_cache`): a prefix of 1,024 tokens or more, in
128-token steps, written by a request once processed and served to requests that start afterwards.

Tests script the answers: `server.script` is a queue of `Reply` values used first; when it is empty
`server.responder(request)` answers (by default a valid step analysis). Server-side arrival times
(`Seen.at`, `time.monotonic()`) measure waits without client clocks; `peak` is the highest number of
requests served at once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.audits.schema import step_json_schema
from tests.llm.prompt_cache import CHARS_PER_TOKEN, PromptCache, prompt_tokens


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Exactly one of the kinds applies, in this order of precedence."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""
    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] | None = None
    refusal: str | None = None
    delay: float = 0.0  # seconds before answering (beyond the client's timeout: a timeout)
    hang: bool = False  # never answer: in flight until the client has gone (a timeout, whatever its length)
    finish_reason: str | None = None


@dataclass
class Seen:
    at: float
    body: dict[str, Any]
    status: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """What a provider would tokenise, in order: the prefix cache key."""
    parts = []
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        parts.append(f"<{message.get('role')}>{text}{json.dumps(message.get('tool_calls') or '')}")
    return "".join(parts)


def control_points(body: dict[str, Any]) -> list[str]:
    """The numbered control points of the step part (last user message with them)."""
    for message in reversed(body["messages"]):
        text = message.get("content") or ""
        if message["role"] == "user" and "POINTS DE CONTRÔLE :" in text:
            block = text.split("POINTS DE CONTRÔLE :", 1)[1].strip().split("\n\n", 1)[0]
            return [re.sub(r"^\d+\.\s*", "", line) for line in block.splitlines() if line.strip()]
    return []


def step_answer(points: list[str], *, score: int = 3, citations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A schema-valid analysis: first point PRESENT with `citations` when given, others ABSENT."""
    cps = []
    for index, point in enumerate(points):
        cited = citations if index == 0 and citations else []
        cps.append(
            {
                "point": point,
                "statut": "PRESENT" if cited else "ABSENT",
                "commentaire": "Vu." if cited else "Non trouvé.",
                "citations": cited,
                "minutages": [c["minutage"] for c in cited],
                "erreur_transcription_notee": False,
                "variation_phonetique_utilisee": None,
            }
        )
    return {
        "traite": bool(citations),
        "conforme": "PARTIEL" if citations else "NON_CONFORME",
        "minutages": [c["minutage"] for c in citations or []],
        "score": score,
        "points_controle": cps,
        "mots_cles_trouves": [],
        "commentaire_global": "Analyse de l'étape.",
        "niveau_conformite": "ACCEPTABLE" if citations else "INSUFFISANT",
        "erreurs_transcription_tolerees": 0,
    }


def default_responder(body: dict[str, Any]) -> Reply:
    return Reply(content=json.dumps(step_answer(control_points(body)), ensure_ascii=False))


def _error(status: int, message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class OpenAiStandIn:
    def __init__(self, *, model: str = "gpt-test", key: str = "sk-test-standin-0123456789") -> None:
        self.model = model
        self.key = key
        self.script: deque[Reply] = deque()
        self.responder: Callable[[dict[str, Any]], Reply] = default_responder
        self.seen: list[Seen] = []
        self.violations: list[str] = []
        self.active = 0
        self.peak = 0
        self.base_url = ""
        self.cache = PromptCache()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> OpenAiStandIn:
        app = Starlette(routes=[Route("/v1/chat/completions", self._handle, methods=["POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "stand-in did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    # --- checks -------------------------------------------------------------------------------------
    def _check(self, request: Request, body: dict[str, Any]) -> list[str]:
        problems = []
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return ["bad or missing bearer key"]
        if body.get("model") != self.model:
            problems.append(f"model {body.get('model')!r}")
        expected = {
            "type": "json_schema",
            "json_schema": {"name": "audit_step", "strict": True, "schema": step_json_schema()},
        }
        if body.get("response_format") != expected:
            problems.append("response_format is not the strict audit_step json_schema")
        if "reasoning_effort" not in body and body.get("temperature") != 0:
            problems.append(f"temperature {body.get('temperature')!r}")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or messages[0].get("role") != "system":
            return [*problems, "messages must start with the system message"]
        tools = body.get("tools")
        if tools is None:
            if "tool_choice" in body:
                problems.append("tool_choice without tools")
        else:
            names = sorted(t["function"]["name"] for t in tools)
            if names != ["get_transcript_chunks", "search_transcript"] or not all(
                t["function"]["strict"] for t in tools
            ):
                problems.append(f"unexpected tools {names}")
            first_turn = not any(m["role"] in ("assistant", "tool") for m in messages)
            if first_turn and body.get("tool_choice") != "required":
                problems.append(f"first tools-mode call has tool_choice {body.get('tool_choice')!r}")
            if body.get("tool_choice") not in ("required", "auto", "none"):
                problems.append(f"tool_choice {body.get('tool_choice')!r}")
        problems += self._check_tool_results(messages)
        return problems

    @staticmethod
    def _check_tool_results(messages: list[dict[str, Any]]) -> list[str]:
        """Each assistant turn with tool calls is followed by exactly one tool message per call id."""
        problems = []
        for index, message in enumerate(messages):
            if message["role"] != "assistant" or not message.get("tool_calls"):
                continue
            expected = {call["id"] for call in message["tool_calls"]}
            answered = set()
            for follower in messages[index + 1 :]:
                if follower["role"] != "tool":
                    break
                answered.add(follower["tool_call_id"])
                json.loads(follower["content"])
            if answered != expected:
                problems.append(f"tool calls {sorted(expected)} answered by {sorted(answered)}")
        return problems

    # --- serving ------------------------------------------------------------------------------------
    async def _handle(self, request: Request) -> JSONResponse:
        seen = Seen(at=time.monotonic(), body={})
        with self._lock:
            self.seen.append(seen)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            seen.body = body = await request.json()
            problems = self._check(request, body)
            if problems:
                self.violations += problems
                seen.status = 401 if problems == ["bad or missing bearer key"] else 400
                return JSONResponse(_error(seen.status, "; ".join(problems)), status_code=seen.status)
            # Looked up on arrival: a prefix written by a request still in flight is not served yet.
            seen.cached_tokens = self.cache.lookup(prompt_text(body["messages"]))
            reply = self.script.popleft() if self.script else self.responder(body)
            if reply.delay:
                await asyncio.sleep(reply.delay)
                if await request.is_disconnected():  # the client timed out first: it never gets the answer
                    seen.status = 499
                    return JSONResponse(_error(499, "client closed request"), 499)
            while reply.hang and not await request.is_disconnected():  # noqa: ASYNC110 - no disconnect event
                await asyncio.sleep(0.05)
            seen.status = reply.status
            if reply.status != 200:
                kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
                return JSONResponse(_error(reply.status, reply.error or kind, kind), reply.status, reply.headers)
            return JSONResponse(self._completion(body, reply, seen), headers=reply.headers)
        finally:
            with self._lock:
                self.active -= 1

    def _usage(self, body: dict[str, Any], seen: Seen) -> dict[str, Any]:
        text = prompt_text(body["messages"])
        self.cache.write(text)  # processed: requests starting from now on are served this prefix
        seen.prompt_tokens = prompt_tokens(text)
        return {"prompt_tokens": seen.prompt_tokens, "prompt_tokens_details": {"cached_tokens": seen.cached_tokens}}

    def _completion(self, body: dict[str, Any], reply: Reply, seen: Seen) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        finish = "stop"
        if reply.refusal is not None:
            message["refusal"] = reply.refusal
        elif reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)},
                }
                for name, args in reply.tool_calls
            ]
            finish = "tool_calls"
        else:
            message["content"] = reply.content
        completion_tokens = len(reply.content or reply.refusal or json.dumps(reply.tool_calls)) // CHARS_PER_TOKEN
        usage = self._usage(body, seen)
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": reply.finish_reason or finish, "logprobs": None}
            ],
            "usage": usage
            | {
                "completion_tokens": completion_tokens,
                "total_tokens": usage["prompt_tokens"] + completion_tokens,
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }
