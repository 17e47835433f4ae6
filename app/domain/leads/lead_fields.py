"""A lead's input fields (app/domain/platform/input_fields.py): POST and PATCH /leads, lead imports,
web forms, lead merge and the lead's audit trail take their field lists from here."""

from __future__ import annotations

from app.domain.platform.input_fields import InputField, InputFields

UTM_LENGTH = 200

LEAD_FIELDS = InputFields(
    InputField("name", max_length=100, from_web_forms=True),
    InputField("company", max_length=200, from_web_forms=True),
    InputField("phone", max_length=32, stored_as_given=False, from_web_forms=True),
    InputField("email", max_length=254, stored_as_given=False, from_web_forms=True),
    InputField("wechat", max_length=64, filled_on_merge=True, from_web_forms=True),
    InputField("source"),
    InputField("region", max_length=64, filled_on_merge=True, from_web_forms=True),
    InputField("product_line", max_length=64, filled_on_merge=True, from_web_forms=True),
    InputField("industry", max_length=64, filled_on_merge=True, from_web_forms=True),
    InputField("budget", max_length=32, filled_on_merge=True, from_web_forms=True),
    # Notes are the lead's running text, not a fact the audit trail compares.
    InputField("notes", max_length=5000, audited=False, from_web_forms=True),
    InputField("owner_id", stored_as_given=False, import_column=None),
    InputField("tags", stored_as_given=False),
    InputField("custom_fields", stored_as_given=False, import_column=None),
    # An import names the campaign (its id or exact name) and the import resolves it.
    InputField("campaign_id", import_column="campaign"),
    *(
        InputField(name, max_length=UTM_LENGTH)
        for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
    ),
)
