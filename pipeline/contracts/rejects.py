"""The one shape of a rejected row, shared by every layer's reject table.

``core.rejected_rows`` (rows of documents that failed a core contract) and
``utilization.quarantine`` (CSV lines that failed a utilization contract) both
extend this model, so BI users read rejects the same way everywhere: which table
the row was for, which source file it came from, the line when known, every
reason, and the row itself.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series


class RejectedRow(pa.DataFrameModel):
    """A row that failed its table's contract and was kept out of that table, with every reason."""

    table_name: Series[str] = pa.Field(description="Table the row was meant for.")
    source_file: Series[str] = pa.Field(
        nullable=True, description="Source file the row came from (document_id for documents)."
    )
    line_number: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, description="Line of the source file, where it is known."
    )
    reasons: Series[str] = pa.Field(description="Every failed rule, separated by '; ', with the offending values.")
    row_data: Series[str] = pa.Field(description="The row as JSON (typed), or the raw line when it could not be read.")
