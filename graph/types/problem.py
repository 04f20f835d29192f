from __future__ import annotations

from graph.record import object_type
from graph.types.common import chart_refs
from resolvers.model.catalog import DISEASE_KIND
from resolvers.model.problem import FunctionStatus, Problem, ProblemStatus

chart_refs(Problem, "whose chart holds this problem", definition=(
    "disease_definition", DISEASE_KIND, "DiseaseDefinition",
    "The org disease definition it was recorded from (archived ones included); null for a free-text problem."))
object_type(Problem, description="A disease or problem (FHIR Condition).")

__all__ = ["FunctionStatus", "Problem", "ProblemStatus"]
