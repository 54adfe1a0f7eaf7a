"""What the scan reports about one HTML page, filled in by :mod:`fetcher.html` as it parses.

Kept apart from the parser so a response that is not HTML, or no response at all, reports
the same empty facts without importing :mod:`html.parser`.
"""

from __future__ import annotations


class FormFacts:
    """One ``<form>``: where it submits and whether it asks for a password.

    Plain classes rather than NamedTuples, here and below: both are filled in as parsing goes.
    """

    __slots__ = (
        "action",
        "action_host",
        "cross_origin",
        "has_password",
        "insecure_action",
        "method",
    )

    def __init__(
        self,
        *,
        action: str | None,
        action_host: str | None,
        method: str,
        cross_origin: bool,
        insecure_action: bool,
    ) -> None:
        self.action = action
        self.action_host = action_host
        self.method = method
        #: Set when an ``<input type=password>`` appears before the form closes.
        self.has_password = False
        self.cross_origin = cross_origin
        self.insecure_action = insecure_action

    def as_report(self) -> dict[str, str | bool | None]:
        """Return the report's entry for this form."""
        return {
            "action": self.action,
            "action_host": self.action_host,
            "method": self.method,
            "has_password": self.has_password,
            "cross_origin": self.cross_origin,
            "insecure_action": self.insecure_action,
        }


class PageFacts:
    """Everything the scan reports from one page's markup, hosts lower-case."""

    def __init__(self) -> None:
        self.title: str | None = None
        self.forms: list[FormFacts] = []
        self.inline_scripts = 0
        self.external_scripts = 0
        #: Hosts that src-loaded scripts come from, the page's own host included.
        self.script_hosts: set[str] = set()
        self.iframes = 0
        self.iframe_hosts: set[str] = set()
        self.meta_refresh: str | None = None
        self.script_redirects: list[str] = []
        #: http:// URLs of scripts, frames, images, stylesheets and form actions on https pages.
        self.mixed_content: list[str] = []
        self.links = 0
        #: Hosts that links lead to other than the page's own.
        self.link_hosts: set[str] = set()
        #: The first link to each origin other than the page's, keyed by that origin, in the
        #: order the page has them (what child scans follow).
        self.link_targets: dict[tuple[str, str | None, int | None], str] = {}
        #: False when the time budget ran out before the whole page was parsed.
        self.complete = True
