"""RabbitMQ plumbing: topology, transactional outbox and relay, idempotent inbox consumer."""
