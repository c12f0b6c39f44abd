"""Dataset releases: frozen, citable Frictionless Data Packages of a study, and loading them back.

* ``versions``: semantic versions (parse, compare);
* ``package``: the package's layout and table schemas (one place for the CSV headers, the
  Parquet schemas and the ``datapackage.json`` descriptors);
* ``writer``: builds the zip, streaming the study in chunks (``labelling.dataset.export``'s reader);
* ``card``: the README.md dataset card, CITATION.cff and the licences;
* ``changes``: what changed since the previous release;
* ``loader``: reads and checks a package (frictionless, checksums, codebook against data);
* ``services`` / ``selectors``: create, load, list; ``views`` / ``api``: the page and the REST API.

See docs/releases.md.
"""
