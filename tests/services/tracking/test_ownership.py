"""The ownership rules on Atelier's metadata (SQLite and PostgreSQL): who writes, which aliases
are protected. MLflow's objects are stood in for: the rules only read their tags."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from atelier.backends.metadata import ProjectMember, ProjectRecord
from atelier.errors import NotFound, PermissionDenied
from atelier.services.apps import Apps
from atelier.services.auth import Principal
from atelier.services.tracking.ownership import Owned, Ownership
from atelier.services.workbench import Workbench


class Store:
    """What ``MlflowClient`` answers about two experiments; unknown ids raise like MLflow."""

    experiments = {
        "1": SimpleNamespace(experiment_id="1", name="mine", tags={"atelier.owner": "ada"}),
        "2": SimpleNamespace(experiment_id="2", name="churn", tags={}),
    }

    def get_experiment(self, experiment_id: str) -> Any:
        from mlflow.exceptions import MlflowException

        if experiment_id not in self.experiments:
            raise MlflowException("no such experiment")
        return self.experiments[experiment_id]


@pytest.fixture
def owners(workbench: Workbench) -> Ownership:
    for name, role in (("ada", "scientist"), ("grace", "scientist"), ("vic", "viewer")):
        workbench.users.create(name, role)
    with workbench.db.session() as session:
        project = ProjectRecord(name="churn", path="/nowhere")
        session.add(project)
        session.flush()
        for name in ("grace", "vic"):
            user = workbench.users.get(name)
            session.add(ProjectMember(project_id=project.id, user_id=user.id, role="editor"))
    Apps(workbench.db).create("live", "model", owner="ada", model="churn@prod")
    return Ownership(lambda: Store(), workbench.db, protected_aliases=["champion"])  # type: ignore[arg-type, return-value]


def person(workbench: Workbench, name: str) -> Principal:
    user = workbench.users.get(name)
    return Principal(user.id, user.name, user.role, "token")


def test_owners_members_and_admins_write(owners: Ownership, workbench: Workbench) -> None:
    ada, grace, vic = (person(workbench, n) for n in ("ada", "grace", "vic"))
    root = Principal(0, "root", "admin", "local")
    model = Owned("model 'churn'", "ada", "churn")
    assert owners.projects_of(grace) == {"churn"} and owners.projects_of(ada) == set()
    assert all(owners.may_write(p, model) for p in (ada, grace, root))
    assert not owners.may_write(vic, model)  # a viewer, even in the project
    with pytest.raises(PermissionDenied, match="ada may not tag run r1 \\(owned by bob\\)"):
        owners.check_write(ada, Owned("run r1", "bob", None), "tag")


def test_experiments_without_an_owner_are_open(owners: Ownership, workbench: Workbench) -> None:
    ada, grace = person(workbench, "ada"), person(workbench, "grace")
    mine, legacy = owners.experiment("1"), owners.experiment("2")
    assert (mine.owner, mine.project, mine.open) == ("ada", None, False)
    assert (legacy.owner, legacy.project, legacy.open) == (None, "churn", True)
    owners.check_add(grace, legacy, "create a run")
    with pytest.raises(PermissionDenied, match="use an experiment of your own"):
        owners.check_add(grace, mine, "create a run")
    assert not owners.may_write(ada, legacy) and owners.may_write(grace, legacy)
    with pytest.raises(NotFound, match="no experiment '9'"):
        owners.experiment("9")


def test_projects_are_joined_by_their_members(owners: Ownership, workbench: Workbench) -> None:
    assert owners.check_project(person(workbench, "grace"), "churn", "experiment 'x'") == "churn"
    with pytest.raises(PermissionDenied, match="only its members"):
        owners.check_project(person(workbench, "ada"), "churn", "experiment 'x'")
    with pytest.raises(NotFound, match="no project named 'nope'"):
        owners.check_project(person(workbench, "grace"), "nope", "experiment 'x'")


def test_protected_aliases_need_the_owner_or_an_admin(
    owners: Ownership, workbench: Workbench
) -> None:
    ada, grace = person(workbench, "ada"), person(workbench, "grace")
    root = Principal(0, "root", "admin", "local")
    model = Owned("model 'churn'", "ada", "churn")
    assert owners.protection("churn", "prod") == ["app live serves churn@prod"]
    assert owners.protection("churn", "champion") == [
        "'champion' is a protected alias (tracking.protected_aliases)"
    ]
    assert owners.protection("churn", "staging") == []
    assert owners.check_alias(grace, model, "churn", "staging", "move churn@staging") == []
    for alias in ("prod", "champion"):
        with pytest.raises(PermissionDenied, match="only the model's owner \\(ada\\)"):
            owners.check_alias(grace, model, "churn", alias, f"move churn@{alias}")
        assert owners.check_alias(ada, model, "churn", alias, "move")
        assert owners.check_alias(root, model, "churn", alias, "move")


def test_a_name_apps_serve_is_kept_for_their_owners(
    owners: Ownership, workbench: Workbench
) -> None:
    assert owners.apps_using("churn") == [("live", "ada")]
    assert owners.apps_using("churn2") == []
    with pytest.raises(PermissionDenied, match="app live serve"):
        owners.check_model_name(person(workbench, "grace"), "churn")
    owners.check_model_name(person(workbench, "ada"), "churn")
    owners.check_model_name(Principal(0, "root", "admin", "local"), "churn")
    owners.check_model_name(person(workbench, "grace"), "churn2")
