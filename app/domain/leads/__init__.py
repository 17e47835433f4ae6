"""Lead life cycle, qualification, and the lead fields a web form may fill."""
