"""What the govkpi DAGs share: the Assets they hand data through, and task defaults.

Kept light: importing it must stay cheap, because every DAG file imports it
at parse time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from airflow.sdk import Asset

# One Asset per department: "new extracts of this department are in raw".
# The warehouse DAG is scheduled on them instead of sensing ingest tasks.
RAW_ASSETS: dict[str, Asset] = {
    code: Asset(name=f"govkpi_raw_{code}", uri=f"govkpi://warehouse/raw/{code}", group="govkpi")
    for code in ("hrss", "health", "enforcement")
}

# The published KPI marts, updated by each successful publication.
PUBLISHED_MARTS = Asset(name="govkpi_marts", uri="govkpi://warehouse/marts", group="govkpi")

DEFAULT_ARGS = {
    "owner": "govkpi",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
}


@contextmanager
def fail_fast() -> Iterator[None]:
    """Turn govkpi's own errors (bad input, failed checks) into a failure without retries.

    Retrying cannot fix a refused file or a failed check; retries stay for
    what can pass on a second try (a dropped connection, a busy server).
    """
    from airflow.sdk.exceptions import AirflowFailException

    from ingestion.errors import GovkpiError

    try:
        yield
    except GovkpiError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
