"""A small populated service for the authorization matrix and the schema fuzzing: two sellers with
their own records, buyer e-mails and strike requests, and a key for every role.

Every secret a seller must never see of the other seller (buyer e-mails, comments, ids) is listed,
so a test can search every answer for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

from fastapi.testclient import TestClient

from service import crud
from service.db import transaction

SELLER_A, SELLER_B = "SELLER-A", "SELLER-B"
_serial = count(1)


def record(seller: str, n: int, *, comment: str | None = None) -> dict:
    tag = seller[-1].lower()
    return {"feedback_id": f"fb-{tag}-{n}", "rating": 1, "fulfillment_channel": "AFN",
            "comment": comment or f"Paketet kom aldrig fram ({tag} {n}).",
            "order_id": f"203-{n:07d}-{n:07d}", "seller_id": seller,
            "buyer_email": f"buyer.{tag}{n}@example-{tag}.com", "feedback_date": "2026-11-20"}


@dataclass
class World:
    client: TestClient
    keys: dict[str, str | None]  # role -> key; "none" has no key
    feedback: dict[str, str] = field(default_factory=dict)  # seller -> one of its feedback ids
    requests: dict[str, int] = field(default_factory=dict)  # seller -> one of its pending strike requests
    secrets: dict[str, set[str]] = field(default_factory=dict)  # seller -> texts only that seller may read

    def fresh_request(self, seller: str = SELLER_A) -> int:
        """A new pending strike request on a new record of ``seller`` (decision routes use one each)."""
        n = 1000 + next(_serial)
        rec = record(seller, n)
        self._store([rec], seller)
        with transaction(self.client.app.state.sessions) as session:
            fb = crud.get_feedback(session=session, feedback_id=rec["feedback_id"], seller_id=None)
            suggestion = self.client.app.state.model.suggest(rec)
            req = crud.create_strike_request(session=session, feedback=fb, suggestion=suggestion, actor="world")
            return req.id

    def request_status(self, request_id: int) -> str:
        with self.client.app.state.sessions() as session:
            return crud.get_strike_request(session=session, request_id=request_id, seller_id=None).status

    def _store(self, records: list[dict], seller: str) -> None:
        from classifier.records import parse_record

        with transaction(self.client.app.state.sessions) as session:
            crud.import_feedback(session=session, records=[parse_record(r) for r in records], seller_id=None)
        for r in records:
            self.secrets.setdefault(seller, set()).update({r["buyer_email"], r["comment"], r["feedback_id"]})


def new_key(client: TestClient, role: str, seller_id: str | None = None, name: str | None = None) -> str:
    with transaction(client.app.state.sessions) as session:
        _, key = crud.create_key(session=session, role=role, name=name or f"world-{role}", seller_id=seller_id)
    return key


def revoke(client: TestClient, key: str) -> None:
    """Revoke through crud in this process, as `feedback-strike keys revoke` does."""
    from sqlalchemy import select

    from service.auth import hash_key
    from service.tables import ApiKey

    with transaction(client.app.state.sessions) as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key)))
        assert key_id is not None
        crud.revoke_key(session=session, key_id=key_id)


def build_world(client: TestClient) -> World:
    """Keys of every role, three records and one pending request per seller; a revoked admin key that
    worked a moment before it was revoked (so any cache of keys has seen it)."""
    keys: dict[str, str | None] = {
        "none": None,
        "bad": "fs_this-key-was-never-issued-000000000",
        "seller_a": new_key(client, "seller", SELLER_A),
        "seller_b": new_key(client, "seller", SELLER_B),
        "reviewer": new_key(client, "reviewer"),
        "admin": new_key(client, "admin"),
    }
    revoked = new_key(client, "admin", name="world-revoked")
    assert client.get("/v1/feedback", headers={"X-API-Key": revoked}).status_code == 200
    revoke(client, revoked)
    keys["revoked"] = revoked
    world = World(client=client, keys=keys)
    for seller in (SELLER_A, SELLER_B):
        records = [record(seller, n) for n in range(1, 4)]
        world._store(records, seller)
        world.feedback[seller] = records[0]["feedback_id"]
        world.requests[seller] = world.fresh_request(seller)
    return world


ROLES = ("none", "bad", "revoked", "seller_a", "seller_b", "reviewer", "admin")
