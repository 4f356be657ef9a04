"""The request log: one row per API request, for usage reports. Never prompts."""
