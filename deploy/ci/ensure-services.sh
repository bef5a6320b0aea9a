#!/usr/bin/env bash
# Machines of this project's kind have RabbitMQ and PostgreSQL installed and normally
# running before CI starts. If one is installed but down, start it the way the machine
# does, so the integration tests meet real servers. (Tests never start servers themselves;
# without one they fail and say how to get one.) Nothing happens when RABBITMQ_URL /
# DATABASE_URL point elsewhere.
set -u

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

if [ -z "${RABBITMQ_URL:-}" ] && ! port_open 5672 && command -v rabbitmq-server >/dev/null 2>&1; then
  echo "RabbitMQ is installed but not running: starting it"
  rabbitmq-server -detached
  timeout 120 rabbitmqctl await_startup >/dev/null 2>&1 || true
  for _ in $(seq 60); do port_open 5672 && break; sleep 1; done
fi

if [ -z "${DATABASE_URL:-}" ] && ! port_open 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "PostgreSQL is installed but not running: starting it"
  for version in /etc/postgresql/*; do
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
  done
  for _ in $(seq 30); do port_open 5432 && break; sleep 1; done
fi
exit 0
