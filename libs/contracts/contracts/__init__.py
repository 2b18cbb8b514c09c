"""Message contracts shared by every service: pydantic models, topic and header names, catalogs.

No I/O lives here. A breaking change to a published message means a new versioned model
(`..._v2`), never an edit to an existing one.
"""
