"""Redaction of personal data before any text reaches a language model.

:func:`redact` replaces e-mail addresses, the shopper ids it is given, IBANs, payment card
numbers, phone numbers and street addresses with typed placeholders (``[EMAIL]``, ``[USER]``,
``[IBAN]``, ``[CARD]``, ``[PHONE]``, ``[ADDRESS]``). Product text must pass through intact, so the
patterns are chosen to leave model numbers, sizes and prices alone:

- **Cards**: 13–19 digits, optionally grouped by spaces or dashes, and only when the digits pass
  the Luhn check that every payment card number carries. A random digit string passes it one
  time in ten, so nine in ten EANs, order numbers and serials survive; a real card number is
  never missed. Redacting the tenth is the price of never sending a card number to a model.
- **IBANs**: country code, two check digits and 11–30 letters/digits, kept only when the ISO 13616
  mod-97 check holds (an upper-case product code of that shape almost never passes it).
- **Phones**: international numbers (``+`` and country code, any grouping); local numbers need a
  grouping the way people write them (``(555) 123-4567``, ``555-123-4567``, ``020 7946 0958``,
  ``07700 900123``) or a word such as "phone", "call" or "tel" right before them. A bare run of
  digits without either is left alone: it is more often a product or order code than a phone.
- **Addresses**: house number, one to four capitalised name words and a street suffix
  (St, Street, Ave, Road, Rd, Lane, Blvd, Drive…), with an optional flat/unit part.

Example:
    >>> redact("Ship to 221B Baker Street, call +44 20 7946 0958 or mail jo@x.org")
    'Ship to [ADDRESS], call [PHONE] or mail [EMAIL]'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)

# Candidates only: the check digits decide (see the callbacks below).
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\w.,$€£/-])\d(?:[ -]?\d){12,18}(?!\d)")

_LEFT = r"(?<![\w.,/+-])"  # not inside a word, a number, a date or a price
_PHONE_PATTERNS = (
    # International: +CC then more digits in groups, optional (0) or (area code).
    r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,6}(?![\w.,]?\d)",
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567.
    _LEFT + r"(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w.,-]?\d)",
    # European trunk-prefixed: 020 7946 0958, 07700 900123, 030-1234567, 06 12 34 56 78.
    _LEFT + r"0\d{1,4}(?:[ -]\d{2,8}){1,4}(?![\w.,-]?\d)",
    # Any digit run right after a word that says it is a phone number.
    r"(?i:(?<=phone )|(?<=phone: )|(?<=tel )|(?<=tel: )|(?<=call )|(?<=mobile )"
    r"|(?<=mobile: )|(?<=cell )|(?<=whatsapp )|(?<=me on )|(?<=me at ))"
    r"\d(?:[ .-]?\d){6,14}(?!\d)",
)
_PHONE = re.compile("|".join(f"(?:{p})" for p in _PHONE_PATTERNS))

# Suffixes that are also product words ("Road Bike", "Court Shoes", "3 Way Switch") only count
# when no capitalised word follows them (a compass point excepted): "45 Elm Road, Leeds" is
# redacted, "2 Pack Road Bike Tubes" is not.
_SURE_SUFFIXES = (
    "Street|St|Avenue|Ave|Rd|Lane|Ln|Boulevard|Blvd|Highway|Hwy|Parkway|Pkwy|Crescent|Cres|"
    "Strasse|Straße|Str"
)
_AMBIGUOUS_SUFFIXES = "Road|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Close|Square|Sq|Row|Grove"
_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?,?\s+"  # house number, 221B
    r"(?:[A-Z][A-Za-z'’.-]*\s+){1,4}"  # capitalised street name words
    rf"(?:(?i:{_SURE_SUFFIXES})\b|(?i:{_AMBIGUOUS_SUFFIXES})\b"
    r"(?!\.?\s+[A-Z](?!(?:[NS][EW]?|[EW])\b)))\.?"
    r"(?:\s+(?:[NS][EW]?|[EW])\b)?"  # compass point
    r"(?:,?\s+(?i:apt|apartment|unit|suite|flat|floor)\.?\s*#?\s*\w+)?"  # flat/unit
)


def luhn_ok(digits: str) -> bool:
    """True when a digit string passes the Luhn (mod 10) check used by payment cards.

    Formula: double every second digit from the right (subtracting 9 when > 9); the sum of all
    digits must be divisible by 10.
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """True when an IBAN (spaces allowed) passes the ISO 13616 mod-97 check."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _valid_prefix(text: str, ok: Callable[[str], bool], sep: str) -> int:
    """Length of the longest prefix of `text`, cut at a separator, whose compact form passes
    `ok`; 0 when none does. A match may run into a following number or word (an expiry date,
    a BIC): the personal part is still found."""
    cuts = [i for i, ch in enumerate(text) if ch in sep] + [len(text)]
    for cut in reversed(cuts):
        compact = "".join(ch for ch in text[:cut] if ch not in sep)
        if ok(compact):
            return cut
    return 0


def _card_ok(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _card(match: re.Match[str]) -> str:
    text = match.group()
    cut = _valid_prefix(text, _card_ok, " -")
    return "[CARD]" + text[cut:] if cut else text


def _iban(match: re.Match[str]) -> str:
    text = match.group()
    cut = _valid_prefix(text, iban_ok, " ")
    return "[IBAN]" + text[cut:] if cut else text


def _phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group())
    return "[PHONE]" if 7 <= digits <= 15 else match.group()


def _user_pattern(user_ids: Iterable[str]) -> re.Pattern[str] | None:
    ids = sorted({u.strip() for u in user_ids if u and u.strip()}, key=len, reverse=True)
    if not ids:
        return None
    alternatives = "|".join(re.escape(u) for u in ids)
    return re.compile(rf"(?<![\w@.-])(?:{alternatives})(?![\w@-]|\.\w)")


def redact(text: str, *, user_ids: Iterable[str] = ()) -> str:
    """Replace personal data in `text` by typed placeholders.

    Args:
        text: free text (a shopper's request, a review, an explanation prompt).
        user_ids: shopper ids to hide as ``[USER]`` wherever they occur as whole tokens.

    Returns:
        The text with e-mails, user ids, IBANs, Luhn-valid card numbers, phone numbers and street
        addresses replaced; everything else is unchanged.
    """
    out = _EMAIL.sub("[EMAIL]", text)
    users = _user_pattern(user_ids)
    if users is not None:
        out = users.sub("[USER]", out)
    out = _IBAN.sub(_iban, out)
    out = _CARD.sub(_card, out)
    out = _PHONE.sub(_phone, out)
    return _ADDRESS.sub("[ADDRESS]", out)
