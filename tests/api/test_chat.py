"""Chat over HTTP: the real app, the real `openai` SDK against a streaming stand-in split at every byte.

What is judged: no marker or partial JSON ever reaches the client and the citations frame equals what
history returns; every stored citation is in its chunk's words; a fiche beyond the budget is answered
through the transcript tools with every request within the budget (same tokenizer); a client leaving
stops the model call and a failed stream leaves the question unanswered; offline answers are
extractive and labelled; tokens and cost are stored per message.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import pytest
import pytest_asyncio
import quicktok
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select

from api.chat.deps import get_chat_model
from api.chat.service import CLIENT_LEFT
from api.deps import get_settings_dep
from callaudit.settings import Settings
from domain.audits.gating import MAX_CONTINUATION_CHUNKS
from domain.audits.matching import locate_quote, tokenise
from domain.models import (
    AuditControlPoint,
    AuditStep,
    ChatConversation,
    ChatMessage,
    MessageRole,
    MessageStatus,
    TranscriptChunk,
)
from domain.rbac import Scope
from resources.llm.chat import OpenAiChatModel, build_chat_model
from tests.fixtures.factories.aio import add_audit, add_scorecard
from tests.fixtures.sse import StreamingASGITransport
from tests.fixtures.standins.chat import StreamingStandIn, Turn
from tests.fixtures.world import World

MODEL = "gpt-4o-mini"  # in the built-in price table: input 0.15, cached 0.075, output 0.6 USD / 1M
TURNS = [
    ("speaker_0", "Bonjour madame je suis Paul de Mutuelle Plus et cet appel est enregistré"),
    ("speaker_1", "Oui bonjour je vous écoute"),
    ("speaker_0", "Le délai de carence est de trois mois pour l'optique et le dentaire"),
    ("speaker_1", "D'accord mon assureur actuel est la Macif depuis dix ans"),
]
_ENCODING = quicktok.get_encoding("o200k_base")


def tokens_of(body: dict[str, Any]) -> int:
    """The request's size as `benchmarks/audit_cost.py` counts (quicktok o200k_base, 3 per message and
    3 to prime the reply), on the JSON of every message and of the tools: what was really sent."""
    total = 3 + sum(3 + len(_ENCODING.encode_ordinary(json.dumps(m, ensure_ascii=False))) for m in body["messages"])
    return total + len(_ENCODING.encode_ordinary(json.dumps(body.get("tools") or [], ensure_ascii=False)))


@pytest.fixture
def standin() -> StreamingStandIn:
    return StreamingStandIn(model=MODEL)


@pytest_asyncio.fixture(loop_scope="session")
async def chat_app(app: FastAPI, api_settings: Settings, standin: StreamingStandIn) -> AsyncIterator[FastAPI]:
    settings = api_settings.model_copy(
        update={
            "openai_api_key": SecretStr("sk-test-chat"),
            "openai_model_chat": MODEL,
            "chat_context_token_budget": 8000,
        }
    )
    model: OpenAiChatModel = build_chat_model(settings, app.state.callaudit.redis, http_client=standin.client())
    app.dependency_overrides[get_chat_model] = lambda: model
    app.dependency_overrides[get_settings_dep] = lambda: settings
    yield app
    await model.aclose()


async def ask(
    application: FastAPI, world: World, path: str, message: str, *, leave_after: int | None = None
) -> list[str]:
    """The `data` payloads of the answer (all of them, or the first `leave_after` before leaving)."""
    payloads: list[str] = []
    async with (
        httpx.AsyncClient(transport=StreamingASGITransport(application), base_url="http://test") as client,
        client.stream("POST", path, json={"message": message}, headers=world.headers("operator")) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                payloads.append(line.removeprefix("data: "))
                if leave_after is not None and len(payloads) >= leave_after:
                    break
    return payloads


def texts(payloads: list[str]) -> list[str]:
    return [json.loads(p)["text"] for p in payloads if p.startswith('{"text"')]


async def history(client: httpx.AsyncClient, world: World, path: str) -> dict[str, Any]:
    response = await client.get(path, headers=world.headers("operator"))
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def audit_with_transcript(world: World, turns: list[tuple[str, str]] = TURNS) -> int:
    await world.add_transcript("own", turns)
    return await add_audit(world.session, "F-OWN", await add_scorecard(world.session))


async def test_a_stream_split_at_every_byte_shows_no_marker_and_its_citations_are_stored(
    chat_app: FastAPI, client: httpx.AsyncClient, world: World, standin: StreamingStandIn
) -> None:
    audit_id = await audit_with_transcript(world)
    marker = '[CITATION:{"texte": "un {faux} passage", "recording_index": 0, "chunk_index": 9}]'
    standin.script.append(
        Turn(
            text=f"Oui : le délai de carence est de trois mois [1]. {marker}Le client est chez la Macif [2].",
            tool_calls=[
                (
                    "citer_passages",
                    {
                        "citations": [
                            {"texte": "Le délai de carence est de trois mois", "recording_index": 0, "chunk_index": 2,
                             "role": None},
                            {"texte": "mon assureur actuel est la Macif", "recording_index": 0, "chunk_index": 3,
                             "role": None},
                            {"texte": "le client a refusé toutes les garanties", "recording_index": 0,
                             "chunk_index": 1, "role": None},
                        ]
                    },
                )
            ],
            prompt_tokens=1000,
            cached_tokens=200,
            completion_tokens=50,
        )
    )  # fmt: skip
    payloads = await ask(chat_app, world, f"/api/audits/{audit_id}/chat", "Le délai de carence a-t-il été annoncé ?")

    assert standin.violations == []
    sent = standin.seen[0]  # OPENAI_TEMPERATURE_CHAT and OPENAI_MAX_TOKENS_CHAT honoured
    assert (sent["temperature"], sent["max_completion_tokens"]) == (0.0, 3000)
    assert payloads[-1] == "[DONE]"
    shown = texts(payloads)
    assert "".join(shown) == "Oui : le délai de carence est de trois mois [1]. Le client est chez la Macif [2]."
    for piece in shown:  # never a marker, nor a piece of one, nor JSON
        assert "[CIT" not in piece
        assert "{" not in piece
        assert "texte" not in piece
    frames = [json.loads(p) for p in payloads[:-1]]
    cited = [f["citations"] for f in frames if "citations" in f]
    assert len(cited) == 1
    assert [c["texte"] for c in cited[0]] == [
        "Le délai de carence est de trois mois",
        "mon assureur actuel est la Macif",
    ]
    assert cited[0][0]["chunk_id"].endswith(":2")
    assert cited[0][0]["end_seconds"] > cited[0][0]["start_seconds"]

    data = await history(client, world, f"/api/audits/{audit_id}/chat/history")
    question, reply = data["messages"]
    assert (question["role"], question["status"]) == ("user", "answered")
    assert reply["citations"] == cited[0]  # the frame equals what is stored
    assert reply["citationsRejected"] == 2  # the marker's and the invented quote
    assert reply["content"] == "".join(shown)
    assert (reply["mode"], reply["transcriptMode"], reply["model"]) == ("llm", "prompt", MODEL)
    assert (reply["inputTokens"], reply["cachedInputTokens"], reply["outputTokens"]) == (1000, 200, 50)
    assert reply["costUsd"] == pytest.approx((800 * 0.15 + 200 * 0.075 + 50 * 0.6) / 1_000_000)
    assert data["messageCount"] == 2

    # every stored citation is found in its chunk's words (the audits' asset check)
    stored = (await world.session.scalars(select(ChatMessage).where(ChatMessage.role == "assistant"))).all()
    chunks = select(TranscriptChunk.chunk_id, TranscriptChunk.text).where(TranscriptChunk.fiche_id == "F-OWN")
    texts_by_chunk: dict[str, str] = dict((await world.session.execute(chunks)).all())
    for message in stored:
        for citation in message.citations:
            following = [
                texts_by_chunk.get(f"{citation['call_id']}:{citation['chunk_index'] + n}", "")
                for n in range(1, MAX_CONTINUATION_CHUNKS + 1)
            ]
            haystack = " ".join([texts_by_chunk[citation["chunk_id"]], *following])
            assert locate_quote(tokenise(citation["texte"]), tokenise(haystack)) is not None


async def test_a_fiche_beyond_the_budget_is_answered_through_the_transcript_tools_within_the_budget(
    chat_app: FastAPI, client: httpx.AsyncClient, world: World, standin: StreamingStandIn
) -> None:
    filler = "nous parlons des garanties hospitalisation et des remboursements prévus au contrat " * 4
    turns = [(f"speaker_{i % 2}", f"{filler} numéro {i}") for i in range(120)]
    turns[77] = ("speaker_1", "Le délai de carence est de trois mois pour l'optique")
    await world.add_transcript("own", turns)
    refs = [{"recording_index": 0, "chunk_index": i} for i in range(60, 80)]
    standin.script.extend(
        [
            Turn(tool_calls=[("search_transcript", {"query": "délai de carence", "max_results": 50,
                                                    "min_term_length": None})]),
            Turn(tool_calls=[("get_transcript_chunks", {"chunks": refs, "include_neighbors": 2,
                                                        "max_chars": 80000})]),
            Turn(text="Le délai de carence annoncé est de trois mois [1].",
                 tool_calls=[("citer_passages", {"citations": [{"texte": "Le délai de carence est de trois mois",
                              "recording_index": 0, "chunk_index": 77, "role": None}]})]),
        ]
    )  # fmt: skip
    payloads = await ask(chat_app, world, "/api/fiches/F-OWN/chat", "Quel délai de carence a été annoncé ?")

    assert standin.violations == []
    assert len(standin.seen) == 3
    first = standin.seen[0]
    assert "CHRONOLOGIE" not in first["messages"][0]["content"]  # the timeline did not fit: tools mode
    assert {t["function"]["name"] for t in first["tools"]} >= {"search_transcript", "get_transcript_chunks"}
    for body in standin.seen:
        assert tokens_of(body) <= 8000
    fetched = json.loads(standin.seen[2]["messages"][-1]["content"])
    assert fetched.get("truncated_for_budget") is True  # 100 chunks asked for: cut to what fits
    data = await history(client, world, "/api/fiches/F-OWN/chat/history")
    reply = data["messages"][-1]
    assert reply["transcriptMode"] == "tools"
    assert 0 < reply["contextTokens"] <= 8000
    assert [c["chunk_index"] for c in reply["citations"]] == [77]
    assert json.loads(payloads[-2])["citations"] == reply["citations"]


async def test_a_client_leaving_stops_the_model_call_and_leaves_the_question_unanswered(
    chat_app: FastAPI, client: httpx.AsyncClient, world: World, standin: StreamingStandIn
) -> None:
    audit_id = await audit_with_transcript(world)
    standin.script.append(Turn(text="Je regarde la transcription en détail pour vous répondre.", hang_after_chars=8))
    payloads = await ask(chat_app, world, f"/api/audits/{audit_id}/chat", "Qui est l'assureur ?", leave_after=1)

    assert texts(payloads) == ["J"]
    assert standin.closed_early == 1  # the model's response was closed: the generation stopped
    data = await history(client, world, f"/api/audits/{audit_id}/chat/history")
    assert [(m["role"], m["status"], m["error"]) for m in data["messages"]] == [("user", "unanswered", CLIENT_LEFT)]


@pytest.mark.parametrize(
    ("failure", "why"),
    [(httpx2.ReadError, "the connection was lost"), (httpx2.ReadTimeout, "nothing received for {timeout:g} s")],
)
async def test_a_stream_broken_mid_answer_ends_with_an_error_frame_saying_so_and_stores_no_partial_answer(
    chat_app: FastAPI,
    client: httpx.AsyncClient,
    world: World,
    standin: StreamingStandIn,
    api_settings: Settings,
    failure: type[httpx2.TransportError],
    why: str,
) -> None:
    audit_id = await audit_with_transcript(world)
    standin.script.append(Turn(text="Le conseiller a bien", fail_after_chars=6, failure=failure))
    payloads = await ask(chat_app, world, f"/api/audits/{audit_id}/chat", "Le conseiller s'est-il présenté ?")

    assert payloads[-1] == "[DONE]"
    assert texts(payloads) == list("Le con")  # what came before the break was shown
    # not "could not be reached": the endpoint answered, then the answer broke off
    reason = "the model's answer stream was interrupted: " + why.format(
        timeout=api_settings.llm_request_timeout_seconds
    )
    error = json.loads(payloads[-2])
    assert error == {"type": "error", "error": reason, "code": "STREAM_ERROR"}
    data = await history(client, world, f"/api/audits/{audit_id}/chat/history")
    # the half answer is not kept as an assistant message: the question alone, unanswered, with why
    assert [(m["role"], m["status"], m["error"]) for m in data["messages"]] == [("user", "unanswered", reason)]


async def test_an_unreachable_model_is_told_apart_from_an_interrupted_answer(
    chat_app: FastAPI, client: httpx.AsyncClient, world: World, standin: StreamingStandIn
) -> None:
    audit_id = await audit_with_transcript(world)
    standin.script.append(Turn(refuse=True))
    payloads = await ask(chat_app, world, f"/api/audits/{audit_id}/chat", "Le conseiller s'est-il présenté ?")

    reason = "the model endpoint could not be reached"
    assert payloads == [json.dumps({"type": "error", "error": reason, "code": "STREAM_ERROR"}), "[DONE]"]
    data = await history(client, world, f"/api/audits/{audit_id}/chat/history")
    assert [(m["role"], m["status"], m["error"]) for m in data["messages"]] == [("user", "unanswered", reason)]


async def test_offline_the_answer_is_extractive_labelled_and_cited(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    await world.add_transcript("own", TURNS)
    payloads = await ask(app, world, "/api/fiches/F-OWN/chat", "Quel est le délai de carence ?")

    shown = "".join(texts(payloads))
    assert shown.startswith("Réponse extractive (aucun modèle de langage n'est configuré)")
    cited = json.loads(payloads[-2])["citations"]
    assert cited[0]["chunk_index"] == 2
    assert "carence" in cited[0]["texte"]
    reply = (await history(client, world, "/api/fiches/F-OWN/chat/history"))["messages"][-1]
    assert (reply["mode"], reply["citations"], reply["costUsd"]) == ("extractive", cited, 0.0)


async def test_history_is_kept_newest_first_within_the_budget_and_answered_only(
    chat_app: FastAPI, world: World, standin: StreamingStandIn
) -> None:
    audit_id = await audit_with_transcript(world)
    standin.script.extend([Turn(text="Première réponse."), Turn(text="Deuxième réponse.")])
    await ask(chat_app, world, f"/api/audits/{audit_id}/chat", "Première question ?")
    await ask(chat_app, world, f"/api/audits/{audit_id}/chat", "Deuxième question ?")

    roles = [(m["role"], m.get("content")) for m in standin.seen[1]["messages"][1:]]
    assert roles == [
        ("user", "Première question ?"),
        ("assistant", "Première réponse."),
        ("user", "Deuxième question ?"),
    ]
    system = standin.seen[1]["messages"][0]["content"]
    assert "Présentation" in system
    assert "Nom du conseiller : PRESENT" in system


async def test_an_empty_message_is_refused_naming_the_field(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post("/api/fiches/F-OWN/chat", json={"message": "   "}, headers=world.headers("operator"))
    assert response.status_code == 400
    assert response.json()["field"] == "body.message"


async def test_chat_without_read_access_to_the_audit_is_forbidden(client: httpx.AsyncClient, world: World) -> None:
    await world.add_role("chatter", {"chat": (True, True, Scope.GROUP), "fiches": (True, False, Scope.GROUP)})
    user_id = await world.add_user("chatter@example.test", roles=("chatter",), team="own")
    headers = {"Authorization": f"Bearer {world.token_for(user_id)}"}
    audit_id = await add_audit(world.session, "F-OWN", await add_scorecard(world.session))
    await world.commit()
    response = await client.get(f"/api/audits/{audit_id}/chat/history", headers=headers)
    assert response.status_code == 403
    assert "audits.read" in response.json()["error"]
    assert (await client.get("/api/fiches/F-OWN/chat/history", headers=headers)).status_code == 200


async def rerun_step_2(world: World, audit_id: int) -> None:
    """What a step rerun writes: revision 1 of "Devoir de conseil" (PARTIEL 2/3) superseded by revision 2."""
    first = await world.session.scalar(select(AuditStep).where(AuditStep.audit_id == audit_id, AuditStep.position == 2))
    assert first is not None
    first.superseded_at = dt.datetime.now(dt.UTC)
    await world.session.flush()
    point = AuditControlPoint(index=1, point="Besoins", statut="PRESENT", commentaire="Besoins recueillis")
    world.session.add(
        AuditStep(
            audit_id=audit_id,
            position=2,
            revision=2,
            rerun_scope="step",
            name=first.name,
            is_critical=first.is_critical,
            weight=first.weight,
            severity=first.severity,
            traite=True,
            conforme="CONFORME",
            score=3,
            niveau_conformite="EXCELLENT",
            control_points=[point],
        )
    )
    await world.session.flush()


async def test_the_audit_is_read_as_it_stands_and_the_fiche_with_its_latest_audits_only(
    chat_app: FastAPI, client: httpx.AsyncClient, world: World, standin: StreamingStandIn
) -> None:
    audit_id = await audit_with_transcript(world)
    review = {"statut": "PRESENT", "commentaire": "Dit à 00:42", "reason": "Entendu à la réécoute"}
    path = f"/api/audits/{audit_id}/steps/1/control-points/2/review"
    assert (await client.patch(path, json=review, headers=world.headers("operator"))).status_code == 200
    await rerun_step_2(world, audit_id)
    old = await add_audit(world.session, "F-OWN", await add_scorecard(world.session, "Ancienne grille"), latest=False)
    gone = await add_audit(
        world.session,
        "F-OWN",
        await add_scorecard(world.session, "Grille supprimée"),
        deleted_at=dt.datetime.now(dt.UTC),
    )
    standin.script.extend([Turn(text="Oui."), Turn(text="Oui.")])
    await ask(chat_app, world, f"/api/audits/{audit_id}/chat", "La société a-t-elle été nommée ?")
    await ask(chat_app, world, "/api/fiches/F-OWN/chat", "Quels audits ?")

    audit_prompt = standin.seen[0]["messages"][0]["content"]
    assert "1.2 Nom de la société : PRESENT - Dit à 00:42" in audit_prompt  # the override in force
    assert "Présentation [critique] [revu par un humain] : CONFORME (5/5" in audit_prompt
    assert "2. Devoir de conseil : CONFORME (3/3, EXCELLENT)" in audit_prompt  # the rerun's revision
    assert "2.1 Besoins : PRESENT - Besoins recueillis" in audit_prompt
    assert "Devoir de conseil : PARTIEL" not in audit_prompt  # nothing of the superseded revision
    assert "Besoins : PARTIEL" not in audit_prompt
    fiche_prompt = standin.seen[1]["messages"][0]["content"]
    assert f"Audit #{audit_id} " in fiche_prompt
    assert f"Audit #{old} " not in fiche_prompt
    assert f"Audit #{gone} " not in fiche_prompt


async def test_a_deleted_audit_has_no_chat(client: httpx.AsyncClient, world: World) -> None:
    audit_id = await add_audit(world.session, "F-OWN", await add_scorecard(world.session))
    headers = world.headers("operator")
    deleted = await client.patch(f"/api/audits/{audit_id}", json={"deleted": True}, headers=headers)
    assert deleted.status_code == 200, deleted.text

    history_response = await client.get(f"/api/audits/{audit_id}/chat/history", headers=headers)
    asked = await client.post(f"/api/audits/{audit_id}/chat", json={"message": "Score ?"}, headers=headers)
    assert (history_response.status_code, asked.status_code) == (404, 404)
    assert asked.json()["code"] == "NOT_FOUND"
    conversations = select(func.count()).select_from(ChatConversation).where(ChatConversation.audit_id == audit_id)
    assert await world.session.scalar(conversations) == 0
    restored = await client.patch(f"/api/audits/{audit_id}", json={"deleted": False}, headers=headers)
    assert restored.status_code == 200, restored.text
    assert (await client.get(f"/api/audits/{audit_id}/chat/history", headers=headers)).status_code == 200


async def test_history_gets_or_creates_one_conversation_and_returns_its_last_50_messages_oldest_first(
    client: httpx.AsyncClient, world: World
) -> None:
    audit_id = await add_audit(world.session, "F-OWN", await add_scorecard(world.session))
    first = await history(client, world, f"/api/audits/{audit_id}/chat/history")
    assert (first["ficheId"], first["auditId"], first["messages"], first["messageCount"]) == (
        "F-OWN",
        str(audit_id),
        [],
        0,
    )
    assert (await history(client, world, f"/api/audits/{audit_id}/chat/history"))["conversationId"] == first[
        "conversationId"
    ]
    fiche_level = await history(client, world, "/api/fiches/F-OWN/chat/history")
    assert fiche_level["auditId"] is None
    assert fiche_level["conversationId"] != first["conversationId"]

    for i in range(52):
        user = i % 2 == 0
        world.session.add(
            ChatMessage(
                conversation_id=int(first["conversationId"]),
                role=MessageRole.USER if user else MessageRole.ASSISTANT,
                status=MessageStatus.ANSWERED if user else MessageStatus.COMPLETE,
                content=f"message {i}",
            )
        )
    await world.session.flush()
    data = await history(client, world, f"/api/audits/{audit_id}/chat/history")
    assert data["messageCount"] == 52
    assert [m["content"] for m in data["messages"]] == [f"message {i}" for i in range(2, 52)]
    assert {"id", "conversationId", "role", "content", "timestamp"} <= set(data["messages"][0])
    assert data["messages"][0]["conversationId"] == first["conversationId"]


async def test_a_question_that_leaves_no_room_in_the_context_budget_is_refused_and_nothing_is_stored(
    chat_app: FastAPI, client: httpx.AsyncClient, world: World, standin: StreamingStandIn
) -> None:
    audit_id = await audit_with_transcript(world)
    settings: Settings = chat_app.dependency_overrides[get_settings_dep]()
    chat_app.dependency_overrides[get_settings_dep] = lambda: settings.model_copy(
        update={"chat_context_token_budget": 1000}
    )
    path = f"/api/audits/{audit_id}/chat"
    response = await client.post(path, json={"message": "mot " * 400}, headers=world.headers("operator"))

    assert response.status_code == 400, response.text
    assert response.json()["field"] == "body.message"
    assert "chat context budget (1000 tokens)" in response.json()["error"]
    assert standin.seen == []
    assert await world.session.scalar(select(func.count()).select_from(ChatMessage)) == 0
    assert await world.session.scalar(select(func.count()).select_from(ChatConversation)) == 0
