"""An organization's typed settings and the business rules built from them."""
