"""GraphQL documents shared by tests and the bench."""

NESTED = """
query Nested {
  patients(first: %d) {
    totalCount
    edges {
      cursor
      node {
        id firstName lastName dateOfBirth status chartNumber schedulingRestricted
        medicalSummary {
          allergyReviewStatus medicalUrgentNote premedicationRequired
          allergies { allergen reactions severity isActive }
          currentMedications { name status dosage }
          pastMedications { name status dateStop }
          activeProblems { name status dateStart }
          latestVitals { dateTaken bpSystolic bpDiastolic pulse oxygenSaturation isProcedureBlocking
                         abnormalFlags { vital severity message } }
          socialHistory { category value }
          alerts { name scope isUrgent fromFamilyMember }
        }
        family {
          guarantor { id lastName }
          members { id firstName lastName }
          guardians { relationshipType relatedPatient { id firstName } }
          dependents { relationshipType relatedPatientId }
          relationships { relationshipType isGuardian relatedPatientName }
        }
        episodes(first: 5) {
          totalCount
          edges { node { id name type status from to objective reasonIncomplete
                         appointments(first: 5) { edges { node { id start status } } } } }
        }
        appointments(first: 10) {
          totalCount
          edges { cursor node { id start end status workflowStatus practitioner { id name } } }
        }
      }
    }
  }
}
"""
