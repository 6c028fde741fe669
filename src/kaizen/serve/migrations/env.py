"""Alembic environment for the feedback store.

Run by ``Database.migrate()`` at every ``kaizen serve`` start, on the connection it passes in
``config.attributes["connection"]``. To write a new migration after changing ``serve/db.py``:

    alembic -x url=sqlite:///kaizen-serve.db -c /dev/null revision --autogenerate -m "what changed"

(or copy ``versions/0001_initial.py`` and edit it by hand).
"""

from alembic import context
from sqlalchemy import create_engine

from kaizen.serve.db import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.attributes.get("connection_url") or context.get_x_argument(as_dictionary=True)["url"]
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
