-- One database per service (each service owns its data).
CREATE DATABASE intake;
CREATE DATABASE investigation;
CREATE DATABASE penalty;
CREATE DATABASE notification;
