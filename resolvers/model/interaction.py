"""A drug–allergy interaction warning (seed 003 ``interaction_warnings``): returned by the mutation that
recorded the allergy or the medication, never stored (resolvers/drug_allergy.py finds them)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum

import strawberry

from resolvers.model.common import enum_type


class InteractionSeverity(Enum):
    HIGH = "high"
    MODERATE = "moderate"


enum_type(InteractionSeverity, "How serious a drug–allergy interaction is.", {
    InteractionSeverity.HIGH: "The medication belongs to the drug class the patient is allergic to: do not give it "
                              "without review.",
    InteractionSeverity.MODERATE: "The medication belongs to a class known to cross-react with the allergy's class: "
                                  "use caution.",
})


@dataclass(eq=False, kw_only=True)
class InteractionWarning:
    allergy_id: strawberry.ID = strawberry.field(description="The patient's allergy record that the warning is about.")
    allergen: str | None = strawberry.field(description="The allergen as recorded on that allergy, e.g. `Penicillin`.")
    medication_id: strawberry.ID = strawberry.field(description="The patient's medication record that the warning is "
                                                                "about.")
    medication: str | None = strawberry.field(description="The medication as recorded, e.g. `Amoxicillin 500 MG`.")
    drug_class: str = strawberry.field(
        description="The drug class the allergen and the medication were matched on, e.g. `penicillins`.")
    severity: InteractionSeverity = strawberry.field(
        description="HIGH: the medication belongs to the class the patient is allergic to; MODERATE: a class "
                    "with known cross-reactivity (e.g. a cephalosporin for a penicillin allergy).")
    message: str = strawberry.field(description="A sentence to show the clinician.")
