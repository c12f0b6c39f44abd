"""Pipelines that turn outside data (report files, GitHub, fuzzers) into validated rows."""
