"""The composition root: settings, database lifecycle, migrations, accounts and roles, the app
factory, HTML pages, templates, static assets and the CLI. Depends on every domain package;
none depends on it."""
