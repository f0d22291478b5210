"""The run store on SQLAlchemy Core: SQLite and Postgres, one SQL code path for both.

``store.SqlAlchemyStore`` is the front; ``database`` runs transactions (``sqlite_thread`` on SQLite, the
pool behind ``admission`` on Postgres); ``raw``/``raw_asyncpg`` run the hot statements on the driver.
"""
