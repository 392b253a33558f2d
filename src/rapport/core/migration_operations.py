"""Migration operations shared by the apps' migrations."""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation


class OnlyOn(Operation):
    """``operation`` changes the model state everywhere but the schema only on ``vendor``.

    For dropping an index that a composite index makes redundant: PostgreSQL drops it in
    place, while SQLite would rebuild the whole table (losing the triggers that keep its
    full-text tables in step) to lose an index it can just keep."""

    reversible = True
    reduces_to_sql = False

    def __init__(self, vendor: str, operation: Operation) -> None:
        self.vendor = vendor
        self.operation = operation

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, [self.vendor, self.operation], {}

    def state_forwards(self, app_label: str, state: Any) -> None:
        self.operation.state_forwards(app_label, state)

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == self.vendor:
            self.operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == self.vendor:
            self.operation.database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        return f"{self.operation.describe()} (schema on {self.vendor} only)"
