"""The registry of connector types: `type` in the sources config -> factory, and the config loader
that checks every `type` against it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from connectors.base import Connector
from connectors.config import ConfigError, SourceConfig, SourceContext, read_sources_config
from connectors.confluence.connector import ConfluenceConnector
from connectors.discourse.connector import DiscourseConnector
from connectors.files.connector import FilesConnector
from connectors.mbox.connector import MboxConnector
from connectors.mediawiki.connector import MediaWikiConnector
from connectors.people.connector import PeopleDirectory
from connectors.stackexchange.connector import StackExchangeConnector

Factory = Callable[[SourceConfig, SourceContext], Connector]

CONNECTOR_TYPES: dict[str, Factory] = {
    "files": FilesConnector.from_config,
    "mediawiki": MediaWikiConnector.from_config,
    "stackexchange": StackExchangeConnector.from_config,
    "discourse": DiscourseConnector.from_config,
    "people": PeopleDirectory.from_config,
    "mbox": MboxConnector.from_config,
    "confluence": ConfluenceConnector.from_config,
}


def load_sources_config(path: Path) -> list[SourceConfig]:
    """Read and validate a sources file; every `type` must be a registered connector type."""
    return read_sources_config(path, CONNECTOR_TYPES)


def build_connector(config: SourceConfig, context: SourceContext) -> Connector:
    """Instantiate the connector for one source, or raise ConfigError naming the source."""
    factory = CONNECTOR_TYPES.get(config.type)
    if factory is None:
        raise ConfigError(f"source {config.name!r}: unknown type {config.type!r}")
    return factory(config, context)
