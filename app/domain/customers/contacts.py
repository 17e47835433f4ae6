"""Contacts: the people of a customer and the part each plays in the buying decision."""

from __future__ import annotations

from enum import StrEnum


class BuyingRole(StrEnum):
    decision_maker = "decision_maker"
    influencer = "influencer"
    user = "user"
    gatekeeper = "gatekeeper"
    other = "other"


# The decision chain, read from the top: who signs, who sways them, who uses the product, who
# guards the door; then anyone else, then contacts whose role nobody has recorded yet.
DECISION_CHAIN_RANK: dict[BuyingRole | None, int] = {
    BuyingRole.decision_maker: 0,
    BuyingRole.influencer: 1,
    BuyingRole.user: 2,
    BuyingRole.gatekeeper: 3,
    BuyingRole.other: 4,
    None: 5,
}
