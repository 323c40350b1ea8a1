"""Can the From address of a staff command mail be believed?

A From header is whatever the sender typed: "#assign:li.wei" in a mail from
li.wei@vendor.example.com proves nothing by itself.  What counts is the
verdict our own receiving MTA recorded in an ``Authentication-Results``
header (RFC 8601): DKIM, SPF or DMARC passed for the From domain.

Which header is believed:

* only one whose authserv-id is in ``security.trusted_authserv_ids``; any
  sender can write an Authentication-Results header naming any server;
* only the topmost of those.  Our border MTA prepends its header, so every
  header below it was already in the mail when it arrived, and a sender can
  put a forged "mx.vendor.example.com; dkim=pass" there, hoping for a check
  that accepts *any* trusted header.  Reading only the first makes such a
  copy useless.  A forged copy *above* ours cannot be told apart here: the
  MTA must delete headers claiming its id on arrival (RFC 8601 section 5).
  A topmost trusted header that does not parse is a refusal, never a reason
  to look further down.

A pass counts only for a domain aligned with the From domain (dkim:
``header.d``, else the domain of ``header.i``; spf: ``smtp.mailfrom``, an
address or a bare domain; dmarc: ``header.from``): equal, or one a subdomain
of the other, compared case-insensitively without trailing dots.  That is
DMARC's relaxed alignment *without* the public suffix list: a pass for
example.com also covers vendor.example.com (whoever runs example.com runs
its subdomains' DNS anyway), and a pass for mail.vendor.example.com covers
vendor.example.com, so a subdomain delegated to a third party can vouch for
us.  A pass naming no domain counts for nothing.

The header is parsed by ``authres``; this module only reads its results.
Pure: values in, an :class:`AuthVerdict` out, no exception for any mail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import authres
import authres.core

__all__ = ["AuthVerdict", "authenticate"]

# Where each counted method names the domain it vouches for, in order of preference.
_IDENTITY = {"dkim": (("header", "d"), ("header", "i")), "spf": (("smtp", "mailfrom"),), "dmarc": (("header", "from"),)}
# authres's own authserv-id grammar (a dot-atom), to see which server claims a header it cannot parse.
_LEADING_ID = re.compile(rf"(?:{authres.core.RFC5322_ATEXT_PATTERN}|\.)+")
_NOT_REQUIRED = "authentication not required (security.require_authenticated_staff = false)"


@dataclass(frozen=True)
class AuthVerdict:
    """Whether the From address is authenticated, and why, as one English line."""

    ok: bool
    reason: str  # for logs and the refusal mail: "dkim=pass for vendor.example.com by mx.vendor.example.com"


def authenticate(headers: Iterable[tuple[str, str]], from_address: str, *,
                 trusted_authserv_ids: Iterable[str], required: bool = True) -> AuthVerdict:
    """Judge ``from_address`` by the topmost Authentication-Results header of a trusted server.

    ``headers`` are the mail's ``(name, value)`` pairs in order, top first.
    """
    if not required:
        return AuthVerdict(True, _NOT_REQUIRED)
    trusted = {_domain(server) for server in trusted_authserv_ids} - {""}
    if not trusted:
        return AuthVerdict(False, "security.trusted_authserv_ids is empty: "
                                  "no Authentication-Results header can be trusted")
    _, at, domain = from_address.rpartition("@")
    domain = _domain(domain)
    if not (at and domain):
        return AuthVerdict(False, f"the From address {from_address!r} has no domain to authenticate")
    untrusted: list[str] = []
    unparsable = 0
    for name, value in headers:
        if name.strip().lower() != "authentication-results":
            continue
        text = " ".join(value.split())  # unfolded: authres expects one line
        try:
            header = authres.AuthenticationResultsHeader.parse_value(text)
        except authres.AuthResError as error:
            claimed = _claimed_id(text)
            if claimed in trusted:
                return AuthVerdict(False, f"the Authentication-Results header of {claimed} does not parse "
                                          f"({' '.join(str(error).split())})")
            unparsable += 1
            continue
        if _domain(header.authserv_id) in trusted:
            return _judge(header, domain)
        untrusted.append(header.authserv_id)
    if not untrusted and not unparsable:
        return AuthVerdict(False, f"no Authentication-Results header: nothing shows the mail came from {domain}")
    names = list(dict.fromkeys(untrusted))
    if unparsable:
        names.append(f"{unparsable} unparsable header{'s' if unparsable > 1 else ''} without a trusted authserv-id")
    return AuthVerdict(False, "Authentication-Results only from untrusted servers: " + ", ".join(names))


def _judge(header: authres.AuthenticationResultsHeader, domain: str) -> AuthVerdict:
    """The verdict of the one header that counts."""
    server = header.authserv_id
    said: list[str] = []
    elsewhere: list[str] = []
    for result in header.results:
        method = str(getattr(result, "method", None) or "").lower()
        if not method:  # authres keeps a trailing "; none" as a result without a method
            continue
        outcome = str(result.result).lower()
        said.append(f"{method}={outcome}")
        if outcome != "pass" or method not in _IDENTITY:
            continue
        claims = _identities(result, method)
        if claims and all(_aligned(claim, domain) for claim in claims):
            shown = ", ".join(dict.fromkeys(claims))
            aligned = "" if shown == domain else f" (aligned with {domain})"
            return AuthVerdict(True, f"{method}=pass for {shown} by {server}{aligned}")
        shown = ", ".join(dict.fromkeys(claim or '""' for claim in claims)) or "no named domain"
        elsewhere.append(f"{method}=pass is for {shown}")
    if elsewhere:
        return AuthVerdict(False, f"{' and '.join(elsewhere)}, not {domain} (Authentication-Results by {server})")
    if not said:
        return AuthVerdict(False, f"{server} checked nothing for {domain} (Authentication-Results: none)")
    return AuthVerdict(False, f"no dkim, spf or dmarc pass for {domain} from {server}: "
                              + ", ".join(dict.fromkeys(said)))


def _identities(result: authres.core.AuthenticationResult, method: str) -> list[str]:
    """The domains one result vouches for: every value of its preferred identity property."""
    for ptype, pname in _IDENTITY[method]:
        values = [str(p.value) for p in result.properties
                  if str(p.type).lower() == ptype and str(p.name).lower() == pname]
        if values:
            return [_domain(value.rpartition("@")[2]) for value in values]
    return []


def _aligned(claim: str, domain: str) -> bool:
    """Relaxed alignment without a public suffix list: equal, or one a subdomain of the other."""
    return bool(claim) and (claim == domain or claim.endswith("." + domain) or domain.endswith("." + claim))


def _domain(text: str) -> str:
    return text.strip().lower().rstrip(".")


def _claimed_id(text: str) -> str:
    """The authserv-id a header authres cannot parse starts with ("" if none): only to
    tell whether that broken header is a trusted server's, never to read its results."""
    match = _LEADING_ID.match(text)
    return _domain(match.group()) if match else ""
