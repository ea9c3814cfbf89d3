"""Engines that rewrite a CV: OpenAI when a key is configured, the offline rewriter otherwise."""

from __future__ import annotations

from jobs.engines.base import Engine, ImproveRequest
from jobs.engines.offline import OfflineEngine
from settings import Settings

__all__ = ["Engine", "ImproveRequest", "select_engine"]


def select_engine(settings: Settings) -> Engine:
    if settings.openai_enabled:
        from jobs.engines.openai_engine import OpenAIEngine

        return OpenAIEngine(settings)
    return OfflineEngine()
