"""``<NAME>_FILE``: any setting read from a file instead of the environment (Kubernetes secret mounts).

A setting named ``DATABASE_URL`` can be given as ``DATABASE_URL_FILE=/run/secrets/db-url``; the
file's content (one trailing newline removed) is the value. Setting both is an error, as is a file
that cannot be read: a secret silently missing is worse than a service that does not start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsError

FILE_SUFFIX = "_FILE"


class SettingFileError(SettingsError):
    """A ``<NAME>_FILE`` setting that cannot be used; the message names it."""


def env_names(field_name: str, field: FieldInfo, prefix: str) -> list[str]:
    """The environment names a field is read from (its upper-case aliases, else prefix + name)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        names = [c for c in alias.choices if isinstance(c, str) and c.isupper()]
        if names:
            return names
    elif isinstance(alias, str):
        return [alias.upper()]
    return [(prefix + field_name).upper()]


def read_setting_file(name: str, path: str) -> str:
    """The value held in ``path`` for the setting ``name`` (SettingFileError naming ``name``_FILE)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SettingFileError(
            f"invalid setting {name}{FILE_SUFFIX}: cannot read {path} ({reason})"
        ) from None
    return text.removesuffix("\n").removesuffix("\r")


class FileValuesSource(PydanticBaseSettingsSource):
    """Values of settings whose ``<NAME>_FILE`` variable is set."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Not used: __call__ reads every field at once.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        prefix = str(self.settings_cls.model_config.get("env_prefix") or "")
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            for name in env_names(field_name, field, prefix):
                path = os.environ.get(name + FILE_SUFFIX)
                if not path:
                    continue
                if os.environ.get(name):
                    raise SettingFileError(
                        f"invalid setting {name}{FILE_SUFFIX}: {name} is set too; set only one of them"
                    )
                values[field_name] = read_setting_file(name, path)
        return values


class FileSettings(BaseSettings):
    """Base of settings that accept ``<NAME>_FILE`` for every setting (after explicit arguments)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            FileValuesSource(settings_cls),
            env_settings,
            dotenv_settings,
            file_secret_settings,
        )
