"""OpenCost (and Kubecost, whose allocation schema is the same): usage and cost per workload.

Three shapes: the daily CSV export (one row per container per day), the `/allocation` API
response, and the `/cloudCost` API response. The first two hold both usage and cost, so they
are registered as a utilisation format and a cost format; both read them through
`allocations()`, one frame of allocations, so the two views cannot disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommenders.errors import InputError
from recommenders.model import GIB
from recommenders.sources.checks import check_usage
from recommenders.sources.cost import normalise as n
from recommenders.sources.frames import (
    COST_COLUMNS,
    USAGE_COLUMNS,
    Cost,
    Usage,
    controller_kind,
)
from recommenders.sources.validate import numbers, read_json, read_table, timestamps

CSV_COLUMNS = (
    "Date", "Namespace", "ControllerKind", "ControllerName", "Pod", "Container",
    "CPUCoreUsageAverage", "CPUCoreRequestAverage", "RAMBytesUsageAverage",
    "RAMBytesRequestAverage", "CPUCost", "RAMCost", "TotalCost",
)  # fmt: skip
CSV_OPTIONAL_COSTS = {"GPUCost": "GPU", "PVCost": "storage", "NetworkCost": "network"}
JSON_COSTS = {
    "gpuCost": "GPU",
    "pvCost": "storage",
    "networkCost": "network",
    "loadBalancerCost": "load balancers",
    "sharedCost": "shared",
    "externalCost": "external",
}
CURRENCY = "USD"
"""OpenCost's exports carry no currency; USD is its default (`CURRENCY_CODE`)."""


def allocations(path: Path) -> tuple[pd.DataFrame, int]:
    """Every allocation in a CSV export or `/allocation` response, and the rows it held.

    Columns: start, end, hours, cluster, namespace, kind, controller, pod, container, the four
    usage/request averages (cores, bytes), cpu_core_hours, ram_byte_hours, cpu_cost, ram_cost,
    total_cost, one column per other cost in JSON_COSTS' labels, and labels (dict).
    """
    if path.suffix == ".json":
        return _from_json(path)
    return _from_csv(path)


class _Allocations:
    """One of the allocation shapes, recognised by keys no other export has."""

    description = "OpenCost/Kubecost allocations (CSV export or /allocation JSON)"

    def __init__(self, name: str, detect_keys: frozenset[str]) -> None:
        self.name, self._keys = name, detect_keys

    def detect(self, columns: frozenset[str]) -> bool:
        return self._keys <= columns


class UsageFormat(_Allocations):
    """Per-pod usage from allocations aggregated by pod or container."""

    def load(self, path: Path) -> Usage:
        frame, rows = allocations(path)
        warnings = []
        unowned = frame["controller"] == ""
        if unowned.any():
            names = sorted(set(frame.loc[unowned, "namespace"] + "/" + frame.loc[unowned, "pod"]))
            warnings.append(
                f"{len(names)} allocations have no controller and match no workload: "
                + ", ".join(name.strip("/") or "(unnamed)" for name in names[:10])
            )
        per_pod = frame[~unowned & (frame["pod"] != "")]
        if (~unowned & (frame["pod"] == "")).any():
            warnings.append(
                "allocations aggregated above pods (by controller or namespace) give totals, "
                "not per-pod usage, and were not read: export with aggregate=pod or container"
            )
        usage = _usage(per_pod)
        checked = check_usage(usage, str(path))
        if len(per_pod) and (per_pod["hours"] > 1).all():
            warnings.append(
                "usage is averaged over each allocation window "
                f"({per_pod['hours'].median():g} h): peaks within it are invisible"
            )
        return Usage(
            usage, str(path), self.name, rows, warnings + checked.warnings, order=checked.order
        )


class CostFormat(_Allocations):
    """CPU and memory cost with the core- and GiB-hours they bought, plus the other costs."""

    def load(self, path: Path) -> Cost:
        frame, rows = allocations(path)
        tags = [_tags(row) for row in frame.itertuples()]
        resource = (
            frame["cluster"] + "/" + frame["namespace"] + "/" + frame["kind"] + "/"
        ) + frame["controller"].where(frame["pod"] == "", frame["pod"])

        def charge(service: str, cost: pd.Series, *quantity: Any) -> pd.DataFrame:
            return n.allocation_rows(
                frame["start"], frame["end"], tags, resource, service, cost, CURRENCY, *quantity
            )

        parts = [
            charge("Kubernetes CPU", frame["cpu_cost"], frame["cpu_core_hours"], n.CPU_HOURS),
            charge(
                "Kubernetes memory", frame["ram_cost"], frame["ram_byte_hours"] / GIB, n.GIB_HOURS
            ),
        ]
        listed = frame["cpu_cost"] + frame["ram_cost"]
        for column in sorted(set(JSON_COSTS.values()) & set(frame.columns)):
            parts.append(charge(f"Kubernetes {column}", frame[column]))
            listed = listed + frame[column]
        rest = frame["total_cost"] - listed
        rest = rest.where(rest.abs() > 1e-9, 0.0)  # float noise, not a cost
        parts.append(charge("Kubernetes adjustments", rest))
        focus = pd.concat(parts, ignore_index=True)
        focus = focus[(focus["BilledCost"] != 0) | focus["ConsumedQuantity"].notna()]
        warnings = [f"no currency in OpenCost exports: taken as {CURRENCY}, OpenCost's default"]
        return Cost(focus.reset_index(drop=True), path, self.name, rows, warnings)


