from __future__ import annotations

from graph.record import object_type
from resolvers.model.interaction import InteractionSeverity, InteractionWarning

object_type(InteractionWarning,
            description="A drug–allergy interaction found when an allergy or a medication was recorded: the "
                        "allergy, the medication and the drug class they share. Only in the answer of "
                        "recordAllergy / recordMedication; never stored.")

__all__ = ["InteractionSeverity", "InteractionWarning"]
