"""What the chat routes share per app: the chat model (when one is configured) and the sessions an
answer's stream writes with once the request's own session is gone. Tests override both."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api.chat.service import Sessions
from api.deps import StateDep
from domain.chat.answer import ChatModel
from resources.llm.chat import build_chat_model, chat_llm_configured


def get_chat_model(state: StateDep) -> ChatModel | None:
    """None without OPENAI_API_KEY / OPENAI_BASE_URL: answers are then extractive."""
    if not chat_llm_configured(state.settings):
        return None
    model = state.chat_model
    if model is None:
        built = build_chat_model(state.settings, state.redis)
        state.chat_model = model = built
        state.cleanups.append(built.aclose)
    return model


def get_chat_sessions(state: StateDep) -> Sessions:
    return state.sessionmaker


ChatModelDep = Annotated[ChatModel | None, Depends(get_chat_model)]
ChatSessionsDep = Annotated[Sessions, Depends(get_chat_sessions)]
