"""Admin bearer tokens, roles and the audit log, shared by the config API and the DLQ replayer.

Both services authenticate against the same ``api_tokens`` table and write the same ``audit_log``.
"""
