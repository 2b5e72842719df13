"""What the settings are made of: the one-line error, the models' base, and the constrained types that recur.

A scalar setting arrives as text, as the engine passes it (true, 30, a list as JSON); each type parses that text and
raises Invalid with the value to show and what it expects, which the loader turns into the ConfigError line.
"""

import difflib
import json
import re
import urllib.parse
from typing import Annotated, Any, Callable, Literal, Optional, Union, get_args

import pulumi
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Strict, Tag
from pydantic import model_validator
from pydantic.alias_generators import to_camel

SECRET_SHOWN_AS = "[secret]"


class Hidden(str):
    """Stands for a value that must not be printed, such as a secret."""


# The value of a key that is not one of the program's: it may be a secret, or a whole map; only the key is shown.
KEY_ONLY = Hidden("")
PLAINTEXT = Hidden("[plaintext, not shown]")


class ConfigError(pulumi.RunError):
    """A setting that is wrong: the message names the key, the value given and what is expected."""

    def __init__(self, key: str, value: Any, expected: str):
        shown = "(unset)" if value is None else value if isinstance(value, Hidden) else json.dumps(value)
        super().__init__(f"Invalid configuration {key}{f' = {shown}' if shown else ''}: expected {expected}")


class MissingSecret(ConfigError):
    """A secret that the stack's modes need is not set; the message gives the command that sets it."""

    def __init__(self, key: str, project: str, stack: str, what: str):
        self.key = key
        super().__init__(f"{project}:{key}", None, f"{what}: {set_secret_command(stack, key)}")


def set_secret_command(stack: str, key: str) -> str:
    """The command that asks for a secret setting (without echo) and stores it encrypted in the stack file."""
    return f"pulumi config set --stack {stack} --path --secret {key}"


class Invalid(ValueError):
    """What a validator raises: the value to show (None: unset) and what is expected, for the setting validated, one
    of its fields (field), or another setting (key, its whole path such as hub.host); missing: a secret not set."""

    def __init__(self, value: Any, expected: str, *, field: str = "", key: str = "", missing: bool = False):
        super().__init__(expected)
        self.value, self.expected, self.field, self.key, self.missing = value, expected, field, key, missing


class Model(BaseModel):
    """Settings: frozen, without unknown fields, read from camelCase keys into snake_case attributes."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, validate_by_name=True,
                              validate_default=True, arbitrary_types_allowed=True)


def setting(default: Any, description: str, **options: Any) -> Any:
    """A setting's default and its description in Pulumi.yaml."""
    return Field(default, description=description, **options)


class Item(Model):
    """An object of a list setting (a profile, a dataset, ...): a map of known fields, of JSON's types."""

    model_config = ConfigDict(validate_default=False)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        names = [field.alias for field in cls.model_fields.values()]
        if not isinstance(data, (dict, cls)):
            raise Invalid(data, "a map with the fields " + ", ".join(names))
        for name, value in data.items() if isinstance(data, dict) else ():
            if name not in names and name not in cls.model_fields:
                near = difflib.get_close_matches(name, names, n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                raise Invalid(value, "a known field: " + ", ".join(names) + hint, field=name)
        return data


def modes(field: str, default: str, *models: type) -> Any:
    """The models of a setting's modes, chosen by field (such as cluster.type), each declaring its mode as a Literal."""
    def mode(data: Any) -> Optional[str]:
        return (text(data.get(field)) if field in data else default) if isinstance(data, dict) else getattr(data, field)
    return Annotated[Union[tuple(Annotated[model, Tag(get_args(model.model_fields[field].annotation)[0])]
                                 for model in models)], Discriminator(mode)]


# What an item's field of another JSON type is expected to be, by pydantic's error.
JSON_TYPES = {"string_type": "a str", "bool_type": "a bool", "int_type": "an int", "missing": "a value: this field is required"}


def _given(value: Any) -> Any:
    if value == "":
        raise Invalid(None, JSON_TYPES["missing"])
    return value


def of_json(kinds: tuple, expected: str) -> BeforeValidator:
    """An item's field that is one of JSON's kinds (never a boolean for a number)."""
    def check(value: Any) -> Any:
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise Invalid(value, expected)
        return value
    return BeforeValidator(check)


Str = Annotated[str, Strict()]
RequiredStr = Annotated[str, Strict(), AfterValidator(_given)]
Given = BeforeValidator(_given)

# --- patterns and units ------------------------------------------------------------------------------

LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # an RFC 1123 label
DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m)?$")
UNITS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
         "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
GCP_ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")


