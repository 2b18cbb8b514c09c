"""Runtime plumbing shared by the services (settings, logging, Kafka, ops endpoints, config view)."""
