"""Webhook logic shared by the services: URL sanitising, SSRF policy, secret encryption, signing,
the filter language, and the HTTP sending code used by both the worker and the config API's test delivery.
"""
