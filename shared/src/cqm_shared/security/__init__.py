"""Who may do what: principals, bearer tokens, API keys and the per-service permission check."""

from cqm_shared.security.principal import Principal, Role

__all__ = ["Principal", "Role"]
