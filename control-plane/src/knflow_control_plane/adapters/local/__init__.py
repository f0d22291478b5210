"""Functions on this machine: the ``local`` backend (runtime processes, started by fork servers), the
``venv`` builder and custom triggers as local processes (``sources``)."""
