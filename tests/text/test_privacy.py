"""Redaction of personal data: planted data is replaced, product text survives unchanged."""

from __future__ import annotations

import pytest

from cartwise.text.privacy import iban_ok, luhn_ok, redact


def test_planted_personal_data_in_a_realistic_message_is_replaced() -> None:
    text = (
        "Hi, I'm customer u_48213. My Galaxy S23 case arrived cracked. Please send the new one "
        "to 221B Baker Street, London, or call me on +44 20 7946 0958 / (555) 123-4567. "
        "Refund to card 4111 1111 1111 1111 exp 12/27 or IBAN DE89 3704 0044 0532 0130 00. "
        "Reply to jane.doe+shop@example.co.uk."
    )
    assert redact(text, user_ids=["u_48213"]) == (
        "Hi, I'm customer [USER]. My Galaxy S23 case arrived cracked. Please send the new one "
        "to [ADDRESS], London, or call me on [PHONE] / [PHONE]. "
        "Refund to card [CARD] exp 12/27 or IBAN [IBAN]. "
        "Reply to [EMAIL]."
    )


@pytest.mark.parametrize(
    "text",
    [
        "iPhone 15 Pro 256GB",
        "Galaxy S23 case",
        "USB-C 65W charger",
        "Samsung SM-S911B, now $1,299.99 (was €1.399,00)",
        "EAN 4006381333931, order 2024-05-1234, shipped 2024-05-12",
        "Nike Air Max 270 React, sizes 10-12, 5.5 inch, 10,000mAh, pack of 12, +2 ports",
        "2 Pack Road Bike Tubes and 3 Pro Court Shoes",
        "4-Way Stretch leggings 28-30 waist, 3 x 4 m rug",
    ],
)
def test_product_text_survives_unchanged(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail bob@shop.example now", "mail [EMAIL] now"),
        ("card 4111-1111-1111-1111.", "card [CARD]."),
        ("amex 3782 822463 10005", "amex [CARD]"),
        ("GB82WEST12345698765432 thanks", "[IBAN] thanks"),
        ("call 555-123-4567", "call [PHONE]"),
        ("mobile 07700 900123", "mobile [PHONE]"),
        ("call me at 5551234567", "call me at [PHONE]"),
        ("ring +1 (415) 555-2671", "ring [PHONE]"),
        ("06 12 34 56 78 is my number", "[PHONE] is my number"),
        ("at 1600 Pennsylvania Avenue NW, Washington", "at [ADDRESS], Washington"),
        ("45 Elm Road, Leeds", "[ADDRESS], Leeds"),
        ("12 Oak Lane Apt 4B", "[ADDRESS]"),
        ("42 Main St.", "[ADDRESS]"),
    ],
)
def test_each_kind_of_personal_data_gets_its_placeholder(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_luhn_decides_between_card_and_other_long_numbers() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    # 16 digits failing Luhn: an order number, kept.
    assert redact("order 4111 1111 1111 1112") == "order 4111 1111 1111 1112"


def test_iban_check_digits_decide() -> None:
    assert iban_ok("DE89 3704 0044 0532 0130 00")
    assert not iban_ok("DE88 3704 0044 0532 0130 00")
    # IBAN-shaped part number with wrong check digits: kept.
    assert redact("part XY12ABCDE4567890123") == "part XY12ABCDE4567890123"


def test_user_ids_are_replaced_only_as_whole_tokens() -> None:
    text = "u_12 viewed; u_123 bought; ab-u_12 no"
    assert redact(text, user_ids=["u_12"]) == "[USER] viewed; u_123 bought; ab-u_12 no"
    assert redact(text, user_ids=["", "  "]) == text


def test_a_user_id_inside_an_email_leaves_no_trace() -> None:
    assert redact("alice wrote from alice@example.com", user_ids=["alice"]) == (
        "[USER] wrote from [EMAIL]"
    )
