"""authenticate(): a staff command counts only if our MTA's Authentication-Results vouches for the From domain.

Fixtures in tests/data/mail/auth/ are whole mails as the named MTAs leave
them; the company is vendor.example.com, its border MTA (the one trusted
authserv-id) mx.vendor.example.com, staff li.wei@vendor.example.com.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.commands.auth import AuthVerdict, authenticate
from mailflow.parse import parse

AUTH = Path(__file__).parent / "data" / "mail" / "auth"
OURS = ["mx.vendor.example.com"]
STAFF = "li.wei@vendor.example.com"


def verdict(fixture: str, trusted: list[str] = OURS, **kwargs) -> AuthVerdict:
    mail = parse((AUTH / fixture).read_bytes())
    return authenticate(mail.headers, mail.sender.email, trusted_authserv_ids=trusted, **kwargs)


def ours(*values: str, from_address: str = STAFF) -> AuthVerdict:
    """authenticate() on bare Authentication-Results values, top first, trusting mx.vendor.example.com."""
    return authenticate([("Authentication-Results", value) for value in values], from_address,
                        trusted_authserv_ids=OURS)


# --- mails that are accepted -------------------------------------------------

@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        # Postfix + OpenDKIM, header folded over three lines.
        ("opendkim_dkim_pass.eml", "dkim=pass for vendor.example.com by mx.vendor.example.com"),
        # smtp.mailfrom as an address, with a comment holding ";" after it.
        ("spf_pass_address.eml", "spf=pass for vendor.example.com by mx.vendor.example.com"),
        # smtp.mailfrom as a bare domain; "dkim=none" before it is no obstacle.
        ("spf_pass_domain.eml", "spf=pass for vendor.example.com by mx.vendor.example.com"),
        # OpenDMARC's own header on top of OpenDKIM's: the top one alone decides.
        ("opendmarc_dmarc_pass.eml", "dmarc=pass for vendor.example.com by mx.vendor.example.com"),
        # Signed by a subdomain: relaxed alignment.
        ("subdomain_dkim.eml",
         "dkim=pass for mail.vendor.example.com by mx.vendor.example.com (aligned with vendor.example.com)"),
        # Exchange Online's header (no authserv-id, so authres cannot parse it) above ours is skipped.
        ("exchange_above_ours.eml", "dkim=pass for vendor.example.com by mx.vendor.example.com"),
        # Header name, authserv-id, method, result and domains in mixed case; trailing dot on header.d.
        ("mixed_case.eml", "dkim=pass for vendor.example.com by mx.vendor.example.com"),
    ],
)
def test_a_pass_aligned_with_the_from_domain_is_accepted(fixture: str, reason: str) -> None:
    assert verdict(fixture) == AuthVerdict(True, reason)


def test_trusted_ids_compare_case_insensitively_and_without_trailing_dot() -> None:
    assert verdict("mixed_case.eml", ["MX.VENDOR.EXAMPLE.COM."]).ok
    # Gmail-style header: header.i=@vendor.example.com stands in for header.d.
    assert verdict("gmail_relay.eml", ["Mx.Google.Com"]) == AuthVerdict(
        True, "dkim=pass for vendor.example.com by mx.google.com")


def test_a_from_address_in_odd_case_with_trailing_dot_still_aligns() -> None:
    value = "mx.vendor.example.com; spf=pass smtp.mailfrom=Li.Wei@VENDOR.example.com."
    assert ours(value, from_address="LI.WEI@Vendor.Example.COM.").ok


def test_folded_raw_values_are_accepted_as_well_as_unfolded_ones() -> None:
    folded = ('mx.vendor.example.com;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=vendor.example.com\r\n'
              '\theader.i=@vendor.example.com\n header.b="AbCdEf12"')
    assert ours(folded) == AuthVerdict(True, "dkim=pass for vendor.example.com by mx.vendor.example.com")


def test_not_required_accepts_anything() -> None:
    assert verdict("no_auth_results.eml", [], required=False) == AuthVerdict(
        True, "authentication not required (security.require_authenticated_staff = false)")


# --- alignment ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("result", "from_address", "ok"),
    [
        ("dkim=pass header.d=vendor.example.com", STAFF, True),
        ("dkim=pass header.d=mail.vendor.example.com", STAFF, True),  # ours signs as a subdomain
        ("dkim=pass header.d=vendor.example.com", "li.wei@eu.vendor.example.com", True),  # parent vouches
        # No public suffix list: a parent's pass covers its subdomains (its owner runs their DNS anyway).
        ("dkim=pass header.d=example.com", STAFF, True),
        ("dkim=pass header.i=li.wei@mail.vendor.example.com", STAFF, True),  # header.i without header.d
        ("dkim=pass header.d=evilvendor.example.com", STAFF, False),  # suffix, but not at a label boundary
        ("dkim=pass header.d=vendor.example.com.attacker.example.net", STAFF, False),
        ("dkim=pass header.d=vendor.example.com header.d=attacker.example.net", STAFF, False),  # every one must align
        ("dkim=pass header.d=", STAFF, False),
        ("dkim=pass header.s=s1", STAFF, False),  # a pass that names no domain
        ('spf=pass smtp.mailfrom="li wei"@vendor.example.com', STAFF, True),
        ("spf=pass smtp.mailfrom=VENDOR.EXAMPLE.COM.", STAFF, True),
        ("spf=pass smtp.helo=vendor.example.com", STAFF, False),  # only smtp.mailfrom counts for spf
        ("dmarc=pass header.from=vendor.example.com", STAFF, True),
        ("dmarc=pass header.from=example.org", STAFF, False),
        ("compauth=pass reason=100", STAFF, False),  # only dkim, spf, dmarc count
        ("auth=pass smtp.auth=li.wei@vendor.example.com", STAFF, False),
    ],
)
def test_alignment(result: str, from_address: str, ok: bool) -> None:
    assert ours(f"mx.vendor.example.com; {result}", from_address=from_address).ok is ok


# --- mails that are refused, each with its own reason ------------------------

@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("no_auth_results.eml",
         "no Authentication-Results header: nothing shows the mail came from vendor.example.com"),
        ("untrusted_only.eml", "Authentication-Results only from untrusted servers: evil.example.net"),
        # Relayed via Google: a Gmail verdict, however good, is not our MTA's.
        ("gmail_relay.eml", "Authentication-Results only from untrusted servers: mx.google.com"),
        # Exchange Online writes no authserv-id; authres reads "spf=pass" as the id, then fails.
        ("exchange_online_only.eml",
         "Authentication-Results only from untrusted servers: 1 unparsable header without a trusted authserv-id"),
        ("dkim_fail_spf_softfail.eml",
         "no dkim, spf or dmarc pass for vendor.example.com from mx.vendor.example.com: dkim=fail, spf=softfail"),
        ("pass_other_domain.eml",
         "dkim=pass is for attacker.example.net, not vendor.example.com "
         "(Authentication-Results by mx.vendor.example.com)"),
        # The sender planted a passing mx.vendor.example.com header; ours, above it, failed.
        ("forged_below_ours.eml",
         "no dkim, spf or dmarc pass for vendor.example.com from mx.vendor.example.com: "
         "dkim=none, spf=softfail, dmarc=fail"),
        # Ours does not parse: refused, even though a passing (forged) copy follows.
        ("unparsable_ours.eml",
         "the Authentication-Results header of mx.vendor.example.com does not parse (Syntax error: Expected method)"),
    ],
)
def test_refused(fixture: str, reason: str) -> None:
    assert verdict(fixture) == AuthVerdict(False, reason)


def test_a_forged_header_above_ours_is_believed_stripping_it_is_the_border_mtas_job() -> None:
    # Nothing in the mail tells a forged "mx.vendor.example.com" header on top
    # from ours. RFC 8601 section 5: the MTA deletes headers claiming its
    # authserv-id on arrival. This test records the assumption; it is no defence.
    assert verdict("forged_above_unstripped.eml").ok


def test_an_empty_trusted_list_trusts_no_header() -> None:
    expected = AuthVerdict(False, "security.trusted_authserv_ids is empty: "
                                  "no Authentication-Results header can be trusted")
    assert verdict("opendkim_dkim_pass.eml", []) == expected
    assert verdict("opendkim_dkim_pass.eml", ["", " "]) == expected


def test_every_pass_for_another_domain_is_named() -> None:
    got = ours("mx.vendor.example.com; dkim=pass header.d=attacker.example.net; "
               "spf=pass smtp.mailfrom=bounce@mailer.example.org; dmarc=pass")
    assert got == AuthVerdict(False, "dkim=pass is for attacker.example.net and spf=pass is for mailer.example.org "
                                     "and dmarc=pass is for no named domain, not vendor.example.com "
                                     "(Authentication-Results by mx.vendor.example.com)")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("mx.vendor.example.com; none",
         "mx.vendor.example.com checked nothing for vendor.example.com (Authentication-Results: none)"),
        # authres keeps a trailing "; none" as a result without a method.
        ("mx.vendor.example.com; dkim=neutral (no key) header.d=vendor.example.com; none",
         "no dkim, spf or dmarc pass for vendor.example.com from mx.vendor.example.com: dkim=neutral"),
        ("mx.vendor.example.com; compauth=pass reason=100; spf=none smtp.mailfrom=vendor.example.com",
         "no dkim, spf or dmarc pass for vendor.example.com from mx.vendor.example.com: compauth=pass, spf=none"),
    ],
)
def test_no_counted_pass(value: str, reason: str) -> None:
    assert ours(value) == AuthVerdict(False, reason)


@pytest.mark.parametrize(
    "value",
    [
        "mx.vendor.example.com; dkim=",
        "mx.vendor.example.com; dkim pass header.d=vendor.example.com",
        "mx.vendor.example.com 2; dkim=pass header.d=vendor.example.com",  # unsupported version
        "mx.vendor.example.com",
        "MX.Vendor.Example.COM.; dkim=pass header.d=vendor.example.com;",
        "mx.vendor.example.com;\r\n\tdkim=pass header.d=vendör.example.com",
    ],
)
def test_our_header_unparsable_is_a_one_line_refusal_never_an_exception(value: str) -> None:
    got = ours(value, "mx.vendor.example.com; dkim=pass header.d=vendor.example.com")
    assert not got.ok
    assert got.reason.startswith("the Authentication-Results header of mx.vendor.example.com does not parse (")
    assert "\n" not in got.reason and "\r" not in got.reason


def test_unparsable_headers_of_other_servers_are_skipped() -> None:
    assert ours("mx.vendor.example.com.attacker.example.net; dkim=",  # only looks like ours
                "spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=vendor.example.com",
                "mx.vendor.example.com; dkim=pass header.d=vendor.example.com").ok


def test_untrusted_servers_are_listed_once_each_in_order() -> None:
    got = ours("evil.example.net; dkim=pass header.d=vendor.example.com",
               "relay.example.org; spf=pass smtp.mailfrom=vendor.example.com",
               "evil.example.net; dmarc=pass header.from=vendor.example.com",
               # Exchange-style without properties: authres takes "spf=pass" for the authserv-id.
               "spf=pass; dkim=pass header.d=vendor.example.com",
               "garbage ;;")
    assert got == AuthVerdict(False, "Authentication-Results only from untrusted servers: evil.example.net, "
                                     "relay.example.org, spf=pass, 1 unparsable header without a trusted authserv-id")


def test_other_headers_are_ignored_and_the_name_matches_case_insensitively() -> None:
    headers = [("ARC-Authentication-Results", "i=1; mx.vendor.example.com; dkim=pass header.d=vendor.example.com"),
               ("X-Authentication-Results", "mx.vendor.example.com; dkim=pass header.d=vendor.example.com"),
               ("AUTHENTICATION-RESULTS", "mx.vendor.example.com; dkim=fail header.d=vendor.example.com"),
               ("Authentication-Results", "mx.vendor.example.com; dkim=pass header.d=vendor.example.com")]
    got = authenticate(headers, STAFF, trusted_authserv_ids=OURS)
    assert got == AuthVerdict(False, "no dkim, spf or dmarc pass for vendor.example.com from mx.vendor.example.com: "
                                     "dkim=fail")


def test_a_from_address_without_domain_is_refused() -> None:
    got = ours("mx.vendor.example.com; dkim=pass header.d=vendor.example.com", from_address="li.wei")
    assert got == AuthVerdict(False, "the From address 'li.wei' has no domain to authenticate")


def test_an_encoded_word_in_the_envelope_sender_cannot_forge_a_pass() -> None:
    # Our MTA copies the attacker's MAIL FROM local part verbatim into its own
    # header; "=?...?=" and "_" are legal there. Decoded, it adds
    # "; dkim=pass header.d=vendor.example.com" to our header.
    raw = (b"Authentication-Results: mx.vendor.example.com; spf=pass\r\n"
           b" smtp.mailfrom==?us-ascii?q?x=3B_dkim=3Dpass_header=2Ed=3Dvendor=2Eexample=2Ecom_policy=2Ex=3D?="
           b"@attacker.example.net\r\n"
           b"From: Li Wei <li.wei@vendor.example.com>\r\nTo: support@vendor.example.com\r\n"
           b"Subject: #assign:li.wei\r\nDate: Mon, 23 Nov 2026 10:11:58 +0800\r\n"
           b"Message-ID: <inject-0001@attacker.example.net>\r\n\r\nhi\r\n")
    mail = parse(raw)
    assert not authenticate(mail.headers, mail.sender.email, trusted_authserv_ids=OURS).ok
