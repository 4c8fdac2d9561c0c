"""Caching methods side by side against stock sampling (``pdit bench``): the runner (``runner``), frame
metrics (``metrics``), the table, plot and result files (``report``), and one adapter module per method
family (``methods``)."""
