#!/usr/bin/env bash
# One-shot set-up the compose file's `airflow-init` service runs before any
# other Airflow service starts. Every step is idempotent: it runs on every
# `docker compose up` and changes nothing the second time.
#
#   1. refuse to start with .env.example's placeholder secrets
#   2. migrate Airflow's metadata database (FAB's user tables included)
#   3. create the Airflow admin user (FAB auth manager), if missing
#   4. prepare the govkpi warehouse: raw and audit tables, BI group role
#   5. the pool that limits concurrent warehouse writers
set -euo pipefail

log() { printf 'airflow-init: %s\n' "$*"; }

# 1. Placeholders start with "change-me" in .env.example; a deployment that
#    kept one would run with a secret anyone can read in the repository.
placeholders=()
for name in GOVKPI_PSEUDONYM_KEY AIRFLOW__CORE__FERNET_KEY AIRFLOW__API_AUTH__JWT_SECRET \
            AIRFLOW__API__SECRET_KEY _AIRFLOW_WWW_USER_PASSWORD GOVKPI_WAREHOUSE_URL \
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN; do
    if [[ "${!name:-}" == *change-me* ]]; then
        placeholders+=("$name")
    fi
done
if ((${#placeholders[@]})); then
    log "these settings still hold the placeholder from .env.example: ${placeholders[*]}" >&2
    log "generate real values as .env.example explains, put them in .env, and run 'docker compose up -d' again" >&2
    exit 1
fi

# 2. Creates or upgrades the schema; the FAB provider's tables come with it.
log "migrating the Airflow metadata database"
airflow db migrate

# 3. `airflow users create` leaves an existing user (and its password) alone.
log "ensuring the Airflow admin user ${_AIRFLOW_WWW_USER_USERNAME}"
airflow users create \
    --username "${_AIRFLOW_WWW_USER_USERNAME}" \
    --password "${_AIRFLOW_WWW_USER_PASSWORD}" \
    --firstname "${_AIRFLOW_WWW_USER_FIRSTNAME:-govkpi}" \
    --lastname "${_AIRFLOW_WWW_USER_LASTNAME:-admin}" \
    --email "${_AIRFLOW_WWW_USER_EMAIL:-admin@example.invalid}" \
    --role Admin

# 4. Checks the govkpi settings too, so a bad key fails here and not in the
#    first load.
log "preparing the govkpi warehouse"
python /opt/govkpi/bin/prepare_warehouse.py

# 5. Every task writing to the warehouse runs in this pool (dags/dag_support):
#    at most GOVKPI_WAREHOUSE_POOL_SLOTS of them at once, however many
#    workers run. `pools set` updates the slots if the pool exists.
log "ensuring the Airflow pool govkpi_warehouse"
airflow pools set govkpi_warehouse "${GOVKPI_WAREHOUSE_POOL_SLOTS:-2}" "govkpi: tasks writing to the warehouse database"

log "done"
