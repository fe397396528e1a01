"""mergepoint's neutral package: the shared schema, its migrations, roles and reports.

It imports no web framework and no application: the apps integrate with it only
through the database it migrates.
"""
