"""The catalogue's tables: projects, the action and workflow versions they hold, what is deployed and the
HTTP routes it serves, and each project's API keys and encrypted secrets."""

from __future__ import annotations

import sqlalchemy as sa

from .table_types import Json, Name, Project, Time, metadata

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", Project, primary_key=True),
    sa.Column("created_at", Time, nullable=False),
)

action_versions = sa.Table(
    "action_versions",
    metadata,
    sa.Column("project", Project, primary_key=True),
    sa.Column("name", Name, primary_key=True),
    sa.Column("version", sa.String(40), primary_key=True),
    sa.Column("spec", Json, nullable=False),
    sa.Column("code", sa.LargeBinary, nullable=True),
    sa.Column("code_digest", sa.String(64), nullable=True),
    sa.Column("build_status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("build_logs", sa.Text, nullable=False, server_default=""),
    sa.Column("artifact", Json, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

workflow_versions = sa.Table(
    "workflow_versions",
    metadata,
    sa.Column("project", Project, primary_key=True),
    sa.Column("name", Name, primary_key=True),
    sa.Column("version", sa.String(40), primary_key=True),
    sa.Column("spec", Json, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("project", Project, primary_key=True),
    sa.Column("name", Name, primary_key=True),
    sa.Column("latest_version", sa.String(40), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("project", Project, primary_key=True),
    sa.Column("workflow", Name, primary_key=True),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    # the file it was deployed from, as the deployer named it (None: deployed through the API alone)
    sa.Column("source", sa.String(1024), nullable=True),
)

# HTTP trigger routes of deployed workflows, looked up on every /hooks request.
routes = sa.Table(
    "routes",
    metadata,
    sa.Column("project", Project, primary_key=True),
    sa.Column("method", sa.String(8), primary_key=True),
    sa.Column("path", sa.String(200), primary_key=True),
    sa.Column("workflow", Name, nullable=False),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("trigger", Json, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("project", Project, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("revoked_at", Time, nullable=True),
    sa.Column("role", sa.String(16), nullable=False, server_default="admin"),
    sa.Column("expires_at", Time, nullable=True),
)

# Named secrets of a project: the value only encrypted (Fernet, KNFLOW_SECRETS_KEY), never returned by the API.
secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("project", Project, primary_key=True),
    sa.Column("name", Name, primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)
