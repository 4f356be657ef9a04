"""Stability's v2beta API: `/v2beta/stable-image/*` and `/v2beta/results/{id}`."""
