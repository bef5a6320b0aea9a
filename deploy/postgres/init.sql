-- One database per service (each service owns its data): head office's, and a factory's own
-- (docker compose --profile factory).
CREATE DATABASE intake;
CREATE DATABASE investigation;
CREATE DATABASE penalty;
CREATE DATABASE notification;
CREATE DATABASE intake_factory;
CREATE DATABASE investigation_factory;
CREATE DATABASE penalty_factory;
CREATE DATABASE notification_factory;
