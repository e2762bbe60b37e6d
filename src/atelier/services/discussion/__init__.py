"""Discussion: comments, with mentions and references, on tables, experiments, runs, model
versions and apps.

::

    wb.discussion.post(principal, "run", "4f2a…", "@ada compare with model:churn/2")
    wb.discussion.thread(principal, "run", "4f2a…")      # oldest first, deleted ones blanked
    render_body(comment.body)                              # escaped text, references as links

Who may read and write a subject's comments is :mod:`atelier.services.activity.subjects`;
comments and mentions become activity (:mod:`atelier.services.activity`).
"""

from atelier.services.discussion.comments import Comment, Discussion
from atelier.services.discussion.references import Reference, mentions, references, render_body

__all__ = ["Comment", "Discussion", "Reference", "mentions", "references", "render_body"]
