"""Connectors: where an entity's government data comes from without an upload.

- ``http``: pulls the JSON API of docs/connector-api.md (an agency, an in-house gateway, or the
  simulator) with signed requests, retries and cursor pagination;
- ``drop_folder``: ingests the exports a robot or a person saves into a folder;
- ``base``: what both share — errors, request signing, records turned into ``facts.SourceRow``.

Running them (transactions, cursors, schedule, lock) is ``shebao.ledger.sync``'s job; the
periodic task is ``shebao.ledger.tasks``.
"""

from shebao.ledger.connectors.base import (
    ConnectorError,
    connector_secret,
    connector_secret_set,
    connector_unit_no,
)

__all__ = ["ConnectorError", "connector_secret", "connector_secret_set", "connector_unit_no"]
