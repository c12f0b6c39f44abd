"""Dataset pipelines: exporting a study (CSV, JSONL) and reading label files back in.

Plain modules, no views or tasks: ``export`` builds and writes rows as generators,
``label_import`` parses and validates a long-format label file.
"""
