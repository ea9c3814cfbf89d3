"""The redactor (jobs/cv/privacy.py) on its own: phone numbers as people write them in CVs (found by
phonenumbers), the numbers that are not phones, the other contact details, and the way back."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from jobs.cv.privacy import Redactor
from settings import Settings

REGIONS = ("GB", "US", "DE", "FR", "IN")  # PHONE_REGIONS' default

PHONES = [
    # United Kingdom
    "+44 20 7946 0958",
    "+44 (0)20 7946 0958",
    "+44 (0) 20 7946 0958",
    "0044 20 7946 0958",
    "020 7946 0958",
    "(020) 7946 0958",
    "020-7946-0958",
    "0207 946 0958",
    "0161 496 0000",
    "07911 123456",
    "07911 123 456",
    "+44 7911 123456",
    "+44 7700 900123",  # Ofcom's drama range: possible, not valid; a country code is enough
    "+44 20 7946 0958 ext. 12",
    # United States
    "+1 650-253-0000",
    "+1 (650) 253-0000",
    "(650) 253-0000",
    "650.253.0000",
    "650 253 0000",
    "1-650-253-0000",
    "650-253-0000 ext 42",
    "+1-650-253-0000 x123",
    "(415) 555-2671",
    # Germany
    "+49 30 901820",
    "+49 (0)30 901820",
    "0049 30 901820",
    "030 901820",
    "030/901820",
    "(030) 901820",
    "030 90 18 20",
    "089 636 48018",
    "0151 2345 6789",
    "+49 151 23456789",
    # France
    "+33 1 42 68 53 00",
    "0033 1 42 68 53 00",
    "01 42 68 53 00",
    "01.42.68.53.00",
    "06-12-34-56-78",
    "+33 6 12 34 56 78",
    # India
    "+91 98765 43210",
    "+91-9876543210",
    "098765 43210",
    "98765 43210",
    "9876543210",
    "+91 22 2778 8000",
    "022 2778 8000",
]

NOT_PHONES = [
    "Acme Payments Ltd - Senior Backend Developer (2019-2023)",
    "Globex, 2016 - 2019",
    "Initech (2012\u20132016)",
    "Jan 2019 - Mar 2023",
    "01/2019 - 12/2023",
    "6/2016 \u2013 5/2019",
    "03.2016 \u2013 11.2019",
    "03/90 - 11/91",
    "05.06.1990 - 06.05.1991",
    "2024-03-01",
    "2019-01-01 to 2023-12-31",
    "Graduated 2016; certified 2019, 2020 and 2022",
    "Salary £45,000 (was £38,500)",
    "$120,000 - $150,000",
    "EUR 55.000 - 65.000",
    "60.000 - 71.000 €",
    "£60000-71000",
    "₹12,00,000 a year",
    "Cut costs by 45% for 3 000 000 users",
    "Grew revenue +15% and churn -2.5%",
    "12.5% to 17.5%",
    "Python 3.11.4, macOS 10.15.7, v2.7.18",
    "Served 192.168.0.1 behind 10.0.0.1",
    "ISBN 978-3-16-148410-0",
    "+20 years of experience",
    "Processed 1,200,000 invoices",
    "10115 Berlin",
    "75008 Paris",
    "Mountain View, CA 94043-1351",
]


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(phone_regions=REGIONS)


@pytest.mark.parametrize("phone", PHONES)
def test_a_phone_number_becomes_a_placeholder_and_comes_back(redactor: Redactor, phone: str):
    text = f"Call me on {phone} today."
    hidden = redactor.redact(text)
    assert hidden == "Call me on [PHONE_1] today."
    assert redactor.originals == {"[PHONE_1]": phone}
    assert redactor.restore(hidden) == text


@pytest.mark.parametrize("text", NOT_PHONES)
def test_numbers_that_are_not_phone_numbers_stay(redactor: Redactor, text: str):
    assert redactor.redact(text) == text
    assert redactor.originals == {}


def test_a_postcode_goes_with_its_address_not_as_a_phone(redactor: Redactor):
    hidden = redactor.redact("Address: 1600 Pennsylvania Avenue, Washington, DC 20500 | (202) 456-1111")
    assert hidden == "Address: [ADDRESS_1] | [PHONE_1]"
    assert redactor.originals == {
        "[ADDRESS_1]": "1600 Pennsylvania Avenue, Washington, DC 20500",
        "[PHONE_1]": "(202) 456-1111",
    }


def test_several_numbers_on_a_line_and_the_same_number_twice(redactor: Redactor):
    text = "Tel 020 7946 0958 / 07911 123456, mobile +49 151 23456789; again: 020 7946 0958"
    hidden = redactor.redact(text)
    assert hidden == "Tel [PHONE_1] / [PHONE_2], mobile [PHONE_3]; again: [PHONE_1]"
    assert redactor.restore(hidden) == text


def test_national_numbers_are_looked_for_in_the_configured_regions_only():
    # A US number without +1 is digits to a British-only redactor; with a country code it is not.
    british = Redactor(phone_regions=("GB",))
    assert british.redact("(650) 253-0000") == "(650) 253-0000"
    assert british.redact("+1 (650) 253-0000") == "[PHONE_1]"
    assert Redactor(phone_regions=("GB", "US")).redact("(650) 253-0000") == "[PHONE_1]"


def test_the_first_region_says_which_international_prefix_is_a_plus():
    assert Redactor(phone_regions=("US",)).redact("011 44 20 7946 0958") == "[PHONE_1]"
    assert Redactor(phone_regions=("GB",)).redact("0044 7700 900123") == "[PHONE_1]"


def test_phone_regions_are_iso_codes_libphonenumber_knows():
    assert Settings().phone_regions == ",".join(REGIONS)
    assert Settings(phone_regions="IE,GB").phone_regions == "IE,GB"
    for wrong in ("GB;US", "gb", "GB, US", "GB,XX", ""):
        with pytest.raises(ValidationError, match=r"phone_regions|PHONE_REGIONS"):
            Settings(phone_regions=wrong)


PERSONAL = (
    "Jane Doe\njane.doe@example.com | +44 20 7946 0958 | https://janedoe.dev\n"
    "Date of birth: 12/03/1990\nAddress: 221B Baker Street, London NW1 6XE\n"
)


def test_every_kind_of_contact_detail_in_a_cv_header(redactor: Redactor):
    hidden = redactor.redact(PERSONAL)
    assert hidden == (
        "Jane Doe\n[EMAIL_1] | [PHONE_1] | [URL_1]\nDate of birth: [BIRTH_DATE_1]\nAddress: [ADDRESS_1]\n"
    )
    assert redactor.originals == {
        "[URL_1]": "https://janedoe.dev",
        "[EMAIL_1]": "jane.doe@example.com",
        "[BIRTH_DATE_1]": "12/03/1990",
        "[ADDRESS_1]": "221B Baker Street, London NW1 6XE",
        "[PHONE_1]": "+44 20 7946 0958",
    }
    assert redactor.restore(hidden) == PERSONAL


@pytest.mark.parametrize(
    ("text", "hidden", "originals"),
    [
        (
            "See www.example.org/cv, or mailto:sam@example.com; github.com/sam.",
            "See [URL_1], or mailto:[EMAIL_1]; [URL_2].",
            {"[URL_1]": "www.example.org/cv", "[URL_2]": "github.com/sam", "[EMAIL_1]": "sam@example.com"},
        ),
        (
            "Born on 3rd March 1990. Lives at 10 Downing Street, London SW1A 2AA.",
            "Born on [BIRTH_DATE_1]. Lives at [ADDRESS_1].",
            {"[BIRTH_DATE_1]": "3rd March 1990", "[ADDRESS_1]": "10 Downing Street, London SW1A 2AA"},
        ),
        (
            "DOB: March 3, 1990 | D.O.B 1990-03-03 | birthday 3/3/90",
            "DOB: [BIRTH_DATE_1] | D.O.B [BIRTH_DATE_2] | birthday [BIRTH_DATE_3]",
            {"[BIRTH_DATE_1]": "March 3, 1990", "[BIRTH_DATE_2]": "1990-03-03", "[BIRTH_DATE_3]": "3/3/90"},
        ),
        (
            "jane@example.com and JANE@example.com, https://x.dev/a?b=1.",
            "[EMAIL_1] and [EMAIL_2], [URL_1].",
            {
                "[EMAIL_1]": "jane@example.com",
                "[EMAIL_2]": "JANE@example.com",
                "[URL_1]": "https://x.dev/a?b=1",
            },
        ),
    ],
)
def test_emails_urls_addresses_and_birth_dates_keep_their_rules(
    redactor: Redactor, text: str, hidden: str, originals: dict[str, str]
):
    assert redactor.redact(text) == hidden
    assert redactor.originals == originals
    assert redactor.restore(hidden) == text


@pytest.mark.parametrize("size", range(1, 9))
def test_a_streamed_answer_is_restored_whatever_the_pieces(redactor: Redactor, size: int):
    redactor.redact(PERSONAL)
    answer = "# Jane Doe\n[EMAIL_1] | [PHONE_1] | [URL_1]\nBorn [BIRTH_DATE_1], at [ADDRESS_1]; [PHONE_9] [x]"
    pieces = [answer[i : i + size] for i in range(0, len(answer), size)]
    restored = list(redactor.restore_stream(pieces))
    assert "".join(restored) == (
        "# Jane Doe\njane.doe@example.com | +44 20 7946 0958 | https://janedoe.dev\n"
        "Born 12/03/1990, at 221B Baker Street, London NW1 6XE; [PHONE_9] [x]"
    )
    assert not any("[PHONE_1" in piece or "[EMAIL" in piece for piece in restored)
