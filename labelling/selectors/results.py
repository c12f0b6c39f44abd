"""Cached study results, keyed by the study's results token (``StudyResultsVersion``).

``study_results_cached(study=..., name=..., params=..., compute=...)`` reads the study's token
(one primary-key lookup), then the cache entry named by the token, ``name`` and ``params``;
on a miss it computes and stores. Every write that changes a study's results gives it a new
token (``labelling.services.results.study_results_changed``), so an entry is never read after
the data under it changed, in whichever process it was cached; old entries just expire.

Callers check access BEFORE asking, and cache only what is the same for every role that may
read it (e.g. the study-wide counts, never one annotator's own figures under a shared name):
``params`` must hold everything else the result depends on (filters, round, labels mode,
codebook version).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

from labelling.models import Study, StudyResultsVersion
from labelling.services.results import study_results_changed

RESULTS_CACHE_SECONDS = 24 * 3600
_MISSING = object()


def study_results_token(*, study_id: int) -> str:
    """The study's current results token; a study without one yet gets one (so it can be cached)."""
    token = StudyResultsVersion.objects.filter(study_id=study_id).values_list("token", flat=True).first()
    return token or study_results_changed(study_ids=[study_id])[study_id]


def study_results_pin(study: Study) -> str:
    """Read the study's token once for the rest of a read-only request: the cached reads that
    follow on this ``study`` instance use it instead of reading it again (a page of charts asks
    a dozen times). Only for a request that writes nothing (a GET view, fetched study)."""
    study._results_token = study_results_token(study_id=study.pk)
    return study._results_token


def results_key(*, study_id: int, token: str, name: str, params: dict | None = None) -> str:
    digest = hashlib.sha1(json.dumps(params or {}, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f"bugsift:results:{study_id}:{token}:{name}:{digest}"


def study_results_cached(*, study: Study, name: str, compute: Callable[[], Any], params: dict | None = None) -> Any:
    """``compute()`` once per results version of ``study``, ``name`` and ``params``."""
    token = getattr(study, "_results_token", None) or study_results_token(study_id=study.pk)
    key = results_key(study_id=study.pk, token=token, name=name, params={"codebook": study.codebook_version,
                                                                         **(params or {})})  # fmt: skip
    value = cache.get(key, _MISSING)
    if value is _MISSING:
        value = compute()
        cache.set(key, value, RESULTS_CACHE_SECONDS)
    return value
