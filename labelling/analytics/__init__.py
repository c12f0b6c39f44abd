"""Analytics (issue 14): a study's figures as Plotly charts, each with its data.

* ``filters``: the filters every chart takes (framework, kind, date range; final or annotators' labels).
* ``selectors``: each chart's data as ONE aggregate query (GROUP BY in the database).
* ``charts``: a ``Chart`` per figure: its data table (CSV, JSON, the accessible table form) and
  its Plotly figure (a dict for the page; ``.figure`` as a ``plotly.graph_objects.Figure``).
* ``catalogue``: which charts a study has, building one by id, and ``study_figures`` (for releases).
* ``staticfiles``: serves ``js/plotly.min.js`` from the installed plotly package (no CDN).
"""

from labelling.analytics.catalogue import build_chart, chart_ids, study_figures
from labelling.analytics.charts import Chart
from labelling.analytics.filters import ChartFilters, parse_filters

__all__ = ["Chart", "ChartFilters", "build_chart", "chart_ids", "parse_filters", "study_figures"]
