"""Customer CSV import and export: the fast bulk path.

The CSV has a header row; these columns are known (any order, only ``name`` is required):

=================  ==============================================================
name               the customer's name (required)
kind               person | organisation (default person)
status             prospect | active | former (default prospect)
emails             one or more addresses separated by ``;`` (the first is primary)
phones             one or more numbers separated by ``;`` (national numbers in the
                   default region, or international with ``+``)
account_manager    a staff username
external_id        the customer's id in another system (unique)
preferred_channel  phone | email | letter | meeting | chat | sms | portal | web | ...
language           a language code such as en or pt-BR (default en)
timezone           an IANA zone such as Europe/London (default UTC)
tags               several separated by ``;``
consent_email, consent_phone, consent_post, consent_marketing
                   true/false, yes/no, 1/0 or empty (empty = no consent)
notes              free text
=================  ==============================================================

The file must be UTF-8 (a byte-order mark is fine). Every row is checked with the same
rules as the API (``validation`` and ``services.clean_customer_input``) plus the checks only
a file needs: duplicates within the file and against existing customers, and unknown
account managers. Every bad row is reported by its physical line (line 1 is the header);
if any row is bad nothing is imported. A real import writes everything in one transaction.
An export has the same columns, so it re-imports.

The package, by subject (each module imports only those above it):

==============  =================================================================================
``rows``        the columns, a validated row (a tuple), ``RowError`` and ``ImportReport``
``reading``     the file as UTF-8 lines, rows counted
``phones``      the phone-number fast path (``_Phones``) and its metadata checks
``cleaning``    the email fast path and the per-import memo tables (``_Cleaner``)
``validating``  one pass over the file (``_Validator``)
``checks``      the bulk checks against existing rows (``_Checker``)
``writing``     COPY / ``bulk_create`` writers, row checks, ``BackgroundWriter``
``importing``   ``import_customers``, validating and writing at once on PostgreSQL
``export``      ``export_customers``
``jobs``        the ``ImportJob`` flow (``start_import``, ``confirm_import``, ``run_job``)
==============  =================================================================================

Every name other apps, tests and benchmarks use is importable from the package itself; the order
import (``rapport.value.imports``) reuses the reading, checking and writing parts. Values read at
call time (``validating.WRITE_CHUNK``, ``checks._taken``) are patched in their own module.
"""

from rapport.customers.imports.checks import LOOKUP_CHUNK, _chunks, _taken
from rapport.customers.imports.cleaning import _Cleaner, fast_normalise_email
from rapport.customers.imports.export import export_customers
from rapport.customers.imports.importing import TAKEN_MEANWHILE, import_customers
from rapport.customers.imports.jobs import confirm_import, get_job, recent_jobs, run_job, start_import
from rapport.customers.imports.phones import _Phones
from rapport.customers.imports.reading import _EncodingError, _open, _text_lines, count_rows
from rapport.customers.imports.rows import COLUMNS, LIST_SEPARATOR, ImportReport, Progress, Row, RowError
from rapport.customers.imports.validating import _Validator
from rapport.customers.imports.writing import (
    BackgroundWriter,
    _write_orm,
    _write_postgresql,
    copy_text,
    lock_parents,
    restore_row_checks,
    skip_row_checks,
)

__all__ = [
    "COLUMNS",
    "LIST_SEPARATOR",
    "LOOKUP_CHUNK",
    "TAKEN_MEANWHILE",
    "BackgroundWriter",
    "ImportReport",
    "Progress",
    "Row",
    "RowError",
    "_Cleaner",
    "_EncodingError",
    "_Phones",
    "_Validator",
    "_chunks",
    "_open",
    "_taken",
    "_text_lines",
    "_write_orm",
    "_write_postgresql",
    "confirm_import",
    "copy_text",
    "count_rows",
    "export_customers",
    "fast_normalise_email",
    "get_job",
    "import_customers",
    "lock_parents",
    "recent_jobs",
    "restore_row_checks",
    "run_job",
    "skip_row_checks",
    "start_import",
]
