"""The paging tools intake understands: one `PagingTool` per module, listed here once.

Everything that differs between tools is asked of the tool found here by its kind: the
intake URLs and their API schema (`failover.intake.urls`, `views`), authentication, replay
and dedupe (`services`), secret storage (`credentials`), mapping-rule checks
(`integrations`), the admin and `create_integration`. The model stores the kind as
plain text, so a new tool needs no migration.
"""

from __future__ import annotations

from failover.intake.tools.alertmanager import Alertmanager
from failover.intake.tools.base import PagingTool
from failover.intake.tools.opsgenie import Opsgenie
from failover.intake.tools.pagerduty import PagerDuty

# The order is the order of the URLs, the schema's operations and the kind choices.
TOOLS: tuple[PagingTool, ...] = (PagerDuty(), Alertmanager(), Opsgenie())
REGISTRY: dict[str, PagingTool] = {tool.kind: tool for tool in TOOLS}


def for_kind(kind: str) -> PagingTool:
    """The tool of this kind; KeyError for a kind no tool has."""
    return REGISTRY[kind]


def kinds() -> list[str]:
    return [tool.kind for tool in TOOLS]


def choices() -> list[tuple[str, str]]:
    """(kind, label) of every tool, for forms and filters."""
    return [(tool.kind, tool.label) for tool in TOOLS]
