"""Events, notification texts and the channels that carry them."""
