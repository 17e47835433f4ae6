"""HTTP layer: parse, call one service, answer a response model."""
