"""Apps: a registered model in front of users, feedback on its predictions, hosted apps.

* :mod:`.registry` — apps, sharing (named users or every logged-in user), pause and delete;
* :mod:`.form` — the generated app's form from the model's signature and input example;
* :mod:`.feedback` — right/wrong, correct value, comment; copied to ``feedback.<app>``;
* :mod:`.hosting` — Streamlit and Dash scripts as supervised processes behind the gateway;
* :mod:`.service` — :class:`AppService`, which ties them to serving.
"""

from atelier.services.apps.feedback import Feedback, FeedbackEntry, FeedbackSummary
from atelier.services.apps.form import Field, form_fields, parse_form
from atelier.services.apps.hosting import AppUnavailable, HostedProcess, Supervisor
from atelier.services.apps.registry import AppInfo, Apps, can_manage, can_see, can_use
from atelier.services.apps.service import AppService

__all__ = [
    "AppInfo",
    "AppService",
    "AppUnavailable",
    "Apps",
    "Feedback",
    "FeedbackEntry",
    "FeedbackSummary",
    "Field",
    "HostedProcess",
    "Supervisor",
    "can_manage",
    "can_see",
    "can_use",
    "form_fields",
    "parse_form",
]
