"""Contactless configuration validation: every refusal names the key and the reason."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from emv.contactless.config import ConfigError, default_config, parse_config


def raw() -> dict[str, Any]:
    text = resources.files("emv.contactless.data").joinpath("default_config.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def test_default_config_loads() -> None:
    cfg = default_config()
    assert [(c.aid.hex().upper(), c.kernel_id) for c in cfg.combinations] == [
        ("A0000000031010", 3),
        ("A0000000041010", 2),
    ]
    k2 = cfg.combinations[1].kernel2
    assert k2 is not None and k2.cvm_required_limit == 5000
    assert cfg.combinations[0].ttq == bytes.fromhex("36004000")


def _set(path: list[Any], value: Any, delete: bool = False) -> dict[str, Any]:
    data = raw()
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["combinations", 0, "contactless_limit"], 100, "combinations[0].contactless_limit is not a known key"),
        (["combinations", 0, "ttq"], "3600400", "combinations[0].ttq is not valid hex"),
        (["combinations", 0, "ttq"], "360040", "combinations[0].ttq must be 4 bytes"),
        (["combinations", 0, "aid"], "A000", "combinations[0].aid must be 5 to 16 bytes"),
        (["combinations", 0, "floor_limit"], -1, "combinations[0].floor_limit must be between"),
        (["combinations", 0, "floor_limit"], "20.00", "combinations[0].floor_limit must be a whole"),
        (["combinations", 0, "cvm_required_limit"], 200000, "cvm_required_limit (200000) is above contactless_transaction_limit"),
        (["combinations", 0, "status_check"], "yes", "combinations[0].status_check must be true or false"),
        (["combinations", 0, "kernel_id"], 0, "combinations[0].kernel_id must be a whole number"),
        (["combinations", 1, "kernel2", "tac_online"], "F45084", "kernel2.tac_online must be 5 bytes"),
        (["combinations", 1, "kernel2", "on_device_cvm_limit"], 50000, "no_on_device_cvm_limit is above on_device_cvm_limit"),
        (["combinations", 1, "kernel2", "cvm_required_limit"], 600000, "cvm_required_limit is above on_device_cvm_limit"),
        (["terminal", "country_code"], "840", "terminal.country_code is not valid hex"),
        (["terminal", "terminal_type"], 99, "terminal.terminal_type must be a whole number"),
        (["terminal", "currency"], "0840", "terminal.currency is not a known key"),
        (["combinations"], [], "combinations must be a non-empty list"),
    ],
)  # fmt: skip
def test_bad_values_name_the_key(path: list[Any], value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_set(path, value))
    assert message in str(err.value)
    assert str(err.value).startswith("contactless.")


def test_missing_keys_are_named() -> None:
    with pytest.raises(ConfigError, match=r"combinations\[1\]\.kernel2 is missing"):
        parse_config(_set(["combinations", 1, "kernel2"], None, delete=True))
    with pytest.raises(ConfigError, match=r"kernel2\.floor_limit is missing"):
        parse_config(_set(["combinations", 1, "kernel2", "floor_limit"], None, delete=True))
    with pytest.raises(ConfigError, match=r"terminal\.terminal_type is missing"):
        parse_config(_set(["terminal", "terminal_type"], None, delete=True))


def test_kernel2_block_only_for_kernel_2_and_no_duplicates() -> None:
    data = raw()
    data["combinations"][0]["kernel2"] = data["combinations"][1]["kernel2"]
    with pytest.raises(ConfigError, match="only allowed when kernel_id is 2"):
        parse_config(data)
    data = raw()
    data["combinations"].append(dict(data["combinations"][0]))
    with pytest.raises(ConfigError, match=r"combinations\[2\] repeats AID A0000000031010"):
        parse_config(data)
