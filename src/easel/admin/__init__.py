"""Administration: organizations, members and credits, for the admin CLI and `/admin/*`."""
