"""The patient record's enums as GraphQL enums, values described. Imported by the package before any type module:
a record enum met by strawberry before it is declared here would be declared a second time, undescribed."""

from __future__ import annotations

from graph.record import described_enum
from resolvers.model.patient import AllergyReviewStatus, ContactMethod, PatientStatus, Pronoun

described_enum(PatientStatus, "Patient lifecycle status. New patients are ACTIVE unless created PROSPECTIVE.", {
    "ACTIVE": "A current patient.",
    "INACTIVE": "No longer seen; scheduling is restricted. Can be made ACTIVE again.",
    "PROSPECTIVE": "Registered but not yet seen (e.g. an online booking); becomes ACTIVE.",
    "DECEASED": "The patient has died (dateTimeDeceased when known).",
    "ARCHIVED": "Soft-deleted (archivePatient); hidden from lists unless asked for; restorePatient brings it back.",
})
described_enum(AllergyReviewStatus, "Whether the patient's allergies have been assessed.", {
    "NOT_REVIEWED": "Allergies have not been assessed yet (the default).",
    "NKDA": "Reviewed: no known drug allergies.",
    "REVIEWED": "Reviewed; see the patient's allergies.",
})
described_enum(ContactMethod, "A way of reaching the patient.", {
    "EMAIL": "By email.", "MAIL": "By postal mail.", "NONE": "Do not contact.", "PHONE": "By phone call.",
    "TEXT": "By SMS text message.",
})
described_enum(Pronoun, "The pronouns a patient uses.", {
    "HE_HIM": "he/him", "SHE_HER": "she/her", "THEY_THEM": "they/them", "OTHER": "Other pronouns.",
    "NOT_SPECIFIED": "Not specified.",
})
