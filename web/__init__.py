"""The composition root: settings, database lifecycle, migrations, accounts and roles, the app
factory, HTML pages, templates, static assets and the CLI. Depends on every domain package;
none depends on it."""

from starlette.convertors import IntegerConvertor, register_url_convertor


class DatabaseIdConvertor(IntegerConvertor):
    """``{name:int}`` in our routes: at most 18 digits. Ids are signed 64-bit database keys, so a
    longer number names nothing; unbounded, it reached the query, where SQLite and asyncpg
    cannot bind it (a 500). Bounded, no route matches it: 404."""

    digits = 18
    regex = f"[0-9]{{1,{digits}}}"


# Here, before any route of the package is compiled (routes are built when their module is
# imported, and every module of the package imports the package first).
register_url_convertor("int", DatabaseIdConvertor())
