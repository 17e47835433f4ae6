"""The lead's and customer's field declarations are the one list: the API's create bodies, the
services' inputs and the tables hold exactly the declared fields, with the declared lengths."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel

from app.api.schemas.customers import CustomerCreate
from app.api.schemas.leads import LeadCreate
from app.domain.customers.customer_fields import CUSTOMER_FIELDS
from app.domain.leads.lead_fields import LEAD_FIELDS
from app.domain.models import Customer, Lead
from app.domain.platform.input_fields import InputFields
from app.services.customers.customers import NewCustomer
from app.services.leads.leads import NewLead

RECORDS = [
    pytest.param(LEAD_FIELDS, LeadCreate, NewLead, Lead, id="lead"),
    pytest.param(CUSTOMER_FIELDS, CustomerCreate, NewCustomer, Customer, id="customer"),
]


def _max_length(property_schema: dict[str, Any]) -> int | None:
    for option in property_schema.get("anyOf", [property_schema]):
        if option.get("type") == "string" and "maxLength" in option:
            return int(option["maxLength"])
    return None


@pytest.mark.parametrize(("fields", "create_body", "service_input", "model"), RECORDS)
def test_the_create_body_takes_the_declared_fields_with_their_lengths(
    fields: InputFields, create_body: type[BaseModel], service_input: type, model: type
) -> None:
    declared = {field.name for field in fields}
    assert set(create_body.model_fields) - {"id"} == declared
    properties = create_body.model_json_schema()["properties"]
    lengths = {name: _max_length(properties[name]) for name in declared}
    assert {name: length for name, length in lengths.items() if length is not None} == {
        field.name: field.max_length for field in fields if lengths[field.name] is not None
    }


@pytest.mark.parametrize(("fields", "create_body", "service_input", "model"), RECORDS)
def test_the_service_input_and_the_table_hold_every_declared_field(
    fields: InputFields, create_body: type[BaseModel], service_input: type, model: type
) -> None:
    inputs = {field.name for field in dataclasses.fields(service_input)}
    columns = model.__table__.columns
    assert {field.name for field in fields} - inputs == set()
    assert {field.name for field in fields} - set(columns.keys()) == set()
    # A text stored as given fits its column: the column is as long as the field, or unbounded.
    for field in fields:
        length = getattr(columns[field.name].type, "length", None)
        if field.stored_as_given and field.max_length is not None and length is not None:
            assert length == field.max_length, field.name


def test_every_path_takes_its_field_list_from_the_declaration() -> None:
    from app.domain.imports.import_mapping import CUSTOMER_COLUMNS, LEAD_COLUMNS
    from app.domain.leads.intake import LEAD_TARGETS
    from app.services.customers.customers import AUDITED_FIELDS as CUSTOMER_AUDITED
    from app.services.leads.lead_merge import FILLABLE
    from app.services.leads.leads import AUDITED_FIELDS as LEAD_AUDITED

    assert "campaign" in LEAD_COLUMNS
    assert "campaign_id" not in LEAD_COLUMNS
    assert "owner_id" not in LEAD_COLUMNS
    assert "phone" not in CUSTOMER_COLUMNS
    assert FILLABLE == ("wechat", "region", "product_line", "industry", "budget")
    assert LEAD_TARGETS["notes"] == 5000
    assert "source" not in LEAD_TARGETS
    assert "notes" not in LEAD_AUDITED
    assert {"status", "owner_id", "utm_content"} <= set(LEAD_AUDITED)
    assert set(CUSTOMER_AUDITED) == {field.name for field in CUSTOMER_FIELDS}
