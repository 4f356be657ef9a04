"""Users, organizations, memberships, API keys and authentication."""
