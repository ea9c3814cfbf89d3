"""graph/domain/mirror.py: a GraphQL type made from a dataclass, and filled from what is stored.

The types here are a small stand-in for the real ones (a shipment with parcels, as a Resume has
its state and an AIResponse its claims); each test reads the schema Strawberry prints or runs a
query, as a client would see them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pytest
import strawberry

from graph.domain.mirror import build, mirror


class Carrier(StrEnum):
    POST = "post"
    COURIER = "courier"


strawberry.enum(Carrier)


@dataclass(frozen=True, slots=True)
class Parcel:
    """One box of a shipment."""

    label: str
    grams: int = field(metadata={"description": "Weight, packed."})


@dataclass(frozen=True, slots=True)
class Address:
    street: str
    city: str


@dataclass(frozen=True, slots=True)
class Shipment:
    id: str
    owner: str
    carrier: Carrier
    parcels: list[Parcel]
    address: Address
    created_at: float
    delivered_at: float | None
    order_id: str | None
    weight: float
    secret: str = "s3cret"
    notes: list[str] = field(default_factory=list)


@mirror(
    Shipment,
    description="A shipment, as its owner sees it.",
    fields=(
        "id",
        "tracking",
        "carrier",
        "created_at",
        "delivered_at",
        "order_ref",
        "street",
        "city",
        "parcels",
        "weight",
        "notes",
        "heaviest",
    ),
    rename={"order_id": "order_ref"},
    flatten=("address",),
)
class ShipmentType:
    id: strawberry.ID
    owner: strawberry.Private[str]
    notes = strawberry.field(description="What the sender wrote.")

    @strawberry.field(description="Where to follow it.")
    def tracking(self) -> str:
        return f"/track/{self.id}"

    @strawberry.field
    def heaviest(self) -> int:
        return 0 if self.owner == "nobody" else 1


@strawberry.type
class Query:
    @strawberry.field
    def shipment(self, stored: str) -> ShipmentType:
        return build(ShipmentType, json.loads(stored))


SCHEMA = strawberry.Schema(query=Query)
SHIPMENT = Shipment(
    id="s-1",
    owner="u-1",
    carrier=Carrier.COURIER,
    parcels=[Parcel("books", 1200), Parcel("lamp", 800)],
    address=Address("1 Main St", "Lyon"),
    created_at=1_700_000_000.5,
    delivered_at=None,
    order_id="o-9",
    weight=2.0,
    notes=["fragile"],
)


def _type_sdl(name: str) -> str:
    printed = SCHEMA.as_str()
    start = printed.index(f"type {name} {{")
    preceding = printed.rfind("\n\n", 0, start)
    return printed[preceding : printed.index("}", start) + 1].strip()


def test_the_type_shows_the_named_fields_in_their_order_with_ids_times_and_descriptions() -> None:
    assert _type_sdl("ShipmentType") == (
        '"""A shipment, as its owner sees it."""\n'
        "type ShipmentType {\n"
        "  id: ID!\n"
        "\n"
        '  """Where to follow it."""\n'
        "  tracking: String!\n"
        "  carrier: Carrier!\n"
        "  createdAt: DateTime!\n"
        "  deliveredAt: DateTime\n"
        "  orderRef: ID\n"
        "  street: String!\n"
        "  city: String!\n"
        "  parcels: [Parcel!]!\n"
        "  weight: Float!\n"
        "\n"
        '  """What the sender wrote."""\n'
        "  notes: [String!]!\n"
        "  heaviest: Int!\n"
        "}"
    )


def test_a_nested_dataclass_is_mirrored_whole_with_its_docstring_and_field_descriptions() -> None:
    assert _type_sdl("Parcel") == (
        '"""One box of a shipment."""\n'
        "type Parcel {\n"
        "  label: String!\n"
        "\n"
        '  """Weight, packed."""\n'
        "  grams: Int!\n"
        "}"
    )


def test_what_is_not_named_is_not_exposed_not_even_a_private_field() -> None:
    shown = _type_sdl("ShipmentType")
    for hidden in ("owner", "secret", "orderId", "address"):
        assert f"  {hidden}:" not in shown
    result = SCHEMA.execute_sync('{ shipment(stored: "{}") { owner } }')
    assert result.errors and "Cannot query field 'owner'" in result.errors[0].message


def test_the_stored_asdict_form_builds_the_type_a_client_reads() -> None:
    stored = json.dumps(asdict(SHIPMENT))  # as in Redis: enums as their values, times as epochs
    result = SCHEMA.execute_sync(
        """query($stored: String!) { shipment(stored: $stored) {
            id tracking carrier createdAt deliveredAt orderRef street city
            parcels { label grams } weight notes heaviest } }""",
        variable_values={"stored": stored},
    )
    assert result.errors is None
    assert result.data == {
        "shipment": {
            "id": "s-1",
            "tracking": "/track/s-1",
            "carrier": "COURIER",
            "createdAt": "2023-11-14T22:13:20.500000+00:00",
            "deliveredAt": None,
            "orderRef": "o-9",
            "street": "1 Main St",
            "city": "Lyon",
            "parcels": [{"label": "books", "grams": 1200}, {"label": "lamp", "grams": 800}],
            "weight": 2.0,
            "notes": ["fragile"],
            "heaviest": 1,
        }
    }


def test_an_instance_builds_the_same_values_as_its_asdict_form() -> None:
    from_instance = build(ShipmentType, SHIPMENT)
    from_stored = build(ShipmentType, json.loads(json.dumps(asdict(SHIPMENT))))
    assert repr(from_instance) == repr(from_stored)  # the fields, nested parcels included
    assert from_instance.created_at == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)  # type: ignore[attr-defined]
    assert from_stored.carrier is Carrier.COURIER  # type: ignore[attr-defined]
    assert from_instance.owner == "u-1"


def test_an_optional_time_that_is_set_shows_as_a_utc_datetime() -> None:
    delivered = dataclasses.replace(SHIPMENT, delivered_at=0.0)
    assert build(ShipmentType, delivered).delivered_at == datetime(1970, 1, 1, tzinfo=UTC)  # type: ignore[attr-defined]


def test_a_field_left_unnamed_in_fields_is_refused_when_the_type_is_made() -> None:
    @dataclass
    class Pair:
        left: int
        right: int

    class PairType:
        @strawberry.field
        def total(self) -> int:
            return 0

    with pytest.raises(TypeError, match=r"unnamed \['total'\], unknown \['middle'\]"):
        mirror(Pair, fields=("left", "right", "middle"))(PairType)


def test_a_field_from_a_flattened_dict_fills_what_the_class_declares() -> None:
    @dataclass
    class Report:
        score: int
        meta: dict[str, Any] = field(default_factory=dict)

    @mirror(Report, flatten=("meta",))
    class ReportType:
        report_id: strawberry.ID
        made_at: datetime

    built = build(ReportType, {"score": 3, "meta": {"report_id": "r-1", "made_at": 60.0, "owner": "u-1"}})
    assert (built.score, built.report_id, built.made_at) == (3, "r-1", datetime(1970, 1, 1, 0, 1, tzinfo=UTC))  # type: ignore[attr-defined]
