"""The registry of connector types: `type` in the sources config -> factory."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from connectors.base import Connector
from connectors.config import ConfigError, SourceConfig, SourceContext

Factory = Callable[[SourceConfig, SourceContext], Connector]

# type -> "module:factory". Imported lazily so a run only loads the parsers it needs.
CONNECTOR_TYPES: dict[str, str] = {
    "files": "connectors.files:FilesConnector.from_config",
    "mediawiki": "connectors.mediawiki:MediaWikiConnector.from_config",
    "stackexchange": "connectors.stackexchange:StackExchangeConnector.from_config",
    "discourse": "connectors.discourse:DiscourseConnector.from_config",
    "people": "connectors.people:PeopleDirectory.from_config",
    "mbox": "connectors.mbox:MboxConnector.from_config",
    "confluence": "connectors.confluence:ConfluenceConnector.from_config",
}


def build_connector(config: SourceConfig, context: SourceContext) -> Connector:
    """Instantiate the connector for one source, or raise ConfigError naming the source."""
    target = CONNECTOR_TYPES.get(config.type)
    if target is None:
        raise ConfigError(f"source {config.name!r}: unknown type {config.type!r}")
    module_name, _, attr = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    factory: Factory = obj  # type: ignore[assignment]
    return factory(config, context)
