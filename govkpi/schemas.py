"""The warehouse's schema names, defined here once.

dbt's models land in the schemas `dbt_project/dbt_project.yml` names (a test
checks they match these); Python reads and writes the rest.

| schema | holds | written by |
| --- | --- | --- |
| `raw` | loaded extracts, one table per extract spec | the loader |
| `audit` | load manifest, quarantine, validation runs, publication log | loader, gate, publish |
| `staging`, `intermediate` | dbt views and tables | dbt |
| `reference` | dbt seeds (areas, KPI definitions, targets) | dbt |
| `marts_audit` | the candidate a build writes (write-audit-publish) | dbt |
| `marts` | the published marts BI tools read | publish |
| `marts_next`, `marts_retired` | the swap's scratch schemas | publish |
"""

from __future__ import annotations

RAW = "raw"
AUDIT = "audit"
STAGING = "staging"
INTERMEDIATE = "intermediate"
REFERENCE = "reference"
CANDIDATE = "marts_audit"
PUBLISHED = "marts"
PUBLISH_NEXT = "marts_next"
PUBLISH_RETIRED = "marts_retired"

# The schemas dbt builds into, in build order.
DBT_SCHEMAS = (STAGING, INTERMEDIATE, CANDIDATE, REFERENCE)