class CloudCostFormat:
    """The `/cloudCost` response: the cloud bill as OpenCost ingested it, per service."""

    name = "opencost-cloudcost"
    description = "OpenCost /cloudCost JSON (cloud bill per item)"

    def detect(self, columns: frozenset[str]) -> bool:
        return {"cloudCosts", "invoicedCost", "amortizedNetCost"} <= columns

    def load(self, path: Path) -> Cost:
        document = read_json(path)
        records = []
        for set_index, item in enumerate(_list(document.get("data", {}).get("sets"), path)):
            for key, cost in (item.get("cloudCosts") or {}).items():
                properties = cost.get("properties") or {}
                window = cost.get("window") or item.get("window") or {}
                records.append(
                    {
                        "ChargePeriodStart": window.get("start"),
                        "ChargePeriodEnd": window.get("end"),
                        "BilledCost": _cost(cost, "invoicedCost", path, set_index, key),
                        "EffectiveCost": _cost(cost, "amortizedNetCost", path, set_index, key),
                        "BillingCurrency": CURRENCY,
                        "ServiceName": properties.get("service", ""),
                        "ResourceId": properties.get("providerID", "") or key,
                        "ConsumedQuantity": np.nan,
                        "ConsumedUnit": "",
                        "Tags": {
                            str(k): str(v) for k, v in (properties.get("labels") or {}).items()
                        },
                    }
                )
        frame = pd.DataFrame.from_records(records, columns=list(COST_COLUMNS))
        for column in ("ChargePeriodStart", "ChargePeriodEnd"):
            frame[column] = timestamps(frame, column, path)
        return Cost(frame, path, self.name, len(frame), [])


def _from_csv(path: Path) -> tuple[pd.DataFrame, int]:
    raw = read_table(path, CSV_COLUMNS)
    start = timestamps(raw, "Date", path, formats=("%Y-%m-%d", "ISO8601"))
    frame = pd.DataFrame(
        {
            "start": start,
            "end": start + pd.Timedelta(days=1),
            "hours": 24.0,
            "cluster": raw["Cluster"] if "Cluster" in raw.columns else "",
            "namespace": raw["Namespace"],
            "kind": raw["ControllerKind"].map(controller_kind),
            "controller": raw["ControllerName"],
            "pod": raw["Pod"],
            "container": raw["Container"],
        }
    )
    averages = {
        "cpu_usage": "CPUCoreUsageAverage",
        "cpu_request": "CPUCoreRequestAverage",
        "ram_usage": "RAMBytesUsageAverage",
        "ram_request": "RAMBytesRequestAverage",
    }
    for target, column in averages.items():
        frame[target] = numbers(raw, column, path)
    # OpenCost bills the larger of request and usage, for the hours the pod ran (a day here).
    frame["cpu_core_hours"] = frame[["cpu_usage", "cpu_request"]].max(axis=1) * 24
    frame["ram_byte_hours"] = frame[["ram_usage", "ram_request"]].max(axis=1) * 24
    frame["cpu_cost"] = numbers(raw, "CPUCost", path, negative=True)
    frame["ram_cost"] = numbers(raw, "RAMCost", path, negative=True)
    for column, label in CSV_OPTIONAL_COSTS.items():
        if column in raw.columns:
            frame[label] = numbers(raw, column, path, negative=True, empty=True).fillna(0.0)
    frame["total_cost"] = numbers(raw, "TotalCost", path, negative=True)
    labels = "Labels" if "Labels" in raw.columns else None
    frame["labels"] = n.tags_from_cells(raw, labels, path).tolist()
    return frame, len(raw)


