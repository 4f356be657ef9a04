"""Executors run queued jobs: `local` in this process; a broker-fed one elsewhere."""
