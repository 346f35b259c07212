"""Staging drills for replay: load stages, delivery faults, thresholds, drill files, recovery.

Modules: `_stages` (the `--stages` grammar and schedule), `_faults` (duplicates, reorder,
burst after failure), `_slo` (the `--slo` grammar and its evaluation), `_file` (drill YAML),
`_figures` (per-stage, per-fault and per-outage figures from the attempt stream), `_run` (the
state the replay engine consults during a drill and the verdict after it). The options and
the verdict's exit live with the other CLI code (emitter/cli/_drill.py), the summary lines
with the other output code (emitter/report/_drill.py).
"""

from __future__ import annotations

from emitter.drill._faults import (
    BurstGate,
    DuplicatePlan,
    Faults,
    ReorderWindow,
    fault_rng,
    parse_burst_rate,
    parse_fraction,
    parse_reorder,
    reorder,
)
from emitter.drill._figures import (
    DUPLICATE,
    FIRST,
    RELEASE,
    RETRY,
    Outage,
    Recorder,
    StageFigures,
    fault_counts,
    outages,
    recovery_seconds,
    stage_figures,
)
from emitter.drill._file import Drill, load_drill
from emitter.drill._run import DrillResult, DrillSettings, DrillState
from emitter.drill._slo import (
    Actuals,
    Threshold,
    Verdict,
    check_thresholds,
    evaluate,
    parse_slo,
    parse_threshold,
)
from emitter.drill._stages import (
    Stage,
    StagePacer,
    StagePlan,
    parse_stage,
    parse_stages,
    send_instants,
)

__all__ = [
    "DUPLICATE",
    "FIRST",
    "RELEASE",
    "RETRY",
    "Actuals",
    "BurstGate",
    "Drill",
    "DrillResult",
    "DrillSettings",
    "DrillState",
    "DuplicatePlan",
    "Faults",
    "Outage",
    "Recorder",
    "ReorderWindow",
    "Stage",
    "StageFigures",
    "StagePacer",
    "StagePlan",
    "Threshold",
    "Verdict",
    "check_thresholds",
    "evaluate",
    "fault_counts",
    "fault_rng",
    "load_drill",
    "outages",
    "parse_burst_rate",
    "parse_fraction",
    "parse_reorder",
    "parse_slo",
    "parse_stage",
    "parse_stages",
    "parse_threshold",
    "recovery_seconds",
    "reorder",
    "send_instants",
    "stage_figures",
]
