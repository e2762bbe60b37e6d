from atelier.services.workbench import Workbench


def test_entries_newest_first_with_paging_and_filter(workbench: Workbench) -> None:
    for i in range(5):
        workbench.audit.record("login", actor=f"u{i}", success=i % 2 == 0, client="1.2.3.4")
    workbench.audit.record("user.create", actor="admin", target="u9", detail={"role": "viewer"})
    entries = workbench.audit.entries(limit=3)
    assert [e.action for e in entries] == ["user.create", "login", "login"]
    assert entries[0].detail == {"role": "viewer"}
    older = workbench.audit.entries(limit=10, before_id=entries[-1].id)
    assert [e.actor for e in older] == ["u2", "u1", "u0"]
    logins = workbench.audit.entries(action="login")
    assert len(logins) == 5 and [e.success for e in logins] == [True, False, True, False, True]
    assert entries[0].at.tzinfo is not None
