"""The run record: the JSONL log writer and reader (`log`), and run summaries (`runs`)."""
