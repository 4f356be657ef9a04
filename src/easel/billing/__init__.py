"""Prices, the credit ledger, and reserve → commit / release around each job."""
