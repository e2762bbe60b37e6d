"""Raw-access grants: admins only, with a reason and a bounded expiry, audited; viewers never
see raw values, admins are not exempt, expired and revoked grants count for nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.services.auth import Principal
from atelier.services.auth.scopes import WORK
from atelier.services.pii.grants import PiiGrants, grants_of
from atelier.services.workbench import Workbench

ADA = Principal(1, "ada", "admin", "token")


@pytest.fixture
def grants(workbench: Workbench) -> PiiGrants:
    for name, role in (("ada", "admin"), ("sam", "scientist"), ("vic", "viewer"), ("bo", "admin")):
        workbench.users.create(name, role, "correct horse battery")
    return grants_of(workbench)


def _as(workbench: Workbench, name: str, **extra: object) -> Principal:
    user = workbench.users.get(name)
    return Principal(user.id, user.name, user.role, "token", **extra)  # type: ignore[arg-type]


def test_a_grant_opens_one_table_or_one_kind_until_it_ends(
    workbench: Workbench, grants: PiiGrants
) -> None:
    sam = _as(workbench, "sam")
    assert not grants.may_see_raw(sam, "bank.customers", "email")
    on_table = grants.grant(ADA, "sam", table="Bank.Customers", reason="fraud case 42", days=7)
    assert on_table.table == "bank.customers" and on_table.active and not on_table.export
    assert grants.may_see_raw(sam, "bank.customers", "email")
    assert grants.may_see_raw(sam, "BANK.customers", "phone")
    assert not grants.may_see_raw(sam, "bank.accounts", "email")
    assert not grants.may_export_raw(sam, "bank.customers", "email")

    on_kind = grants.grant(
        ADA, "sam", kind="iban", reason="payments reconciliation", days=1, export=True
    )
    assert grants.may_see_raw(sam, "bank.accounts", "iban")
    assert grants.may_export_raw(sam, "bank.accounts", "iban")
    assert not grants.may_see_raw(sam, "bank.accounts", "email")

    listed = grants.list_grants(ADA)
    assert [g.id for g in listed] == [on_kind.id, on_table.id]
    assert [g.id for g in grants.list_grants(sam)] == [on_kind.id, on_table.id]
    revoked = grants.revoke(ADA, on_table.id)
    assert revoked.revoked_by == "ada" and not revoked.active
    assert not grants.may_see_raw(sam, "bank.customers", "email")
    assert [g.id for g in grants.list_grants(ADA)] == [on_kind.id]
    assert len(grants.list_grants(ADA, everything=True)) == 2

    actions = [(e.action, e.actor, e.target, e.success) for e in workbench.audit.entries()]
    assert actions[:3] == [
        ("pii.revoke", "ada", "sam", True),
        ("pii.grant", "ada", "sam", True),
        ("pii.grant", "ada", "sam", True),
    ]
    granted = workbench.audit.entries(action="pii.grant")[-1].detail
    assert granted is not None and granted["reason"] == "fraud case 42"
    assert granted["table"] == "bank.customers"


def test_an_expired_grant_counts_for_nothing(workbench: Workbench, grants: PiiGrants) -> None:
    from sqlalchemy import update

    from atelier.backends.metadata.models import PiiGrant

    sam = _as(workbench, "sam")
    made = grants.grant(ADA, "sam", kind="email", reason="mailing audit", days=1)
    assert grants.may_see_raw(sam, "crm.people", "email")
    with workbench.db.session() as session:
        session.execute(
            update(PiiGrant)
            .where(PiiGrant.id == made.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert not grants.may_see_raw(sam, "crm.people", "email")
    assert grants.list_grants(sam) == []
    assert not grants.list_grants(sam, everything=True)[0].active


def test_nobody_is_exempt_and_viewers_never_see_raw(
    workbench: Workbench, grants: PiiGrants
) -> None:
    bo = _as(workbench, "bo")
    assert not grants.may_see_raw(bo, "bank.customers", "email")  # admins need a grant too
    grants.grant(ADA, "bo", table="bank.customers", reason="data quality check", days=2)
    assert grants.may_see_raw(bo, "bank.customers", "email")

    with pytest.raises(InvalidInput, match="vic is a viewer: viewers always see personal"):
        grants.grant(ADA, "vic", table="bank.customers", reason="just curious", days=1)
    # A scientist granted raw access and made a viewer afterwards sees masked values.
    grants.grant(ADA, "sam", table="bank.customers", reason="fraud case 42", days=1)
    workbench.users.set_role("sam", "viewer")
    assert not grants.may_see_raw(_as(workbench, "sam"), "bank.customers", "email")
    # ... even when acting through a principal that still says scientist (an old token).
    stale = Principal(_as(workbench, "sam").user_id, "sam", "scientist", "token")
    assert not grants.may_see_raw(stale, "bank.customers", "email")
    # Code running as a granted user (a job, a notebook) reads raw values on the server.
    job = _as(workbench, "bo", scopes=WORK, label="job 1")
    assert grants.may_see_raw(job, "bank.customers", "email")


def test_only_admins_grant_and_revoke_and_refusals_are_audited(
    workbench: Workbench, grants: PiiGrants
) -> None:
    sam = _as(workbench, "sam")
    with pytest.raises(PermissionDenied, match=r"sam \(scientist\) may not grant raw access"):
        grants.grant(sam, "sam", table="bank.customers", reason="I need it", days=1)
    assert not grants.may_see_raw(sam, "bank.customers", "email")
    code = _as(workbench, "ada", scopes=WORK, label="notebook ada")
    with pytest.raises(PermissionDenied, match="a token made for code may not grant"):
        grants.grant(code, "sam", table="bank.customers", reason="from a notebook", days=1)
    made = grants.grant(ADA, "sam", kind="phone", reason="call-centre study", days=1)
    with pytest.raises(PermissionDenied, match="may not revoke"):
        grants.revoke(sam, made.id)
    with pytest.raises(PermissionDenied, match="may not list the grants of ada"):
        grants.list_grants(sam, user="ada")
    refused = [
        (e.action, e.actor, e.success)
        for e in workbench.audit.entries()
        if e.action.startswith("pii.") and not e.success
    ]
    assert refused == [
        ("pii.revoke", "sam", False),
        ("pii.grant", "ada", False),
        ("pii.grant", "sam", False),
    ]


def test_a_grant_needs_a_target_a_reason_and_a_bounded_expiry(
    workbench: Workbench, grants: PiiGrants
) -> None:
    now = datetime.now(UTC)
    bad: list[tuple[dict[str, object], str]] = [
        ({"table": "bank.customers", "reason": "", "days": 1}, "a grant needs a reason"),
        ({"table": "bank.customers", "reason": "  ", "days": 1}, "a grant needs a reason"),
        ({"table": "bank.customers", "reason": "why", "days": 0}, "days must be at least 1"),
        ({"table": "bank.customers", "reason": "why", "days": 91}, "at most 90 days"),
        ({"table": "bank.customers", "reason": "why"}, "a grant needs an expiry"),
        (
            {"table": "t", "reason": "why", "expires_at": now - timedelta(minutes=1)},
            "is in the past",
        ),
        (
            {"table": "t", "reason": "why", "expires_at": now + timedelta(days=91)},
            "at most 90 days",
        ),
        ({"reason": "why", "days": 1}, "on a table or on a kind"),
        ({"table": "t", "kind": "email", "reason": "why", "days": 1}, "on a table or on a kind"),
        ({"kind": "mail", "reason": "why", "days": 1}, "no kind of personal data 'mail'"),
        ({"table": "../../etc/passwd", "reason": "why", "days": 1}, "is not a table name"),
        ({"table": "a; DROP TABLE x", "reason": "why", "days": 1}, "is not a table name"),
        ({"table": "t", "reason": "x" * 1001, "days": 1}, "the reason is too long"),
    ]
    for arguments, message in bad:
        with pytest.raises(InvalidInput, match=message):
            grants.grant(ADA, "sam", **arguments)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="no user 'nobody'"):
        grants.grant(ADA, "nobody", table="t", reason="why", days=1)
    with pytest.raises(NotFound, match="no grant 999"):
        grants.revoke(ADA, 999)
    assert grants.list_grants(ADA, everything=True) == []
    naive = grants.grant(
        ADA, "sam", table="t", reason="why", expires_at=datetime.now() + timedelta(days=2)
    )
    assert naive.table == "main.t" and naive.expires_at.tzinfo is not None
