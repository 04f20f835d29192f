from __future__ import annotations

import strawberry

from graph.record import described_enum, object_type
from resolvers.model.problem import FunctionStatus, Problem, ProblemStatus

strawberry.enum(ProblemStatus)
described_enum(FunctionStatus, "Clinical function classification of a problem (Meaningful Use).", {
    FunctionStatus.PROBLEM: "A clinical problem or diagnosis (the default).",
    FunctionStatus.COGNITIVE_RESULT: "The result of a cognitive status assessment.",
    FunctionStatus.COGNITIVE_PROBLEM: "A cognitive problem (e.g. memory impairment).",
    FunctionStatus.FUNCTIONAL_RESULT: "The result of a functional status assessment.",
    FunctionStatus.FUNCTIONAL_PROBLEM: "A functional problem (e.g. difficulty walking).",
})
object_type(Problem, description="A disease or problem (FHIR Condition).")

__all__ = ["FunctionStatus", "Problem", "ProblemStatus"]