def _from_json(path: Path) -> tuple[pd.DataFrame, int]:
    document = read_json(path)
    if not isinstance(document, dict) or "data" not in document:
        raise InputError(str(path), "not an OpenCost /allocation response (no 'data' field)")
    records = []
    for step, allocation_set in enumerate(_list(document["data"], path)):
        if not isinstance(allocation_set, dict):
            raise InputError(str(path), f"data[{step}] is not an object of allocations")
        for name, allocation in allocation_set.items():
            if allocation is not None:
                records.append(_json_record(allocation, path, f"data[{step}].{name}"))
    columns = [*_JSON_NUMBERS, *JSON_COSTS.values()]
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        raise InputError(str(path), "holds no allocations")
    for column in ("start", "end"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    frame["hours"] = (frame["end"] - frame["start"]).dt.total_seconds() / 3600
    frame[columns] = frame[columns].astype(float)
    return frame, len(records)


_JSON_NUMBERS = {
    "cpu_usage": "cpuCoreUsageAverage",
    "cpu_request": "cpuCoreRequestAverage",
    "ram_usage": "ramByteUsageAverage",
    "ram_request": "ramByteRequestAverage",
    "cpu_core_hours": "cpuCoreHours",
    "ram_byte_hours": "ramByteHours",
    "cpu_cost": "cpuCost",
    "ram_cost": "ramCost",
    "total_cost": "totalCost",
}


def _json_record(allocation: dict[str, Any], path: Path, at: str) -> dict[str, Any]:
    properties = allocation.get("properties") or {}
    window = allocation.get("window") or {}
    record: dict[str, Any] = {
        "start": allocation.get("start") or window.get("start"),
        "end": allocation.get("end") or window.get("end"),
        "cluster": properties.get("cluster", ""),
        "namespace": properties.get("namespace", ""),
        "kind": controller_kind(properties.get("controllerKind", "")),
        "controller": properties.get("controller", ""),
        "pod": properties.get("pod", ""),
        "container": properties.get("container", ""),
        "labels": {str(k): str(v) for k, v in (properties.get("labels") or {}).items()},
    }
    for field_name, key in {**_JSON_NUMBERS, **{v: k for k, v in JSON_COSTS.items()}}.items():
        value = allocation.get(key, 0.0)
        if not isinstance(value, int | float) or isinstance(value, bool) or np.isnan(value):
            raise InputError(str(path), f"{at}.{key}: {value!r} is not a number")
        record[field_name] = float(value)
    if not record["start"] or not record["end"]:
        raise InputError(str(path), f"{at}: no window start/end")
    return record


def _usage(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-pod means per container per window, and the pods counted as replicas."""
    keys = ["start", "cluster", "namespace", "kind", "controller"]
    metrics = {
        "cpu_usage": "cpu_cores",
        "ram_usage": "memory_bytes",
        "cpu_request": "cpu_request_cores",
        "ram_request": "memory_request_bytes",
    }
    means = frame.groupby([*keys, "container"], sort=False)[list(metrics)].mean().reset_index()
    long = means.melt(id_vars=[*keys, "container"], var_name="metric")
    long["metric"] = long["metric"].map(metrics)
    pods = frame.groupby(keys, sort=False)["pod"].nunique().reset_index(name="value")
    pods["container"], pods["metric"] = "", "replicas"
    tidy = pd.concat([long, pods], ignore_index=True).rename(
        columns={"start": "timestamp", "cluster": "environment", "controller": "workload"}
    )
    return tidy[list(USAGE_COLUMNS)]


def _tags(row: Any) -> dict[str, str]:
    """Labels first, then the allocation's own properties, which a label must not hide."""
    owner = {
        "cluster": row.cluster,
        "namespace": row.namespace,
        "controllerKind": row.kind,
        "controller": row.controller,
        "pod": row.pod,
        "container": row.container,
    }
    return {**row.labels, **{key: value for key, value in owner.items() if value}}


def _list(value: Any, path: Path) -> list[Any]:
    if not isinstance(value, list):
        raise InputError(str(path), "'data' is not a list of allocation sets")
    return value


def _cost(cost: dict[str, Any], key: str, path: Path, index: int, name: str) -> float:
    value = (cost.get(key) or {}).get("cost")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InputError(str(path), f"data.sets[{index}].cloudCosts.{name}.{key}.cost is missing")
    return float(value)


ALLOCATION_JSON_KEYS = frozenset({"cpuCoreHours", "ramByteHours", "totalCost", "properties"})
CSV_KEYS = frozenset({"ControllerName", "CPUCoreUsageAverage", "CPUCost", "TotalCost"})
USAGE_FORMATS = (
    UsageFormat("opencost", CSV_KEYS),
    UsageFormat("opencost-allocation", ALLOCATION_JSON_KEYS),
)
COST_FORMATS = (
    CostFormat("opencost", CSV_KEYS),
    CostFormat("opencost-allocation", ALLOCATION_JSON_KEYS),
    CloudCostFormat(),
)
