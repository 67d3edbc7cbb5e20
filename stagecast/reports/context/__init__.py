"""What a report says, as plain data: the templates only lay it out (SPEC §7).

Everything a reader may or may not see is decided here, once for every format and language:
which flags and tasks a client sees, whose names appear, what changed since the last report.
One module per report kind; what they share (header, audience filter, line builders) is in
`common`. A new kind is one new module here plus its templates.
"""

from stagecast.reports.context.action_items import ActionItemLine, open_action_items
from stagecast.reports.context.charter import Cadence, Charter, ContactLine, charter_context
from stagecast.reports.context.common import (
    BAR_CELLS,
    LIST_LIMIT,
    Audience,
    Bar,
    ChangeLists,
    DecisionLine,
    DocumentLine,
    Figures,
    Listing,
    RiskLine,
    Risks,
    StageRow,
    TaskLine,
    is_internal,
)
from stagecast.reports.context.daily_update import DailyUpdate, daily_update_context
from stagecast.reports.context.problems import (
    AddedTaskLine,
    BlockedTaskLine,
    LateTaskLine,
    OpenTaskLine,
    RiskEpisodeLine,
    SlipLines,
    StageProblems,
    stage_problems,
    stage_span,
)
from stagecast.reports.context.project_report import (
    ProjectFigures,
    ProjectReport,
    StageOutcome,
    project_report_context,
)
from stagecast.reports.context.risk_alert import RiskAlert, SourceLine, risk_alert_context
from stagecast.reports.context.stage_report import (
    DeliverableLine,
    NextStage,
    ProblemLine,
    StageReport,
    stage_report_context,
)
from stagecast.reports.context.weekly_update import (
    StagePlanLine,
    WeeklyUpdate,
    iso_week,
    weekly_update_context,
)

__all__ = [
    "BAR_CELLS",
    "LIST_LIMIT",
    "ActionItemLine",
    "AddedTaskLine",
    "Audience",
    "Bar",
    "BlockedTaskLine",
    "Cadence",
    "ChangeLists",
    "Charter",
    "ContactLine",
    "DailyUpdate",
    "DecisionLine",
    "DeliverableLine",
    "DocumentLine",
    "Figures",
    "LateTaskLine",
    "Listing",
    "NextStage",
    "OpenTaskLine",
    "ProblemLine",
    "ProjectFigures",
    "ProjectReport",
    "RiskAlert",
    "RiskEpisodeLine",
    "RiskLine",
    "Risks",
    "SlipLines",
    "SourceLine",
    "StageOutcome",
    "StagePlanLine",
    "StageProblems",
    "StageReport",
    "StageRow",
    "TaskLine",
    "WeeklyUpdate",
    "charter_context",
    "daily_update_context",
    "is_internal",
    "iso_week",
    "open_action_items",
    "project_report_context",
    "risk_alert_context",
    "stage_problems",
    "stage_report_context",
    "stage_span",
    "weekly_update_context",
]
