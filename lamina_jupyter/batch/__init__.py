"""The pandas fan-out: a DataFrame of inputs becomes parallel runs, a ledger and result columns."""
