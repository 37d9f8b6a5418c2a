# govkpi's image: Airflow 3, dbt and Great Expectations from requirements.txt,
# plus the project. Every Airflow service in docker-compose.yml runs it.
#
# Built from our own pins rather than apache/airflow + pip installs at start-up,
# so one `docker compose build` gives the same packages on every machine.
# Every package in requirements.txt has a manylinux wheel for CPython 3.11, so
# no compiler or system library is installed.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/govkpi/venv \
    PATH=/opt/govkpi/venv/bin:$PATH

# A venv keeps our pins apart from the base image's own pip and setuptools;
# orchestration and dbt are found next to sys.executable (govkpi/transform.py).
RUN python -m venv "$VIRTUAL_ENV"

# Dependencies first, in their own layer: editing the project does not
# reinstall them. `-r requirements.txt` installs exactly the pinned versions.
COPY requirements.txt /opt/govkpi/app/requirements.txt
RUN pip install -r /opt/govkpi/app/requirements.txt

COPY pyproject.toml README.md /opt/govkpi/app/
COPY govkpi/ /opt/govkpi/app/govkpi/
COPY ingestion/ /opt/govkpi/app/ingestion/
COPY expectations/ /opt/govkpi/app/expectations/
COPY dbt_project/ /opt/govkpi/app/dbt_project/
COPY dags/ /opt/govkpi/app/dags/
COPY docker/airflow-init.sh docker/prepare_warehouse.py /opt/govkpi/bin/

# --no-deps: everything it needs is already installed from the pins above.
# Editable (-e) on purpose: govkpi finds dbt_project/ and dags/ relative to its
# own source (govkpi.settings.PROJECT_ROOT), so the package must be imported
# from /opt/govkpi/app, not from a copy in site-packages.
RUN pip install --no-deps -e /opt/govkpi/app \
    && python -m compileall -q /opt/govkpi/app/govkpi /opt/govkpi/app/ingestion \
       /opt/govkpi/app/expectations /opt/govkpi/app/dags

# dbt's manifest, which `govkpi lineage` reads the models' graph from:
# `dbt parse` (no database) builds it into the image, so the source tree
# may be read-only.
RUN govkpi manifest

# The non-root user. Group 0 and group-writable state folders, as in the
# official Airflow image, let compose run the containers as any UID
# (`user: "${AIRFLOW_UID}:0"`) and still write logs and state.
# Named volumes mounted on these folders start with this ownership.
ARG GOVKPI_UID=50000
RUN useradd --uid "${GOVKPI_UID}" --gid 0 --no-create-home --home-dir /opt/govkpi/home \
        --shell /bin/bash govkpi \
    && mkdir -p /opt/govkpi/home /opt/govkpi/airflow/logs /opt/govkpi/state /opt/govkpi/landing \
    && chown -R "${GOVKPI_UID}:0" /opt/govkpi/home /opt/govkpi/airflow /opt/govkpi/state \
    && chmod -R g+rwX /opt/govkpi/home /opt/govkpi/airflow /opt/govkpi/state \
    && chmod 0755 /opt/govkpi/bin/airflow-init.sh

ENV HOME=/opt/govkpi/home \
    AIRFLOW_HOME=/opt/govkpi/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/govkpi/app/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    GOVKPI_STATE_DIR=/opt/govkpi/state \
    GOVKPI_LANDING_DIR=/opt/govkpi/landing \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false

USER ${GOVKPI_UID}:0
WORKDIR /opt/govkpi/app

# Each compose service names its Airflow command (api-server, scheduler, ...).
CMD ["airflow", "version"]
