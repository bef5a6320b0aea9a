from cqm_shared.db import run_migrations_online
from investigation.adapters.orm import metadata

run_migrations_online(metadata)
