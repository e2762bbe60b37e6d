"""Feature definitions apply as any project the projects service accepts (``churn-sam``), as
older identifier-named feature projects did, and refuse what no project could be named."""

from __future__ import annotations

import pytest

from atelier.backends.metadata.models import ProjectMember, ProjectRecord
from atelier.errors import InvalidInput, PermissionDenied
from atelier.services.auth import Principal
from atelier.services.features import Definitions, Entity, FeatureView
from atelier.services.features.definitions import check_project
from atelier.services.projects.model import check_name as check_project_name
from atelier.services.workbench import Workbench

from .conftest import write


def _definitions() -> Definitions:
    customer = Entity("customer", ["customer_id"])
    view = FeatureView("spend_sam", customer, "ts", source="main.tx", features=["amount"])
    return Definitions([customer], [view])


def _member(wb: Workbench, project: str, user: str) -> Principal:
    member = wb.users.ensure(user, "scientist")
    with wb.db.session() as session:
        record = ProjectRecord(name=project, path=f"/nowhere/{project}", created_by=user)
        session.add(record)
        session.flush()
        session.add(ProjectMember(project_id=record.id, user_id=member.id, role="owner"))
        session.commit()
    return Principal(member.id, member.name, member.role, "token")


@pytest.mark.parametrize("name", ["churn-sam", "q3-2024", "churn_v2", "legacy_Project"])
def test_names_projects_accept_are_feature_projects(name: str) -> None:
    if name.islower() or "-" in name:
        check_project_name(name)  # a name the projects service accepts
    assert check_project(name) == name


@pytest.mark.parametrize(
    "name", ["", "-churn", "churn-", "a b", "churn;drop", "../x", "Churn-Sam", "x" * 70, 3]
)
def test_names_no_project_could_have_are_refused(name: object) -> None:
    with pytest.raises(InvalidInput, match="is not a valid name"):
        check_project(name)


def test_a_hyphenated_project_defines_and_lists_views(local: Workbench) -> None:
    store = local.features
    write(
        store,
        "CREATE TABLE tx (customer_id INTEGER, ts TIMESTAMP, amount DOUBLE)",
        "INSERT INTO tx VALUES (1, TIMESTAMP '2024-01-01', 3.5)",
    )
    sam = _member(local, "churn-sam", "sam")
    plan = store.apply(_definitions(), project="churn-sam", principal=sam)
    assert plan.applied and plan.project == "churn-sam"
    assert [v.name for v in store.views(project="churn-sam")] == ["spend_sam"]
    # A non-member of the project may not apply as it, hyphen or not.
    eve = local.users.ensure("eve", "scientist")
    with pytest.raises(PermissionDenied, match="not a member of project 'churn-sam'"):
        store.apply(
            _definitions(),
            project="churn-sam",
            principal=Principal(eve.id, eve.name, eve.role, "token"),
        )
