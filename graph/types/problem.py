from __future__ import annotations

from graph.record import object_type
from resolvers.model.problem import FunctionStatus, Problem, ProblemStatus

object_type(Problem, description="A disease or problem (FHIR Condition).")

__all__ = ["FunctionStatus", "Problem", "ProblemStatus"]
