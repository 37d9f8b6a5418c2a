#!/usr/bin/env bash
# Runs once, as the superuser, when the warehouse's data volume is first
# initialised (the postgres image runs /docker-entrypoint-initdb.d/*).
#
# Creates the application role the pipeline logs in as and its database.
# The pipeline never uses the superuser: it owns its database (so dbt and the
# loader create their schemas, and the publisher renames them) and has
# CREATEROLE only to create the group roles `govkpi_bi` and `govkpi_auditor`, which since
# PostgreSQL 16 lets it manage the roles it created and no others.
#
# Later changes to these variables do not apply to an existing volume: change
# the password with `alter role` (docs/deployment.md).
set -euo pipefail

: "${GOVKPI_WAREHOUSE_USER:?}" "${GOVKPI_WAREHOUSE_PASSWORD:?}" "${GOVKPI_WAREHOUSE_DB:?}"

# psql variables (:"name" quotes an identifier, :'name' a literal), so a
# password with quotes in it cannot break out of the statement.
psql -v ON_ERROR_STOP=1 --no-psqlrc \
    --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
    -v app_user="${GOVKPI_WAREHOUSE_USER}" \
    -v app_password="${GOVKPI_WAREHOUSE_PASSWORD}" \
    -v app_db="${GOVKPI_WAREHOUSE_DB}" <<'SQL'
create role :"app_user" login createrole password :'app_password';
create database :"app_db" owner :"app_user";
SQL
