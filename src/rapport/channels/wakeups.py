"""Wake-up flags: one queued task per burst of work instead of one per item.

A door or a writer calls ``wake(name)`` after its commit; only when the flag was clear does it
queue the task. The task calls ``woken(name)`` before it looks for work, so an item committed
after that look finds the flag clear and queues the next run; nothing is ever left waiting."""

from __future__ import annotations

from rapport.channels.models import WorkerWakeup


def wake(name: str) -> bool:
    """Set the flag; True when it was clear (the caller queues the task)."""
    if WorkerWakeup.objects.filter(name=name, scheduled=False).update(scheduled=True):
        return True
    _, created = WorkerWakeup.objects.get_or_create(name=name, defaults={"scheduled": True})
    return created


def woken(name: str) -> None:
    """The task has started: later work must queue a new one."""
    WorkerWakeup.objects.filter(name=name).update(scheduled=False)
