"""Activity: what happened to the subjects people work on, as feeds and webhooks.

::

    wb.activity.feed(principal)                      # my feed: mentions, my projects, my tables
    wb.activity.project_feed("churn", principal)     # one project's feed (members and admins)
    wb.webhooks.create(principal, "https://hooks.example.com/atelier", ["mention"])

Events are recorded by the services that act (comments and mentions by the discussion service;
new table versions, registrations and alias moves as they are audited; feedback as it is
given). A reader only ever gets events about subjects they may see (:mod:`.subjects`).
"""

from atelier.services.activity.feed import Activity, ActivityItem
from atelier.services.activity.subjects import KINDS, Subject, Subjects
from atelier.services.activity.webhooks import Webhooks

__all__ = ["KINDS", "Activity", "ActivityItem", "Subject", "Subjects", "Webhooks"]
