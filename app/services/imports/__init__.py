"""Imports of leads, customers and opportunities from CSV and XLSX files."""
