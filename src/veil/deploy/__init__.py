"""Deployment: identity keys and certificates, the deployment file, approvals, audit logs."""
