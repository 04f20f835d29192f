"""The demo clinic: a deterministic, streaming generator of realistic FHIR R4 data, and its loader.

``generate_clinic`` yields plain FHIR JSON dicts (each with ``resourceType`` and ``id``, never ``meta``
apart from ``Patient.meta.tag``) in an order a loader can insert as it goes: every reference points at a
resource yielded earlier. It keeps only per-household state (plus a few counters per practitioner), so
10,000 patients stream in constant memory. The FHIR shapes follow ``store.naming`` (its docstring lists
the conventions); how time and the slot grids are laid out is told in ``practice.py``.

The modules, in the order the data is written:

- ``vocabulary`` the code systems and tables drawn from; ``builders`` small builders; ``records`` the state kept
- ``state`` the generator's state and random helpers; ``clinic`` the order of it all (``generate_clinic``)
- ``practice`` organization, locations, waiting rooms, practitioners, schedules, slots
- ``household`` households and their accounts and relations; ``patient`` each member's plan and Patient
- ``chart`` conditions, allergies, social history, alerts, episodes; ``visit`` appointments, encounters, notes;
  ``vitals``, ``medication``, ``communication``
- ``loader`` streams it into a store (``load_demo``), a large clinic's batches prepared in worker processes

The same seed gives the same data, draw for draw: a change that moves one random draw changes every resource
after it.
"""

from __future__ import annotations

from app.demo.clinic import generate_clinic
from app.demo.loader import load_demo

__all__ = ["generate_clinic", "load_demo"]
