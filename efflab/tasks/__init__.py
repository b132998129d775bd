"""Tasks: a labelled text data set with a train and a test split.

A :class:`Task` is what accuracy is measured on. ``get_task("reviews")`` is the built-in task (Amazon
fine-food reviews from R's ``modeldata``, binary sentiment, 4,000 train / 1,000 test, shipped with the
package); any CSV file with a text and a label column is a task too::

    from efflab.tasks import get_task
    task = get_task("reviews")
    task = get_task("my_reviews.csv", text_column="body", label_column="stars")

Both splits are normalised to two columns, ``text`` (str) and ``label`` (int ``0..k-1`` in the order of
``label_names``). Every bad input raises :class:`efflab.errors.TaskError` with a one-line message.
"""

from __future__ import annotations

from efflab.tasks.base import BUILTIN_TASKS, Task, get_task, load_task, task_from_frames

__all__ = ["BUILTIN_TASKS", "Task", "get_task", "load_task", "task_from_frames"]
