"""The expert finder every surface uses (API, page, MCP, chat, answers, CLI): the ranker, then people's
own corrections from the state store."""

from __future__ import annotations

from index.experts.corrections import Corrections
from index.experts.finder import ExpertFinder
from index.experts.model import ExpertSettings
from service.engine import Engine


def corrected_finder(engine: Engine) -> ExpertFinder:
    return ExpertFinder(engine.retriever, ExpertSettings(), corrections=Corrections(engine.state))
