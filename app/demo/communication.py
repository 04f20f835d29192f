"""Communications with a patient (or a minor's guardian): reminders, missed-visit calls, cancellations and
the odd question or recall letter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from app.demo.catalog import communication_type
from app.demo.records import Member, Visit
from app.demo.state import ClinicState
from app.demo.vocabulary import COMM_CATEGORY, MODES, V3_MODE
from store.clock import instant
from store.fhirjson import Resource, concept, extension, reference
from store.naming import CS


class CommunicationWriter(ClinicState):
    def communications(
        self, m: Member, pat: dict[str, str], visits: list[Visit], notify: Member
    ) -> Iterator[Resource]:
        rng = self.rng
        to = reference("Patient", notify.id, f"{notify.given} {notify.family}")
        clinic = reference("Organization", self.org, self.org_name)
        entries: list[tuple[dt.datetime, str, str, str, str, Visit | None]] = []
        for v in visits:
            if v.status in (
                "booked",
                "pending",
                "fulfilled",
                "noshow",
                "arrived",
                "checked-in",
            ) and self.chance(0.6):
                sent = v.start - dt.timedelta(days=rng.choice((1, 2, 3)), hours=rng.randrange(0, 5))
                if sent < self.now:
                    mode = (
                        "text" if notify.mobile and self.chance(0.7) else "email" if notify.email else "phone"
                    )
                    entries.append(
                        (
                            sent,
                            "outbound",
                            mode,
                            "reminder",
                            f"Reminder: {m.given} has an appointment on {v.start:%b %d} at {v.start:%H:%M}. "
                            "Reply C to confirm.",
                            v,
                        )
                    )
            if v.status == "noshow":
                entries.append(
                    (
                        v.start + dt.timedelta(hours=2),
                        "outbound",
                        "phone",
                        "notification",
                        "Called about the missed appointment; left voicemail to reschedule.",
                        v,
                    )
                )
            if v.status == "cancelled" and v.start - dt.timedelta(days=1) < self.now and self.chance(0.5):
                entries.append(
                    (
                        min(self.now, v.start) - dt.timedelta(days=1),
                        "inbound",
                        rng.choice(("phone", "text")),
                        "notification",
                        "Patient asked to cancel the appointment.",
                        v,
                    )
                )
        if visits and self.chance(0.25):
            t = self.last_moment(m) - dt.timedelta(days=rng.randrange(2, 300), hours=rng.randrange(0, 8))
            entries.append(
                (
                    t,
                    "inbound",
                    rng.choice(("phone", "email", "in_person")),
                    "notification",
                    rng.choice(
                        (
                            "Question about the latest bill.",
                            "Requested a copy of visit records.",
                            "Asked for a prescription refill.",
                            "Updated insurance information.",
                        )
                    ),
                    None,
                )
            )
        if m.age >= 50 and self.chance(0.08):
            t = self.last_moment(m) - dt.timedelta(days=rng.randrange(2, 300))
            entries.append(
                (t, "outbound", "mail", "notification", "Mailed annual wellness visit recall letter.", None)
            )
        entries.sort(key=lambda e: e[0])
        for sent, direction, mode, category, text, about in entries:
            code, display = MODES[mode]
            res: Resource = {
                "resourceType": "Communication",
                "id": self.id("com"),
                "status": "completed",
                "category": [concept(COMM_CATEGORY, category, category.capitalize())],
                "medium": [concept(V3_MODE, code, display)],
                "subject": pat,
                "sent": instant(sent),
                "sender": clinic if direction == "outbound" else to,
                "recipient": [to if direction == "outbound" else clinic],
                "payload": [{"contentString": text}],
                "extension": [
                    extension(
                        "communication-direction",
                        "valueCoding",
                        {"system": CS["communication-direction"], "code": direction, "display": direction.capitalize()},
                    ),
                    extension("communication-type", "valueReference", communication_type(category)),
                ],
            }
            if about is not None:
                res["about"] = [reference("Appointment", about.appt_id)]
            yield res


