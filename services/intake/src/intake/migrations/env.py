from cqm_shared.db import run_migrations_online
from intake.adapters.orm import metadata

run_migrations_online(metadata)
