# nbexchange's configuration (read from /etc/config/nbexchange_config.py, its default path). Storage and database
# come from the environment (NBEX_BASE_STORE, NBEX_DB_URL; deploy/nbexchange.yaml sets them).
import os

c = get_config()  # noqa: F821 -- provided by traitlets

c.NbExchange.base_url = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/nbexchange/")
c.NbExchange.base_storage_location = os.environ.get("NBEX_BASE_STORE", "/srv/nbexchange/files")
c.NbExchange.db_url = os.environ.get("NBEX_DB_URL", "sqlite:////srv/nbexchange/nbexchange.sqlite")
c.NbExchange.upgrade_db = True
c.NbExchange.user_plugin_class = "calcml_user_handler.CalcmlUserHandler"
# Largest upload: a unit's notebook and its few data files, far below nbexchange's 5 GB default.
c.NbExchange.max_buffer_size = 64 * 1024 * 1024