def quantity_bytes(text: str) -> int:
    """The number of bytes of a Kubernetes quantity such as 100Gi (already validated)."""
    number, unit = QUANTITY.match(text).groups()
    return int(float(number) * UNITS[unit])


def cpu_millis(text: str) -> int:
    number, milli = CPU.match(text).groups()
    return int(float(number) * (1 if milli else 1000))


def is_https_url(text: str) -> bool:
    url = urllib.parse.urlparse(text)
    return url.scheme == "https" and bool(url.hostname) and " " not in text


# --- constrained types: each parses a setting's text -------------------------------------------------------------


def text(value: Any) -> Optional[str]:
    """A setting as the engine passes a scalar: text, true/false, lists and maps as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)


def json_value(value: Any, expected: str = "a YAML list or map in the stack file") -> Any:
    """An object setting (a list or map): as written in the stack file, or as JSON text."""
    try:
        return json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        raise Invalid(value, expected) from None


def listed(value: Any, expected: str) -> Any:
    """A list of objects, [] when unset or empty."""
    items = json_value(value) or []
    if not isinstance(items, (list, tuple)):
        raise Invalid(items, expected)
    return items


Text = Annotated[str, BeforeValidator(lambda value: text(value) or "")]


def Check(check: Union[re.Pattern, Callable[[Any], Any]], expected: str) -> AfterValidator:
    """A field's value, already of its type, that passes check (a pattern or a predicate)."""
    test = check.match if isinstance(check, re.Pattern) else check

    def checked(value: Any) -> Any:
        if not test(value):
            raise Invalid(value, expected)
        return value
    return AfterValidator(checked)


def Matching(check: Union[re.Pattern, Callable[[str], Any]], expected: str, required: bool = False) -> Any:
    """Text that passes check (a pattern or a predicate), or is empty unless required."""
    test = check.match if isinstance(check, re.Pattern) else check
    return Annotated[str, BeforeValidator(lambda value: text(value) or ""),
                     Check(lambda value: test(value) if value else not required, expected)]


def OneOf(*choices: str, expected: str = "") -> Any:
    def parse(value: Any) -> str:
        if (text(value) or "") not in choices:
            raise Invalid(text(value) or "", expected or "one of " + ", ".join(choices))
        return text(value)
    return Annotated[Literal[choices], BeforeValidator(parse)]


def whole_number(value: Any, minimum: int = 0, maximum: Optional[int] = None) -> int:
    try:
        number = int(text(value))
    except (TypeError, ValueError):
        raise Invalid(text(value), "a whole number") from None
    if number < minimum or (maximum is not None and number > maximum):
        raise Invalid(number, f"a whole number between {minimum} and {maximum}" if maximum is not None
                      else f"a whole number at least {minimum}")
    return number


def WholeNumber(minimum: int = 0, maximum: Optional[int] = None) -> Any:
    return Annotated[int, BeforeValidator(lambda value: whole_number(value, minimum, maximum))]


def _boolean(value: Any) -> bool:
    if text(value) not in ("true", "false"):
        raise Invalid(text(value), "true or false")
    return text(value) == "true"


Boolean = Annotated[bool, BeforeValidator(_boolean)]


def Quantity(minimum: str = "1Mi") -> Any:
    """A Kubernetes quantity of bytes with its unit, such as 100Gi."""
    def parse(value: Any) -> str:
        value = text(value) or ""
        if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
            raise Invalid(value, f"a Kubernetes quantity with a unit, such as {value}Gi ({value} alone means {value} bytes)")
        if not QUANTITY.match(value):
            raise Invalid(value, "a Kubernetes quantity such as 100Gi")
        if quantity_bytes(value) < quantity_bytes(minimum):
            raise Invalid(value, f"at least {minimum}")
        return value
    return Annotated[str, BeforeValidator(parse)]


def _strings(value: Any) -> tuple[str, ...]:
    items = json_value(value, "a list of non-empty strings")
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) and item for item in items):
        raise Invalid(items, "a list of non-empty strings")
    return tuple(items)


Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]


class SecretText(str):
    """A secret setting's value as the loader found it: whether the stack file (or the engine) keeps it secret, and
    the command that would."""

    secure: bool
    command: str


def _secret(value: Any) -> Optional[pulumi.Output]:
    if not value or isinstance(value, pulumi.Output):
        return value or None
    if not getattr(value, "secure", False):
        raise Invalid(PLAINTEXT, f"a secret: {value.command}")
    return pulumi.Output.secret(str(value))


# A secret setting: a secret Output, None when unset; a plaintext value in the stack file is refused.
Secret = Annotated[Optional[pulumi.Output], BeforeValidator(_secret)]
