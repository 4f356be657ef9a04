"""Running generations: credits around each run, execution, and (later) durable jobs."""
