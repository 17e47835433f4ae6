"""A customer's input fields (app/domain/platform/input_fields.py): POST and PATCH /customers,
customer imports and the customer's audit trail take their field lists from here."""

from __future__ import annotations

from app.domain.platform.input_fields import InputField, InputFields

CUSTOMER_FIELDS = InputFields(
    InputField("name", max_length=200),
    # The unified social credit code, phone and e-mail are stored normalised (their dedup keys).
    InputField("uscc", max_length=32, stored_as_given=False, import_column=None),
    InputField("phone", max_length=32, stored_as_given=False, import_column=None),
    InputField("email", max_length=254, stored_as_given=False, import_column=None),
    InputField("industry", max_length=64),
    InputField("region", max_length=64),
    InputField("address", max_length=500),
    InputField("latitude"),
    InputField("longitude"),
    InputField("annual_purchase"),
    # Decided by the annual purchase when one is known (app/domain/customers/customer_tier.py).
    InputField("tier", stored_as_given=False),
    InputField("owner_id", stored_as_given=False, import_column=None),
    InputField("tags", stored_as_given=False),
    InputField("custom_fields", stored_as_given=False, import_column=None),
)
