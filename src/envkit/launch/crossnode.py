"""Before a multi-node run starts: every node's doctor report and dataset compared with the others.

Pure: the nodes' `envkit doctor --json` texts and dataset digests in, the problems out, each naming
the node and the field. The tuple is fleet's (torch, torchvision, torchcodec, lerobot, the
accelerator's own keys, the profile, envkit); a node off the majority is named with both values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envkit.errors import EnvkitError
from envkit.fleet import HostReport, aggregate, parse_report

# Run by each node's environment Python with the dataset root as argv[1]: file names and sizes of
# the whole tree, and the bytes of its meta/ files (info.json, stats, episodes), hashed. Videos and
# parquet files are compared by size, not read: seconds for a dataset of many GB.
DATASET_DIGEST_CODE = """
import hashlib, os, sys
root = sys.argv[1]
if not os.path.isfile(os.path.join(root, "meta", "info.json")):
    print("missing"); sys.exit(0)
h = hashlib.sha256()
for d, dirs, files in os.walk(root):
    dirs.sort()
    for f in sorted(files):
        p = os.path.join(d, f)
        rel = os.path.relpath(p, root)
        h.update(f"{rel}\\0{os.path.getsize(p)}\\0".encode())
        if rel.split(os.sep)[0] == "meta":
            with open(p, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
print(h.hexdigest())
"""


@dataclass
class CrossNode:
    problems: list[str] = field(default_factory=list)
    agreed: dict[str, str | None] = field(default_factory=dict)

    dataset: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        same = ", ".join(f"{k} {v}" for k, v in self.agreed.items() if v and k in ("profile", "torch", "lerobot"))
        return same + (f"; dataset {self.dataset} identical" if self.dataset else "")


def judge(reports: dict[str, str], unreachable: dict[str, str], digests: dict[str, str], dataset: str | None) -> CrossNode:
    """reports: node -> its doctor JSON; unreachable: node -> why no report came; digests: node -> dataset digest."""
    out = CrossNode(dataset=dataset)
    for node, why in unreachable.items():
        out.problems.append(f"{node}: no doctor report ({why})")
    hosts: list[HostReport] = []
    for node, text in reports.items():
        try:
            hosts.append(parse_report(node, text, f"{node}'s envkit doctor --json"))
        except EnvkitError as exc:
            out.problems.append(f"{node}: {exc.message}")
    if hosts:
        fleet = aggregate(hosts)
        out.agreed = dict(fleet.majority)
        for h in fleet.hosts:
            for c in h.checks:
                if c.status in ("fail", "error"):
                    out.problems.append(f"{h.host}: {c.id} {c.status}: {c.summary}" + (f" (fix: {c.fix})" if c.fix else ""))
        for node, strays in sorted(fleet.strays.items()):
            for key, value in strays.items():
                if key in fleet.split:
                    others = sorted({f"{h.host}={h.tuple.get(key)}" for h in fleet.hosts if h.host != node})
                    out.problems.append(f"{node}: {key} {value} (no majority: {', '.join(others)})")
                else:
                    out.problems.append(f"{node}: {key} {value} where the other nodes have {fleet.majority.get(key)}")
    if dataset:
        seen = {n: d for n, d in digests.items()}
        for node, d in sorted(seen.items()):
            if d == "missing":
                out.problems.append(f"{node}: --dataset.root {dataset} holds no LeRobot dataset (no meta/info.json) there")
        present = {n: d for n, d in seen.items() if d != "missing"}
        if len(set(present.values())) > 1:
            first = sorted(present)[0]
            for node, d in sorted(present.items()):
                if d != present[first]:
                    out.problems.append(f"{node}: --dataset.root {dataset} differs from {first}'s (files, sizes or meta/ contents)")
    return out
