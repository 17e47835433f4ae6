"""Distances on the earth for visit check-ins (haversine on the WGS84 mean radius)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.domain.platform.errors import FieldError, InvalidInput

EARTH_MEAN_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class GeoPoint:
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        errors = []
        if not -90 <= self.latitude <= 90:
            errors.append(FieldError("lat", "range", "latitude must be within -90..90"))
        if not -180 <= self.longitude <= 180:
            errors.append(FieldError("lng", "range", "longitude must be within -180..180"))
        if errors:
            raise InvalidInput("The coordinates are out of range.", code="geo.invalid", errors=errors)


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lng2 - lng1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def is_geo_mismatch(checkin: GeoPoint, customer: GeoPoint | None, max_distance_m: float) -> bool:
    """A check-in farther than the limit from the customer; unknown customer location is no mismatch."""
    if customer is None:
        return False
    return (
        distance_m(checkin.latitude, checkin.longitude, customer.latitude, customer.longitude)
        > max_distance_m
    )
