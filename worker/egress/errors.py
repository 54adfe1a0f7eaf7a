"""What the egress proxy and its client raise, under scanbox's one exception base.

The tree::

    ScanboxError (worker.errors)
    └── EgressError                  catch this to catch everything the egress proxy raises
        ├── EgressUnavailable        the control socket can't be reached, or hung up mid-reply
        ├── EgressProtocolError      a control message the protocol does not allow
        ├── EgressRefused            the proxy answered a control request with an error
        └── Refusal                  one proxied connection refused or failed (HTTP status)

A :class:`Refusal` never leaves the proxy: it ends one client connection with its status
and headers, and its reason is what the connection's record says.
"""

from __future__ import annotations

from worker.errors import ScanboxError


class EgressError(ScanboxError):
    """Base of everything the egress proxy and its client raise."""


class EgressUnavailable(EgressError):
    """The control socket can't be reached, or the proxy hung up before it answered."""


class EgressProtocolError(EgressError):
    """A control message (request or reply) that the protocol does not allow."""


class EgressRefused(EgressError):
    """The proxy refused a control request: ``code`` says why (e.g. ``session-limit``)."""

    def __init__(self, *, code: str, message: str) -> None:
        super().__init__(f"egress proxy refused the request ({code}): {message}")
        self.code = code
        self.message = message


class Refusal(EgressError):
    """A proxied connection refused by policy or limits, or whose target could not be reached.

    ``status`` is the HTTP status the client is answered with, ``reason`` the short word
    that goes into the answer's header and the record, ``detail`` the sentence beside it.
    ``error`` is set for a target that could not be reached (``refused``, ``timeout``, ...).
    """

    def __init__(
        self,
        *,
        status: int,
        reason: str,
        detail: str,
        error: str = "",
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail
        self.error = error
        #: The target asked for, when the refusal came before the request was taken in
        #: (a port outside the policy).
        self.host = host
        self.port = port
