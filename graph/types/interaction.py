from __future__ import annotations

from graph.record import described_enum, object_type
from resolvers.model.interaction import InteractionSeverity, InteractionWarning

described_enum(InteractionSeverity, "How serious a drug–allergy interaction is.", {
    InteractionSeverity.HIGH: "The medication belongs to the drug class the patient is allergic to: do not give it "
                              "without review.",
    InteractionSeverity.MODERATE: "The medication belongs to a class known to cross-react with the allergy's class: "
                                  "use caution.",
})
object_type(InteractionWarning,
            description="A drug–allergy interaction found when an allergy or a medication was recorded: the "
                        "allergy, the medication and the drug class they share. Only in the answer of "
                        "recordAllergy / recordMedication; never stored.")

__all__ = ["InteractionSeverity", "InteractionWarning"]
