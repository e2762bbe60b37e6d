from datetime import timedelta

from sqlalchemy import update

from atelier.backends.metadata import LoginLink, WebSession
from atelier.backends.metadata.models import utcnow
from atelier.services.workbench import Workbench


def test_session_round_trip_and_end(workbench: Workbench) -> None:
    owner = workbench.owner()
    secret = workbench.sessions.start(owner.user_id)
    principal = workbench.sessions.authenticate(secret)
    assert principal is not None and principal.name == owner.name
    assert principal.csrf_token and principal.via == "session"
    workbench.sessions.end(secret)
    assert workbench.sessions.authenticate(secret) is None


def test_expired_session_is_refused(workbench: Workbench) -> None:
    secret = workbench.sessions.start(workbench.owner().user_id)
    with workbench.db.session() as session:
        session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert workbench.sessions.authenticate(secret) is None


def test_login_link_works_once(workbench: Workbench) -> None:
    owner = workbench.owner()
    code = workbench.sessions.create_link(owner.name)
    first = workbench.sessions.redeem_link(code)
    assert first is not None and first.name == owner.name
    assert workbench.sessions.redeem_link(code) is None


def test_expired_or_unknown_link_is_refused(workbench: Workbench) -> None:
    code = workbench.sessions.create_link(workbench.owner().name)
    with workbench.db.session() as session:
        session.execute(update(LoginLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert workbench.sessions.redeem_link(code) is None
    assert workbench.sessions.redeem_link("made-up") is None
